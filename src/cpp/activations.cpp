#include "activations.hpp"

#include <cmath>

#include "simd.hpp"
#include "vecmath.hpp"

namespace fastgd {

namespace {

// σ(z) without overflow: e = exp(−|z|) ≤ 1, σ = 1/(1+e) for z ≥ 0 and e/(1+e) otherwise.
template <typename T>
FASTGD_INLINE T sigmoid1(T z) {
  const T e = vm::exp(-std::fabs(z));
  const T s = T(1) / (T(1) + e);
  return z >= T(0) ? s : e * s;
}

// One instantiation per dtype of each loop, so that each can carry target clones.
#define FASTGD_EACH_DTYPE(MACRO) MACRO(float) MACRO(double)

#define DEFINE(T)                                                                   \
  FASTGD_CLONES void relu_(const T* Z, T* A, int64_t n) {                           \
    for (int64_t i = 0; i < n; ++i) A[i] = Z[i] < T(0) ? T(0) : Z[i]; /* NaN kept */ \
  }                                                                                 \
  FASTGD_CLONES void relu_backward_(const T* Z, const T* dA, T* dZ, int64_t n) {     \
    for (int64_t i = 0; i < n; ++i) { /* unconditional load: lets GCC use a blend */  \
      const T d = dA[i];                                                            \
      dZ[i] = Z[i] > T(0) ? d : T(0);                                               \
    }                                                                               \
  }                                                                                 \
  FASTGD_CLONES void leaky_relu_(const T* Z, T* A, int64_t n, T slope) {            \
    for (int64_t i = 0; i < n; ++i) A[i] = Z[i] > T(0) ? Z[i] : slope * Z[i];       \
  }                                                                                 \
  FASTGD_CLONES void leaky_relu_backward_(const T* Z, const T* dA, T* dZ, int64_t n, \
                                          T slope) {                                \
    for (int64_t i = 0; i < n; ++i) {                                             \
      const T d = dA[i];                                                            \
      dZ[i] = Z[i] > T(0) ? d : slope * d;                                          \
    }                                                                               \
  }                                                                                 \
  FASTGD_CLONES void sigmoid_(const T* Z, T* A, int64_t n) {                        \
    for (int64_t i = 0; i < n; ++i) A[i] = sigmoid1(Z[i]);                          \
  }                                                                                 \
  FASTGD_CLONES void sigmoid_backward_(const T* A, const T* dA, T* dZ, int64_t n) { \
    for (int64_t i = 0; i < n; ++i) dZ[i] = dA[i] * A[i] * (T(1) - A[i]);           \
  }                                                                                 \
  FASTGD_CLONES void tanh_(const T* Z, T* A, int64_t n) {                           \
    for (int64_t i = 0; i < n; ++i) A[i] = vm::tanh(Z[i]);                          \
  }                                                                                 \
  FASTGD_CLONES void tanh_backward_(const T* A, const T* dA, T* dZ, int64_t n) {    \
    for (int64_t i = 0; i < n; ++i) dZ[i] = dA[i] * (T(1) - A[i] * A[i]);           \
  }
FASTGD_EACH_DTYPE(DEFINE)
#undef DEFINE

}  // namespace

#define INSTANTIATE(T)                                                                         \
  template <> void relu<T>(const T* Z, T* A, int64_t n) { relu_(Z, A, n); }                     \
  template <> void relu_backward<T>(const T* Z, const T* dA, T* dZ, int64_t n) {               \
    relu_backward_(Z, dA, dZ, n);                                                              \
  }                                                                                            \
  template <> void leaky_relu<T>(const T* Z, T* A, int64_t n, T s) { leaky_relu_(Z, A, n, s); } \
  template <> void leaky_relu_backward<T>(const T* Z, const T* dA, T* dZ, int64_t n, T s) {    \
    leaky_relu_backward_(Z, dA, dZ, n, s);                                                     \
  }                                                                                            \
  template <> void sigmoid<T>(const T* Z, T* A, int64_t n) { sigmoid_(Z, A, n); }               \
  template <> void sigmoid_backward<T>(const T* A, const T* dA, T* dZ, int64_t n) {            \
    sigmoid_backward_(A, dA, dZ, n);                                                           \
  }                                                                                            \
  template <> void tanh<T>(const T* Z, T* A, int64_t n) { tanh_(Z, A, n); }                     \
  template <> void tanh_backward<T>(const T* A, const T* dA, T* dZ, int64_t n) {               \
    tanh_backward_(A, dA, dZ, n);                                                              \
  }
FASTGD_EACH_DTYPE(INSTANTIATE)
#undef INSTANTIATE

}  // namespace fastgd
