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

// ---- Weighted forms. Every loss below has rows: n samples of k outputs (the logits' or pred's
// first axis, k = N / n), and sw, nullptr or the samples' weights sᵢ ≥ 0 (n). With weights the
// loss is Σ sᵢ ℓᵢ / Σ sᵢ, ℓᵢ the mean over the sample's k outputs (for CE: its row's loss), and
// the gradient is that of this mean; a sample with sᵢ = 0 is left out (its gradient row is 0),
// and Σ sᵢ = 0 gives loss 0 and a zero gradient. sw == nullptr is the plain mean, computed
// exactly as by the unweighted overloads above (bit-identical). n == 0 gives NaN.

// Softmax CE with integer labels, class weights cw (c, or nullptr) and label smoothing ε
// (torch's semantics): ℓᵢ = (1 − ε)·cw[yᵢ]·(lse − z_y) + ε/c·Σⱼ cw[j]·(lse − zⱼ), loss =
// Σ sᵢ ℓᵢ / Σ sᵢ·cw[yᵢ] (the weighted mean of torch's nll_loss).
template <typename T>
double softmax_cross_entropy(const T* logits, const int64_t* labels, T* dlogits, int64_t n, int64_t c,
                             const T* cw, T smoothing, const T* sw);

// Softmax CE against probabilities t (n × c) with class weights and smoothing (torch's
// probability-target form): t' = (1 − ε)·t + ε/c, ℓᵢ = −Σⱼ cw[j]·t'ᵢⱼ·log pᵢⱼ, loss =
// Σ sᵢ ℓᵢ / Σ sᵢ (torch divides by n, not by the class weights).
template <typename T>
double softmax_cross_entropy_probs(const T* logits, const T* t, T* dlogits, int64_t n, int64_t c,
                                   const T* cw, T smoothing, const T* sw);

// BCE on logits with pos_weight pw (k, or nullptr; broadcast over the rows): per element
// (1 − t)·z + (1 + (pw − 1)·t)·softplus(−z), gradient (1 + (pw − 1)·t)·σ(z) − pw·t.
template <typename T>
double bce_with_logits(const T* logits, const T* t, T* dlogits, int64_t n, int64_t k, const T* pw,
                       const T* sw);

// (p − t)² per element.
template <typename T> double mse(const T* pred, const T* t, T* dpred, int64_t n, int64_t k, const T* sw);

// |p − t| per element; gradient sign(p − t) (0 at 0 and, as torch's, for NaN).
template <typename T> double l1(const T* pred, const T* t, T* dpred, int64_t n, int64_t k, const T* sw);

// Huber: ½r² where |r| < δ, else δ(|r| − ½δ) (r = p − t, δ > 0); gradient clamp(r, −δ, δ).
template <typename T>
double huber(const T* pred, const T* t, T* dpred, int64_t n, int64_t k, T delta, const T* sw);

// Smooth L1: ½r²/β where |r| < β, else |r| − ½β (β ≥ 0; β = 0 is L1); gradient clamp(r/β, −1, 1).
template <typename T>
double smooth_l1(const T* pred, const T* t, T* dpred, int64_t n, int64_t k, T beta, const T* sw);

// Poisson NLL: eˣ − t·x (log_input) or x − t·log(x + eps); full adds Stirling's
// t·log t − t + ½·log(2πt) where t > 1 (no gradient). Gradient eˣ − t, or 1 − t/(x + eps).
template <typename T>
double poisson_nll(const T* pred, const T* t, T* dpred, int64_t n, int64_t k, bool log_input, bool full,
                   T eps, const T* sw);

// Linear-regression MSE gradient: r_i = x_i·w[1:] + w[0] − y_i;
// g[0] = 2/n Σ r_i, g[1:] = 2/n Σ r_i x_i. X is (n × d) row-major, one pass over it.
template <typename T>
void mse_gradient(const T* w, const T* X, const T* y, T* g, int64_t n, int64_t d);

// The fused linear-regression step of a net that is one Linear(d, 1) trained on MSE: one pass
// over X giving the mean loss and gw = 2/n Σ r x (d,), gb = 2/n Σ r (skipped when b is nullptr).
template <typename T>
double linreg_mse(const T* w, const T* b, const T* X, const T* y, T* gw, T* gb, int64_t n, int64_t d);

}  // namespace fastgd
