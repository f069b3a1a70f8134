// Elementwise activations and their backwards over n contiguous values. Backwards of relu and
// leaky_relu take the layer *input* Z; those of sigmoid and tanh take the *output* A.
#pragma once

#include <cstdint>

namespace fastgd {

template <typename T> void relu(const T* Z, T* A, int64_t n);
template <typename T> void relu_backward(const T* Z, const T* dA, T* dZ, int64_t n);
template <typename T> void leaky_relu(const T* Z, T* A, int64_t n, T slope);
template <typename T> void leaky_relu_backward(const T* Z, const T* dA, T* dZ, int64_t n, T slope);
template <typename T> void sigmoid(const T* Z, T* A, int64_t n);
template <typename T> void sigmoid_backward(const T* A, const T* dA, T* dZ, int64_t n);
template <typename T> void tanh(const T* Z, T* A, int64_t n);
template <typename T> void tanh_backward(const T* A, const T* dA, T* dZ, int64_t n);

// torch.nn.functional's formulas; backwards take the input Z.
// GELU: z·Φ(z) = z/2·(1 + erf(z/√2)), or with approximate_tanh z/2·(1 + tanh(√(2/π)(z + 0.044715 z³))).
template <typename T> void gelu(const T* Z, T* A, int64_t n, bool approximate_tanh);
template <typename T> void gelu_backward(const T* Z, const T* dA, T* dZ, int64_t n, bool approximate_tanh);
// SiLU: z·σ(z).
template <typename T> void silu(const T* Z, T* A, int64_t n);
template <typename T> void silu_backward(const T* Z, const T* dA, T* dZ, int64_t n);
// ELU: z for z > 0, α(eᶻ − 1) otherwise.
template <typename T> void elu(const T* Z, T* A, int64_t n, T alpha);
template <typename T> void elu_backward(const T* Z, const T* dA, T* dZ, int64_t n, T alpha);
// Softplus: log(1 + e^(βz))/β, or z where βz > threshold.
template <typename T> void softplus(const T* Z, T* A, int64_t n, T beta, T threshold);
template <typename T> void softplus_backward(const T* Z, const T* dA, T* dZ, int64_t n, T beta, T threshold);
// Softmax backward from the row-wise output P (n × c): dZ = P ⊙ (dA − Σ_j dA·P) per row.
template <typename T> void softmax_backward(const T* P, const T* dA, T* dZ, int64_t n, int64_t c);

}  // namespace fastgd
