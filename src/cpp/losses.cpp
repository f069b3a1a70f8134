#include "losses.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "blas.hpp"
#include "linreg_avx2.hpp"
#include "parallel.hpp"
#include "simd.hpp"
#include "vecmath.hpp"

namespace fastgd {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// p = exp(z − m) for one row; returns Σ p in double.
template <typename T>
FASTGD_INLINE double exp_shifted(const T* z, T m, T* p, int64_t c) {
  for (int64_t j = 0; j < c; ++j) p[j] = vm::exp(z[j] - m);
  return vm::lane_sum(c, [&](int64_t j) { return p[j]; });
}

template <typename T>
FASTGD_INLINE void softmax_t(const T* Z, T* P, int64_t n, int64_t c) {
  for (int64_t i = 0; i < n; ++i) {
    const T* z = Z + i * c;
    T* p = P + i * c;
    const T inv = T(1.0 / exp_shifted(z, vm::lane_max(z, c), p, c));
    for (int64_t j = 0; j < c; ++j) p[j] *= inv;
  }
}

// One pass per row: d holds exp(z − m), then becomes (p − onehot)/n in place.
template <typename T>
FASTGD_INLINE double sce_labels_t(const T* L, const int64_t* y, T* D, int64_t n, int64_t c) {
  double total = 0;
  const T inv_n = T(1.0 / double(n));
  for (int64_t i = 0; i < n; ++i) {
    const T* z = L + i * c;
    T* d = D + i * c;
    const T m = vm::lane_max(z, c);
    const double zy = double(z[y[i]] - m);  // read before d (which may alias z) is written
    const double s = exp_shifted(z, m, d, c);
    total += std::log(s) - zy;  // logsumexp − z_y
    const T scale = T(1.0 / s) * inv_n;
    for (int64_t j = 0; j < c; ++j) d[j] *= scale;
    d[y[i]] -= inv_n;
  }
  return total / double(n);
}

// −Σ t·log p = Σt·lse − Σ t·(z − m) per row (0·log 0 taken as 0); dz = (p·Σt − t)/n.
template <typename T>
FASTGD_INLINE double sce_probs_t(const T* L, const T* t, T* D, int64_t n, int64_t c) {
  double total = 0;
  const T inv_n = T(1.0 / double(n));
  for (int64_t i = 0; i < n; ++i) {
    const T* z = L + i * c;
    const T* ti = t + i * c;
    T* d = D + i * c;
    const T m = vm::lane_max(z, c);
    const double tsum = vm::lane_sum(c, [&](int64_t j) { return ti[j]; });
    const double tz = vm::lane_sum(c, [&](int64_t j) {
      const T tj = ti[j], zj = z[j] - m;
      return tj != T(0) ? tj * zj : T(0);
    });
    const double s = exp_shifted(z, m, d, c);
    total += tsum * std::log(s) - tz;
    const T scale = T(tsum / s) * inv_n;
    for (int64_t j = 0; j < c; ++j) d[j] = d[j] * scale - ti[j] * inv_n;
  }
  return total / double(n);
}

// Per element: max(z,0) − z·t + log1p(e^−|z|) and (σ(z) − t)/N, with one exp shared by both.
template <typename T>
FASTGD_INLINE double bce_t(const T* z, const T* t, T* d, int64_t N) {
  const T inv_n = T(1.0 / double(N));
  const double total = vm::lane_sum(N, [&](int64_t i) {
    const T zi = z[i], ti = t[i];
    const T e = vm::exp(-std::fabs(zi));
    const T s = T(1) / (T(1) + e);
    d[i] = ((zi >= T(0) ? s : e * s) - ti) * inv_n;
    return (zi > T(0) ? zi : T(0)) - zi * ti + vm::log1p_unit(e);
  });
  return total / double(N);
}

template <typename T>
FASTGD_INLINE double mse_t(const T* p, const T* t, T* d, int64_t N) {
  const T scale = T(2.0 / double(N));
  const double total = vm::lane_sum(N, [&](int64_t i) {
    const T r = p[i] - t[i];
    const double rd = double(p[i]) - double(t[i]);  // squared in double: no float32 overflow/underflow
    d[i] = r * scale;  // (after the reads: d may alias p or t)
    return rd * rd;
  });
  return total / double(N);
}

// One pass over rows [0, n) of X for the linear model x·w + w0: residuals r_i = x_i·w + w0 − y_i,
// adds Σr to a[0] and Σ r·x to a[1..d], returns Σr². Sums are kept in double (float32 stays
// accurate at 1e6 rows).
template <typename T>
FASTGD_INLINE double linreg_rows_t(const T* w, T w0, const T* X, const T* y, double* a, int64_t n,
                                   int64_t d) {
  double sq = 0;
  if (d == 1) {  // the seeds' one-feature regression: lane sums, fully vectorised
    const T w1 = w[0];
    a[0] += vm::lane_sum(n, [&](int64_t i) { return w0 + w1 * X[i] - y[i]; });
    a[1] += vm::lane_sum(n, [&](int64_t i) { return double(w0 + w1 * X[i] - y[i]) * double(X[i]); });
    sq = vm::lane_sum(n, [&](int64_t i) {
      const T r = w0 + w1 * X[i] - y[i];
      return r * r;
    });
  } else if (d >= 8) {
    // Per block of rows that stays in cache, r = X_b·w (GEMV) then g_b = X_bᵀ·r (GEMV),
    // so memory is still read once; block sums flushed into double.
    const int64_t kBlock = std::max<int64_t>(16, (256 * 1024 / int64_t(sizeof(T))) / d);
    std::vector<T> r(static_cast<size_t>(std::min(kBlock, n))), gb_(static_cast<size_t>(d));
    for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
      const int64_t m = std::min(kBlock, n - i0);
      const T* Xb = X + i0 * d;
      for (int64_t i = 0; i < m; ++i) r[i] = w0 - y[i0 + i];
      blas::gemv(false, int(m), int(d), T(1), Xb, int(d), w, T(1), r.data());
      blas::gemv(true, int(m), int(d), T(1), Xb, int(d), r.data(), T(0), gb_.data());
      a[0] += vm::lane_sum(m, [&](int64_t i) { return r[i]; });
      sq += vm::lane_sum(m, [&](int64_t i) { return r[i] * r[i]; });
      for (int64_t k = 0; k < d; ++k) a[k + 1] += double(gb_[k]);
    }
  } else {
    // Sums over blocks of 64 rows in T (vectorised over the features), flushed into double.
    constexpr int64_t kBlock = 64;
    std::vector<T> blk(static_cast<size_t>(d + 1));
    T* b = blk.data();
    for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
      const int64_t i1 = i0 + kBlock < n ? i0 + kBlock : n;
      for (int64_t k = 0; k <= d; ++k) b[k] = T(0);
      T sqb = 0;
      for (int64_t i = i0; i < i1; ++i) {
        const T* x = X + i * d;
        T r = w0 - y[i];
        for (int64_t k = 0; k < d; ++k) r += x[k] * w[k];  // r_i = x_i·w + w0 − y_i
        b[0] += r;
        sqb += r * r;
        for (int64_t k = 0; k < d; ++k) b[k + 1] += r * x[k];
      }
      for (int64_t k = 0; k <= d; ++k) a[k] += double(b[k]);
      sq += double(sqb);
    }
  }
  return sq;
}

// Entry points, each compiled for AVX2+FMA and the baseline.
#define FASTGD_ENTRIES(T)                                                                       \
  FASTGD_CLONES void softmax_(const T* Z, T* P, int64_t n, int64_t c) { softmax_t(Z, P, n, c); } \
  FASTGD_CLONES double sce_labels_(const T* L, const int64_t* y, T* D, int64_t n, int64_t c) {   \
    return sce_labels_t(L, y, D, n, c);                                                         \
  }                                                                                             \
  FASTGD_CLONES double sce_probs_(const T* L, const T* t, T* D, int64_t n, int64_t c) {          \
    return sce_probs_t(L, t, D, n, c);                                                          \
  }                                                                                             \
  FASTGD_CLONES double bce_(const T* z, const T* t, T* d, int64_t N) { return bce_t(z, t, d, N); } \
  FASTGD_CLONES double mse_(const T* p, const T* t, T* d, int64_t N) { return mse_t(p, t, d, N); } \
  FASTGD_CLONES double linreg_rows_(const T* w, T w0, const T* X, const T* y, double* a,         \
                                    int64_t n, int64_t d) {                                     \
    return linreg_rows_t(w, w0, X, y, a, n, d);                                                 \
  }
FASTGD_ENTRIES(float)
FASTGD_ENTRIES(double)
#undef FASTGD_ENTRIES

// Whether rows of d features take the AVX2 intrinsics kernel on this CPU.
template <typename T>
bool avx2_rows(int64_t d) {
#ifdef FASTGD_HAVE_AVX2_PATH
  return avx2::pays<avx2::Lanes<T>>(d);
#else
  (void)d;
  return false;
#endif
}

// Rows [0, n) of X, this d: the AVX2 intrinsics path where the CPU has it, else the generic one.
template <typename T>
double linreg_rows(const T* w, T w0, const T* X, const T* y, double* a, int64_t n, int64_t d) {
#ifdef FASTGD_HAVE_AVX2_PATH
  if (avx2_rows<T>(d)) return avx2::linreg_pass<avx2::Lanes<T>>(w, w0, X, y, a, n, d);
#endif
  return linreg_rows_(w, w0, X, y, a, n, d);
}

// The whole linear-regression pass: gw = 2/n Σ r·x, gb = 2/n Σ r (when gb is given), returns Σr².
// Memory-bound, so large X is split into row chunks over the pool's threads (each with its own
// double sums, added in chunk order: the result depends on the thread count, not on timing).
// The GEMV path (wide rows without the AVX2 kernel) stays on one thread: OpenBLAS threads it.
template <typename T>
double linreg_pass(const T* w, T w0, const T* X, const T* y, T* gw, T* gb, int64_t n, int64_t d) {
  constexpr int64_t kGrain = 1 << 17;  // elements of X per task
  const bool gemv_path = d >= 8 && !avx2_rows<T>(d);  // linreg_rows_t's BLAS branch
  const int tasks = gemv_path ? 1 : parallel_tasks(n * d, kGrain);
  // Per task: d + 1 sums and Σr², in a buffer this thread keeps (no allocation per step).
  thread_local std::vector<double> scratch;
  const size_t stride = size_t(d) + 2;
  scratch.assign(size_t(tasks) * stride, 0.0);
  double* acc = scratch.data();
  const int64_t chunk = (n + tasks - 1) / tasks;
  parallel_for(tasks, [&](int t) {
    const int64_t i0 = std::min(n, t * chunk), m = std::min(n, i0 + chunk) - i0;
    double* a = acc + size_t(t) * stride;
    a[d + 1] = linreg_rows(w, w0, X + i0 * d, y + i0, a, m, d);
  });
  for (int t = 1; t < tasks; ++t)
    for (size_t k = 0; k < stride; ++k) acc[k] += acc[size_t(t) * stride + k];
  const double scale = n ? 2.0 / double(n) : 0.0;
  if (gb) *gb = T(acc[0] * scale);
  for (int64_t k = 0; k < d; ++k) gw[k] = T(acc[size_t(k) + 1] * scale);
  return acc[d + 1];
}

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
    linreg_pass(w + 1, w[0], X, y, g + 1, g, n, d);                                        \
  }                                                                                         \
  template <>                                                                               \
  double linreg_mse<T>(const T* w, const T* b, const T* X, const T* y, T* gw, T* gb, int64_t n, \
                       int64_t d) {                                                         \
    return n ? linreg_pass(w, b ? *b : T(0), X, y, gw, gb, n, d) / double(n) : kNaN;       \
  }
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace fastgd
