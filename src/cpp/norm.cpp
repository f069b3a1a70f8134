#include "norm.hpp"

#include <cmath>
#include <vector>

#include "simd.hpp"
#include "vecmath.hpp"

namespace fastgd {

namespace {

// Scratch of k doubles that this thread keeps (no allocation per training step once warm).
double* scratch(size_t k) {
  thread_local std::vector<double> buf;
  if (buf.size() < k) buf.resize(k);
  return buf.data();
}

template <typename T>
FASTGD_INLINE double invstd_of(T var, double eps) { return 1.0 / std::sqrt(double(var) + eps); }

#define DEFINE(T)                                                                                 \
  FASTGD_CLONES void bn_stats_(const T* X, int64_t n, int64_t c, T* mean, T* var) {             \
    double* s = scratch(size_t(2 * c));                                                           \
    double *m = s, *v = s + c;                                                                    \
    for (int64_t j = 0; j < c; ++j) m[j] = v[j] = 0;                                              \
    for (int64_t i = 0; i < n; ++i) /* column sums, vectorised over the features */             \
      for (int64_t j = 0; j < c; ++j) m[j] += double(X[i * c + j]);                               \
    for (int64_t j = 0; j < c; ++j) m[j] /= double(n);                                            \
    for (int64_t i = 0; i < n; ++i)                                                               \
      for (int64_t j = 0; j < c; ++j) {                                                           \
        const double d = double(X[i * c + j]) - m[j];                                             \
        v[j] += d * d;                                                                            \
      }                                                                                           \
    for (int64_t j = 0; j < c; ++j) {                                                             \
      mean[j] = T(m[j]);                                                                          \
      var[j] = T(v[j] / double(n));                                                               \
    }                                                                                             \
  }                                                                                               \
  FASTGD_CLONES void bn_apply_(const T* X, const T* mean, const T* var, const T* w, const T* b,  \
                               T* Y, int64_t n, int64_t c, double eps) {                          \
    /* per column: scale = invstd·w (double, rounded once); Y = (x − mean)·scale + b */           \
    double* s = scratch(size_t(c));                                                               \
    for (int64_t j = 0; j < c; ++j) s[j] = invstd_of(var[j], eps) * (w ? double(w[j]) : 1.0);      \
    for (int64_t i = 0; i < n; ++i) {                                                             \
      const T* x = X + i * c;                                                                     \
      T* y = Y + i * c;                                                                           \
      for (int64_t j = 0; j < c; ++j)                                                             \
        y[j] = T((double(x[j]) - double(mean[j])) * s[j] + (b ? double(b[j]) : 0.0));             \
    }                                                                                             \
  }                                                                                               \
  FASTGD_CLONES void bn_backward_(const T* X, const T* mean, const T* var, const T* w, const T* dY, \
                                  T* dX, T* dw, T* db, int64_t n, int64_t c, double eps, bool batch) { \
    double* s = scratch(size_t(3 * c));                                                           \
    double *inv = s, *sg = s + c, *sgx = s + 2 * c; /* invstd, Σ dY, Σ dY·x̂ per column */         \
    for (int64_t j = 0; j < c; ++j) {                                                             \
      inv[j] = invstd_of(var[j], eps);                                                            \
      sg[j] = sgx[j] = 0;                                                                         \
    }                                                                                             \
    for (int64_t i = 0; i < n; ++i)                                                               \
      for (int64_t j = 0; j < c; ++j) {                                                           \
        const double g = double(dY[i * c + j]);                                                   \
        sg[j] += g;                                                                               \
        sgx[j] += g * ((double(X[i * c + j]) - double(mean[j])) * inv[j]);                        \
      }                                                                                           \
    if (dX) {                                                                                     \
      const double inv_n = 1.0 / double(n);                                                       \
      for (int64_t i = 0; i < n; ++i)                                                             \
        for (int64_t j = 0; j < c; ++j) {                                                         \
          const double k = (w ? double(w[j]) : 1.0) * inv[j];                                     \
          const double g = double(dY[i * c + j]);                                                 \
          const double xh = (double(X[i * c + j]) - double(mean[j])) * inv[j];                    \
          dX[i * c + j] = T(batch ? k * (g - sg[j] * inv_n - xh * sgx[j] * inv_n) : k * g);       \
        }                                                                                         \
    }                                                                                             \
    for (int64_t j = 0; j < c; ++j) {                                                             \
      if (dw) dw[j] = T(sgx[j]);                                                                  \
      if (db) db[j] = T(sg[j]);                                                                   \
    }                                                                                             \
  }                                                                                               \
  FASTGD_CLONES void ln_forward_(const T* X, const T* w, const T* b, T* Y, T* mean, T* var,     \
                                 int64_t n, int64_t c, double eps) {                              \
    for (int64_t i = 0; i < n; ++i) {                                                             \
      const T* x = X + i * c;                                                                     \
      const double m = vm::lane_sum(c, [&](int64_t j) { return double(x[j]); }) / double(c);      \
      const double v = vm::lane_sum(c, [&](int64_t j) {                                           \
        const double d = double(x[j]) - m;                                                        \
        return d * d;                                                                             \
      }) / double(c);                                                                             \
      /* the rounded statistics are what backward gets: normalise with them too */                \
      const T mt = T(m), vt = T(v);                                                               \
      const double inv = invstd_of(vt, eps);                                                      \
      T* y = Y + i * c;                                                                           \
      for (int64_t j = 0; j < c; ++j)                                                             \
        y[j] = T((double(x[j]) - double(mt)) * inv * (w ? double(w[j]) : 1.0) + (b ? double(b[j]) : 0.0)); \
      mean[i] = mt;                                                                               \
      var[i] = vt;                                                                                \
    }                                                                                             \
  }                                                                                               \
  FASTGD_CLONES void ln_backward_(const T* X, const T* w, const T* mean, const T* var, const T* dY, \
                                  T* dX, T* dw, T* db, int64_t n, int64_t c, double eps) {        \
    double* s = scratch(size_t(2 * c));                                                           \
    double *sgx = s, *sg = s + c;                                                                 \
    for (int64_t j = 0; j < c; ++j) sgx[j] = sg[j] = 0;                                           \
    const double inv_c = 1.0 / double(c);                                                         \
    for (int64_t i = 0; i < n; ++i) {                                                             \
      const T *x = X + i * c, *g = dY + i * c;                                                    \
      const double m = double(mean[i]), inv = invstd_of(var[i], eps);                             \
      for (int64_t j = 0; j < c; ++j) {                                                           \
        const double gj = double(g[j]);                                                           \
        sg[j] += gj;                                                                              \
        sgx[j] += gj * ((double(x[j]) - m) * inv);                                                \
      }                                                                                           \
      if (!dX) continue;                                                                          \
      /* ĝ = dY·w; mean_j ĝ and mean_j ĝ·x̂ over the row */                                       \
      const double a = vm::lane_sum(c, [&](int64_t j) { return double(g[j]) * (w ? double(w[j]) : 1.0); }) * inv_c; \
      const double bx = vm::lane_sum(c, [&](int64_t j) {                                          \
        return double(g[j]) * (w ? double(w[j]) : 1.0) * ((double(x[j]) - m) * inv);              \
      }) * inv_c;                                                                                 \
      T* dx = dX + i * c;                                                                         \
      for (int64_t j = 0; j < c; ++j) {                                                           \
        const double gh = double(g[j]) * (w ? double(w[j]) : 1.0);                                \
        dx[j] = T(inv * (gh - a - ((double(x[j]) - m) * inv) * bx));                              \
      }                                                                                           \
    }                                                                                             \
    for (int64_t j = 0; j < c; ++j) {                                                             \
      if (dw) dw[j] = T(sgx[j]);                                                                  \
      if (db) db[j] = T(sg[j]);                                                                   \
    }                                                                                             \
  }
DEFINE(float)
DEFINE(double)
#undef DEFINE

}  // namespace

#define INSTANTIATE(T)                                                                             \
  template <> void batchnorm_stats<T>(const T* X, int64_t n, int64_t c, T* mean, T* var) {        \
    bn_stats_(X, n, c, mean, var);                                                                 \
  }                                                                                                \
  template <>                                                                                      \
  void batchnorm_apply<T>(const T* X, const T* mean, const T* var, const T* w, const T* b, T* Y,  \
                          int64_t n, int64_t c, double eps) {                                      \
    bn_apply_(X, mean, var, w, b, Y, n, c, eps);                                                   \
  }                                                                                                \
  template <>                                                                                      \
  void batchnorm_backward<T>(const T* X, const T* mean, const T* var, const T* w, const T* dY, T* dX, \
                             T* dw, T* db, int64_t n, int64_t c, double eps, bool batch) {        \
    bn_backward_(X, mean, var, w, dY, dX, dw, db, n, c, eps, batch);                               \
  }                                                                                                \
  template <>                                                                                      \
  void layernorm_forward<T>(const T* X, const T* w, const T* b, T* Y, T* mean, T* var, int64_t n, \
                            int64_t c, double eps) {                                               \
    if (c > 0) ln_forward_(X, w, b, Y, mean, var, n, c, eps);                                      \
  }                                                                                                \
  template <>                                                                                      \
  void layernorm_backward<T>(const T* X, const T* w, const T* mean, const T* var, const T* dY, T* dX, \
                             T* dw, T* db, int64_t n, int64_t c, double eps) {                    \
    ln_backward_(X, w, mean, var, dY, dX, dw, db, n, c, eps);                                      \
  }
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace fastgd
