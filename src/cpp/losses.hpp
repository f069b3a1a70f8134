// Losses, each a mean, returned in double with the gradient of that mean written to a buffer.
#pragma once

#include <cstdint>

namespace fastgd {

// Row-wise softmax of an (n × c) matrix, shifted by the row max.
template <typename T> void softmax(const T* Z, T* P, int64_t n, int64_t c);

// Mean softmax cross-entropy with integer labels (already checked to lie in [0, c)).
template <typename T>
double softmax_cross_entropy(const T* logits, const int64_t* labels, T* dlogits, int64_t n, int64_t c);

// Mean softmax cross-entropy against target probabilities t (n × c).
template <typename T>
double softmax_cross_entropy_probs(const T* logits, const T* t, T* dlogits, int64_t n, int64_t c);

// Mean of max(z,0) − z·t + log(1 + e^−|z|) over N elements; dlogits = (σ(z) − t)/N.
template <typename T>
double bce_with_logits(const T* logits, const T* t, T* dlogits, int64_t N);

// Mean of (p − t)² over N elements; dpred = 2(p − t)/N.
template <typename T> double mse(const T* pred, const T* t, T* dpred, int64_t N);

// Linear-regression MSE gradient: r_i = x_i·w[1:] + w[0] − y_i;
// g[0] = 2/n Σ r_i, g[1:] = 2/n Σ r_i x_i. X is (n × d) row-major, one pass over it.
template <typename T>
void mse_gradient(const T* w, const T* X, const T* y, T* g, int64_t n, int64_t d);

// The fused linear-regression step of a net that is one Linear(d, 1) trained on MSE: one pass
// over X giving the mean loss and gw = 2/n Σ r x (d,), gb = 2/n Σ r (skipped when b is nullptr).
template <typename T>
double linreg_mse(const T* w, const T* b, const T* X, const T* y, T* gw, T* gb, int64_t n, int64_t d);

}  // namespace fastgd
