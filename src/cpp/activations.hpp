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

}  // namespace fastgd
