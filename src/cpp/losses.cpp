#include "losses.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "simd.hpp"
#include "vecmath.hpp"

namespace fastgd {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename T>
FASTGD_INLINE T row_max(const T* z, int64_t c) {
  T m = z[0];
  for (int64_t j = 1; j < c; ++j) m = z[j] > m ? z[j] : m;
  return m;
}

// p = exp(z − m), returns Σ p in double (the row sum of a large row stays accurate in float32).
template <typename T>
FASTGD_INLINE double exp_shifted(const T* z, T m, T* p, int64_t c) {
  double s = 0;
  for (int64_t j = 0; j < c; ++j) {
    p[j] = vm::exp(z[j] - m);
    s += p[j];
  }
  return s;
}

#define FASTGD_EACH_DTYPE(MACRO) MACRO(float) MACRO(double)

#define DEFINE(T)                                                                          \
  FASTGD_CLONES void softmax_(const T* Z, T* P, int64_t n, int64_t c) {                    \
    for (int64_t i = 0; i < n; ++i) {                                                      \
      const T* z = Z + i * c;                                                              \
      T* p = P + i * c;                                                                    \
      const T inv = T(1.0 / exp_shifted(z, row_max(z, c), p, c));                          \
      for (int64_t j = 0; j < c; ++j) p[j] *= inv;                                         \
    }                                                                                      \
  }                                                                                        \
  /* One pass per row: dlogits holds exp(z − m) then becomes the gradient in place. */    \
  FASTGD_CLONES double sce_labels_(const T* L, const int64_t* y, T* D, int64_t n, int64_t c) { \
    double total = 0;                                                                      \
    const T inv_n = T(1.0 / double(n));                                                    \
    for (int64_t i = 0; i < n; ++i) {                                                      \
      const T* z = L + i * c;                                                              \
      T* d = D + i * c;                                                                    \
      const T m = row_max(z, c);                                                           \
      const double zy = double(z[y[i]] - m); /* read before d (may alias z) is written */  \
      const double s = exp_shifted(z, m, d, c);                                            \
      total += std::log(s) - zy; /* lse − z_y */                                           \
      const T scale = T(1.0 / s) * inv_n;                                                  \
      for (int64_t j = 0; j < c; ++j) d[j] *= scale;                                       \
      d[y[i]] -= inv_n;                                                                    \
    }                                                                                      \
    return total / double(n);                                                              \
  }                                                                                        \
  FASTGD_CLONES double sce_probs_(const T* L, const T* t, T* D, int64_t n, int64_t c) {    \
    double total = 0;                                                                      \
    const T inv_n = T(1.0 / double(n));                                                    \
    for (int64_t i = 0; i < n; ++i) {                                                      \
      const T* z = L + i * c;                                                              \
      const T* ti = t + i * c;                                                             \
      T* d = D + i * c;                                                                    \
      const T m = row_max(z, c);                                                           \
      /* −Σ t·log p = Σt·lse − Σ t·(z − m), 0·log 0 taken as 0; read z before d is written */ \
      double tsum = 0, tz = 0;                                                             \
      for (int64_t j = 0; j < c; ++j) {                                                    \
        tsum += ti[j];                                                                     \
        tz += ti[j] != T(0) ? double(ti[j]) * double(z[j] - m) : 0.0;                      \
      }                                                                                    \
      const double s = exp_shifted(z, m, d, c);                                            \
      total += tsum * std::log(s) - tz;                                                    \
      const T scale = T(tsum / s) * inv_n; /* dz = (p·Σt − t)/n */                         \
      for (int64_t j = 0; j < c; ++j) d[j] = d[j] * scale - ti[j] * inv_n;                 \
    }                                                                                      \
    return total / double(n);                                                              \
  }                                                                                        \
  FASTGD_CLONES double bce_(const T* z, const T* t, T* d, int64_t N) {                     \
    double total = 0;                                                                      \
    const T inv_n = T(1.0 / double(N));                                                    \
    for (int64_t i = 0; i < N; ++i) {                                                      \
      const T e = vm::exp(-std::fabs(z[i]));                                               \
      const T s = T(1) / (T(1) + e);                                                       \
      const T sig = z[i] >= T(0) ? s : e * s;                                              \
      total += double(z[i] > T(0) ? z[i] : T(0)) - double(z[i]) * double(t[i]) +          \
               std::log1p(double(e));                                                      \
      d[i] = (sig - t[i]) * inv_n;                                                         \
    }                                                                                      \
    return total / double(N);                                                              \
  }                                                                                        \
  FASTGD_CLONES double mse_(const T* p, const T* t, T* d, int64_t N) {                     \
    double total = 0;                                                                      \
    const T scale = T(2.0 / double(N));                                                    \
    for (int64_t i = 0; i < N; ++i) {                                                      \
      const T r = p[i] - t[i];                                                             \
      total += double(r) * double(r);                                                      \
      d[i] = r * scale;                                                                    \
    }                                                                                      \
    return total / double(N);                                                              \
  }                                                                                        \
  FASTGD_CLONES void mse_gradient_(const T* w, const T* X, const T* y, T* g, int64_t n,    \
                                   int64_t d) {                                            \
    /* Accumulate in double: a float32 sum over 1e6 residuals would lose digits. */        \
    std::vector<double> acc(static_cast<size_t>(d + 1), 0.0);                              \
    double* a = acc.data();                                                                \
    for (int64_t i = 0; i < n; ++i) {                                                      \
      const T* x = X + i * d;                                                              \
      T r = w[0] - y[i];                                                                   \
      for (int64_t k = 0; k < d; ++k) r += x[k] * w[k + 1];                                \
      a[0] += r;                                                                           \
      for (int64_t k = 0; k < d; ++k) a[k + 1] += double(r) * double(x[k]);                \
    }                                                                                      \
    const double scale = n ? 2.0 / double(n) : 0.0;                                        \
    for (int64_t k = 0; k <= d; ++k) g[k] = T(a[k] * scale);                               \
  }
FASTGD_EACH_DTYPE(DEFINE)
#undef DEFINE

}  // namespace

#define INSTANTIATE(T)                                                                      \
  template <> void softmax<T>(const T* Z, T* P, int64_t n, int64_t c) {                     \
    if (c > 0) softmax_(Z, P, n, c);                                                        \
  }                                                                                         \
  template <>                                                                               \
  double softmax_cross_entropy<T>(const T* L, const int64_t* y, T* D, int64_t n, int64_t c) { \
    return n ? sce_labels_(L, y, D, n, c) : kNaN;                                           \
  }                                                                                         \
  template <>                                                                               \
  double softmax_cross_entropy_probs<T>(const T* L, const T* t, T* D, int64_t n, int64_t c) { \
    if (n == 0) return kNaN;                                                                \
    if (c == 0) return 0.0;                                                                 \
    return sce_probs_(L, t, D, n, c);                                                       \
  }                                                                                         \
  template <> double bce_with_logits<T>(const T* z, const T* t, T* d, int64_t N) {           \
    return N ? bce_(z, t, d, N) : kNaN;                                                     \
  }                                                                                         \
  template <> double mse<T>(const T* p, const T* t, T* d, int64_t N) {                       \
    return N ? mse_(p, t, d, N) : kNaN;                                                     \
  }                                                                                         \
  template <> void mse_gradient<T>(const T* w, const T* X, const T* y, T* g, int64_t n, int64_t d) { \
    mse_gradient_(w, X, y, g, n, d);                                                        \
  }
FASTGD_EACH_DTYPE(INSTANTIATE)
#undef INSTANTIATE

}  // namespace fastgd
