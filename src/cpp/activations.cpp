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

// torch's GELU constants: Φ(z) = (1 + erf(z/√2))/2 = erfc(−z/√2)/2, φ(z) = e^(−z²/2)/√(2π); tanh form √(2/π), 0.044715.
constexpr double kSqrtHalf = 0.70710678118654752440, kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588, kKappa = 0.044715;

template <typename T>
FASTGD_INLINE T gelu1(T z, bool approx) {
  if (approx) {
    const T inner = T(kSqrt2OverPi) * (z + T(kKappa) * z * z * z);
    return T(0.5) * z * (T(1) + vm::tanh(inner));
  }
  return z * (T(0.5) * std::erfc(-z * T(kSqrtHalf)));  // Φ = erfc(−z/√2)/2: no cancellation for z ≪ 0
}

// d/dz: Φ + z·φ; tanh form (torch's): ½(1 + t) + ½z·(1 − t²)·√(2/π)(1 + 3κz²).
template <typename T>
FASTGD_INLINE T gelu_grad1(T z, bool approx) {
  if (approx) {
    const T z2 = z * z;
    const T t = vm::tanh(T(kSqrt2OverPi) * (z + T(kKappa) * z2 * z));
    const T inner_grad = T(kSqrt2OverPi) * (T(1) + T(3 * kKappa) * z2);
    return T(0.5) * (T(1) + t) + T(0.5) * z * (T(1) - t * t) * inner_grad;
  }
  const T cdf = T(0.5) * std::erfc(-z * T(kSqrtHalf));
  const T pdf = T(kInvSqrt2Pi) * vm::exp(z * z * T(-0.5));
  return cdf + z * pdf;
}

// softplus(t) = log(1 + eᵗ) as max(t, 0) + log(1 + e^−|t|): no overflow for any t.
template <typename T>
FASTGD_INLINE T softplus1(T t) {
  return (t > T(0) ? t : T(0)) + vm::log1p_unit(vm::exp(-std::fabs(t)));
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
  }                                                                                 \
  FASTGD_CLONES void gelu_(const T* Z, T* A, int64_t n, bool approx) {              \
    for (int64_t i = 0; i < n; ++i) A[i] = gelu1(Z[i], approx);                     \
  }                                                                                 \
  FASTGD_CLONES void gelu_backward_(const T* Z, const T* dA, T* dZ, int64_t n,       \
                                    bool approx) {                                  \
    for (int64_t i = 0; i < n; ++i) dZ[i] = dA[i] * gelu_grad1(Z[i], approx);        \
  }                                                                                 \
  FASTGD_CLONES void silu_(const T* Z, T* A, int64_t n) {                           \
    for (int64_t i = 0; i < n; ++i) A[i] = Z[i] * sigmoid1(Z[i]);                   \
  }                                                                                 \
  FASTGD_CLONES void silu_backward_(const T* Z, const T* dA, T* dZ, int64_t n) {    \
    for (int64_t i = 0; i < n; ++i) { /* σ(z)·(1 + z·(1 − σ(z))), torch's form */   \
      const T z = Z[i], s = sigmoid1(z);                                            \
      dZ[i] = dA[i] * s * (T(1) + z * (T(1) - s));                                  \
    }                                                                               \
  }                                                                                 \
  /* ELU and softplus test as torch does (z <= 0, βz > threshold): NaN takes torch's branch */ \
  FASTGD_CLONES void elu_(const T* Z, T* A, int64_t n, T alpha) {                   \
    for (int64_t i = 0; i < n; ++i) A[i] = Z[i] <= T(0) ? alpha * std::expm1(Z[i]) : Z[i]; \
  }                                                                                 \
  FASTGD_CLONES void elu_backward_(const T* Z, const T* dA, T* dZ, int64_t n, T alpha) { \
    for (int64_t i = 0; i < n; ++i) {                                               \
      const T d = dA[i];                                                            \
      dZ[i] = Z[i] <= T(0) ? d * alpha * vm::exp(Z[i]) : d;                         \
    }                                                                               \
  }                                                                                 \
  FASTGD_CLONES void softplus_(const T* Z, T* A, int64_t n, T beta, T threshold) {  \
    for (int64_t i = 0; i < n; ++i) {                                               \
      const T z = Z[i], t = z * beta;                                               \
      A[i] = t > threshold ? z : softplus1(t) / beta;                               \
    }                                                                               \
  }                                                                                 \
  FASTGD_CLONES void softplus_backward_(const T* Z, const T* dA, T* dZ, int64_t n,   \
                                        T beta, T threshold) {                      \
    for (int64_t i = 0; i < n; ++i) {                                               \
      const T t = Z[i] * beta, d = dA[i];                                           \
      dZ[i] = t > threshold ? d : d * sigmoid1(t);                                  \
    }                                                                               \
  }                                                                                 \
  FASTGD_CLONES void softmax_backward_(const T* P, const T* dA, T* dZ, int64_t n,    \
                                       int64_t c) {                                 \
    for (int64_t r = 0; r < n; ++r) {                                               \
      const T *p = P + r * c, *da = dA + r * c;                                     \
      /* s = Σ_j dA·P in double, read before dZ (which may alias either) is written */ \
      const T s = T(vm::lane_sum(c, [&](int64_t j) { return double(da[j]) * double(p[j]); })); \
      T* dz = dZ + r * c;                                                           \
      for (int64_t j = 0; j < c; ++j) dz[j] = p[j] * (da[j] - s);                   \
    }                                                                               \
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
  }                                                                                            \
  template <> void gelu<T>(const T* Z, T* A, int64_t n, bool ap) { gelu_(Z, A, n, ap); }         \
  template <> void gelu_backward<T>(const T* Z, const T* dA, T* dZ, int64_t n, bool ap) {      \
    gelu_backward_(Z, dA, dZ, n, ap);                                                          \
  }                                                                                            \
  template <> void silu<T>(const T* Z, T* A, int64_t n) { silu_(Z, A, n); }                     \
  template <> void silu_backward<T>(const T* Z, const T* dA, T* dZ, int64_t n) {               \
    silu_backward_(Z, dA, dZ, n);                                                              \
  }                                                                                            \
  template <> void elu<T>(const T* Z, T* A, int64_t n, T a) { elu_(Z, A, n, a); }               \
  template <> void elu_backward<T>(const T* Z, const T* dA, T* dZ, int64_t n, T a) {           \
    elu_backward_(Z, dA, dZ, n, a);                                                            \
  }                                                                                            \
  template <> void softplus<T>(const T* Z, T* A, int64_t n, T b, T t) { softplus_(Z, A, n, b, t); } \
  template <> void softplus_backward<T>(const T* Z, const T* dA, T* dZ, int64_t n, T b, T t) { \
    softplus_backward_(Z, dA, dZ, n, b, t);                                                    \
  }                                                                                            \
  template <> void softmax_backward<T>(const T* P, const T* dA, T* dZ, int64_t n, int64_t c) { \
    if (c > 0) softmax_backward_(P, dA, dZ, n, c);                                             \
  }
FASTGD_EACH_DTYPE(INSTANTIATE)
#undef INSTANTIATE

}  // namespace fastgd
