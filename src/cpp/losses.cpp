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

// ---- Weighted and new losses. f(i, j, g) is element i's loss term (returned, any type that
// converts to double) and writes its gradient dℓ/dp to g; j = i's column. f reads everything
// of element i before d[i] is written, so d may alias the inputs.

// The plain mean over N elements: d = g / N.
template <typename T, typename F>
FASTGD_INLINE double flat_mean_t(T* d, int64_t N, F f) {
  const T inv_n = T(1.0 / double(N));
  const double total = vm::lane_sum(N, [&](int64_t i) {
    T g;
    const double l = double(f(i, int64_t(0), g));
    d[i] = g * inv_n;
    return l;
  });
  return total / double(N);
}

// Σ sᵢ Σⱼ ℓᵢⱼ / (k·Σ sᵢ) over n rows of k (sᵢ = 1 when sw is null): d = sᵢ·g / (k·Σ s).
template <typename T, typename F>
FASTGD_INLINE double rows_mean_t(T* d, int64_t n, int64_t k, const T* sw, F f) {
  const double S = sw ? vm::lane_sum(n, [&](int64_t i) { return sw[i]; }) : double(n);
  if (S == 0) {  // every sample weighs 0: nothing to learn from
    std::fill(d, d + n * k, T(0));
    return 0.0;
  }
  const double inv = 1.0 / (S * double(k));
  double total = 0;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t off = r * k;
    T* dr = d + off;
    const double s = sw ? double(sw[r]) : 1.0;
    if (s == 0) {  // dropped, even when its loss is inf/NaN
      std::fill(dr, dr + k, T(0));
      continue;
    }
    const T scale = T(s * inv);
    total += s * vm::lane_sum(k, [&](int64_t j) {
      T g;
      const double l = double(f(off + j, j, g));
      dr[j] = g * scale;
      return l;
    });
  }
  return total * inv;
}

// The flat mean without weights, rows_mean_t with them.
template <typename T, typename F>
FASTGD_INLINE double mean_t(T* d, int64_t n, int64_t k, const T* sw, F f) {
  return sw ? rows_mean_t(d, n, k, sw, f) : flat_mean_t(d, n * k, f);
}

template <typename T>
FASTGD_INLINE double mse_w_t(const T* p, const T* t, T* d, int64_t n, int64_t k, const T* sw) {
  return rows_mean_t(d, n, k, sw, [&](int64_t i, int64_t, T& g) {
    const double rd = double(p[i]) - double(t[i]);
    g = T(2) * (p[i] - t[i]);
    return rd * rd;
  });
}

template <typename T>
FASTGD_INLINE double l1_t(const T* p, const T* t, T* d, int64_t n, int64_t k, const T* sw) {
  return mean_t(d, n, k, sw, [&](int64_t i, int64_t, T& g) {
    const T r = p[i] - t[i];
    const double a = std::fabs(double(p[i]) - double(t[i]));
    g = r > T(0) ? T(1) : (r < T(0) ? T(-1) : T(0));  // sign, 0 at 0 and (as torch) for NaN
    return a;
  });
}

template <typename T>
FASTGD_INLINE double huber_t(const T* p, const T* t, T* d, int64_t n, int64_t k, T delta, const T* sw) {
  const double dd = double(delta);
  return mean_t(d, n, k, sw, [&](int64_t i, int64_t, T& g) {
    const T r = p[i] - t[i];
    const double rd = double(p[i]) - double(t[i]), a = std::fabs(rd);
    g = r < -delta ? -delta : (r > delta ? delta : r);  // NaN: r
    return a < dd ? 0.5 * rd * rd : dd * (a - 0.5 * dd);
  });
}

template <typename T>
FASTGD_INLINE double smooth_l1_t(const T* p, const T* t, T* d, int64_t n, int64_t k, T beta, const T* sw) {
  const double bd = double(beta);
  const T inv_beta = T(1) / beta;
  return mean_t(d, n, k, sw, [&](int64_t i, int64_t, T& g) {
    const T r = p[i] - t[i];
    const double rd = double(p[i]) - double(t[i]), a = std::fabs(rd);
    g = r <= -beta ? T(-1) : (r >= beta ? T(1) : r * inv_beta);  // NaN: r·(1/β)
    return a < bd ? 0.5 * rd * rd / bd : a - 0.5 * bd;
  });
}

// t·log t − t + ½·log(2πt) for t > 1, else 0 (torch's Stirling term of log(t!)).
template <typename T>
FASTGD_INLINE double stirling(T t) {
  constexpr double two_pi = 6.283185307179586;
  const double td = double(t);
  return t > T(1) ? td * std::log(td) - td + 0.5 * std::log(two_pi * td) : 0.0;
}

// The terms are computed in T, as torch does, so a float32 eˣ overflows where torch's does.
template <typename T>
FASTGD_INLINE double poisson_t(const T* p, const T* t, T* d, int64_t n, int64_t k, bool log_input, bool full,
                               T eps, const T* sw) {
  if (log_input)
    return mean_t(d, n, k, sw, [&](int64_t i, int64_t, T& g) {
      const T x = p[i], ti = t[i], e = vm::exp(x);
      g = e - ti;
      return double(e - ti * x) + (full ? stirling(ti) : 0.0);
    });
  return mean_t(d, n, k, sw, [&](int64_t i, int64_t, T& g) {
    const T x = p[i], ti = t[i], xe = x + eps;
    g = T(1) - ti / xe;
    return double(x - ti * T(std::log(xe))) + (full ? stirling(ti) : 0.0);
  });
}

template <typename T>
FASTGD_INLINE double bce_w_t(const T* z, const T* t, T* d, int64_t n, int64_t k, const T* pw, const T* sw) {
  auto f = [&](int64_t i, int64_t j, T& g) {
    const T zi = z[i], ti = t[i];
    const T e = vm::exp(-std::fabs(zi));
    const T s = T(1) / (T(1) + e);
    const T sig = zi >= T(0) ? s : e * s;
    const T softplus_neg = vm::log1p_unit(e) + (zi < T(0) ? -zi : T(0));  // log(1 + e^−z)
    if (!pw) {
      g = sig - ti;
      return (zi > T(0) ? zi : T(0)) - zi * ti + vm::log1p_unit(e);
    }
    const T lw = T(1) + (pw[j] - T(1)) * ti;
    g = lw * sig - pw[j] * ti;
    return (T(1) - ti) * zi + lw * softplus_neg;
  };
  // pos_weight needs the column: rows unless there is one column.
  return sw || (pw && k > 1) ? rows_mean_t(d, n, k, sw, f) : flat_mean_t(d, n * k, f);
}

// Softmax CE with labels, class weights cw, smoothing ε and sample weights, one pass per row:
// d holds exp(z − m), then becomes (s/D)·[p·((1−ε)·w_y + ε·W/c) − (1−ε)·w_y·onehot − ε/c·w].
template <typename T>
FASTGD_INLINE double sce_labels_w_t(const T* L, const int64_t* y, T* D, int64_t n, int64_t c, const T* cw,
                                    T smoothing, const T* sw) {
  double den = 0;  // Σ sᵢ·cw[yᵢ]
  for (int64_t i = 0; i < n; ++i) den += (sw ? double(sw[i]) : 1.0) * (cw ? double(cw[y[i]]) : 1.0);
  if (den == 0 && sw) {
    std::fill(D, D + n * c, T(0));
    return 0.0;
  }
  const double inv = 1.0 / den;  // without sample weights, all-zero class weights: torch's 0/0
  const double W = cw ? vm::lane_sum(c, [&](int64_t j) { return cw[j]; }) : double(c);
  const double a = 1.0 - double(smoothing), b = double(smoothing) / double(c);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T* z = L + i * c;
    T* d = D + i * c;
    const double s = sw ? double(sw[i]) : 1.0;
    if (s == 0) {
      std::fill(d, d + c, T(0));
      continue;
    }
    const T m = vm::lane_max(z, c);
    const double wy = cw ? double(cw[y[i]]) : 1.0;
    // read z before d (which may alias z) is written
    const double zy = double(z[y[i]] - m);
    const double wz = b == 0 ? 0.0 : vm::lane_sum(c, [&](int64_t j) { return (cw ? cw[j] : T(1)) * (z[j] - m); });
    const double sx = exp_shifted(z, m, d, c), lse = std::log(sx);
    total += s * (a * wy * (lse - zy) + b * (W * lse - wz));
    const double scale = s * inv;
    const T cp = T((a * wy + b * W) / sx * scale), cb = T(b * scale);
    if (b == 0) {
      for (int64_t j = 0; j < c; ++j) d[j] *= cp;
    } else {
      for (int64_t j = 0; j < c; ++j) d[j] = d[j] * cp - cb * (cw ? cw[j] : T(1));
    }
    d[y[i]] -= T(a * wy * scale);
  }
  return total * inv;
}

// Probability targets: u = cw·((1−ε)·t + ε/c); ℓ = Σu·lse − Σ u·(z − m) (0·log 0 as 0);
// d = (s/S)·(p·Σu − u).
template <typename T>
FASTGD_INLINE double sce_probs_w_t(const T* L, const T* t, T* D, int64_t n, int64_t c, const T* cw,
                                   T smoothing, const T* sw) {
  const double S = sw ? vm::lane_sum(n, [&](int64_t i) { return sw[i]; }) : double(n);
  if (S == 0) {
    std::fill(D, D + n * c, T(0));
    return 0.0;
  }
  const double inv = 1.0 / S;
  const T a = T(1) - smoothing, b = smoothing / T(c);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T* z = L + i * c;
    const T* ti = t + i * c;
    T* d = D + i * c;
    const double s = sw ? double(sw[i]) : 1.0;
    if (s == 0) {
      std::fill(d, d + c, T(0));
      continue;
    }
    auto u = [&](int64_t j) { return (cw ? cw[j] : T(1)) * (a * ti[j] + b); };
    const T m = vm::lane_max(z, c);
    const double usum = vm::lane_sum(c, u);
    const double uz = vm::lane_sum(c, [&](int64_t j) {
      const T uj = u(j), zj = z[j] - m;
      return uj != T(0) ? uj * zj : T(0);
    });
    const double sx = exp_shifted(z, m, d, c);
    total += s * (usum * std::log(sx) - uz);
    const double scale = s * inv;
    const T cp = T(usum / sx * scale), cu = T(scale);
    for (int64_t j = 0; j < c; ++j) d[j] = d[j] * cp - u(j) * cu;
  }
  return total * inv;
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
  FASTGD_CLONES double sce_labels_w_(const T* L, const int64_t* y, T* D, int64_t n, int64_t c, const T* cw, \
                                     T eps, const T* sw) {                                          \
    return sce_labels_w_t(L, y, D, n, c, cw, eps, sw);                                          \
  }                                                                                             \
  FASTGD_CLONES double sce_probs_w_(const T* L, const T* t, T* D, int64_t n, int64_t c, const T* cw,  \
                                    T eps, const T* sw) {                                           \
    return sce_probs_w_t(L, t, D, n, c, cw, eps, sw);                                           \
  }                                                                                             \
  FASTGD_CLONES double bce_w_(const T* z, const T* t, T* d, int64_t n, int64_t k, const T* pw,      \
                              const T* sw) {                                                    \
    return bce_w_t(z, t, d, n, k, pw, sw);                                                      \
  }                                                                                             \
  FASTGD_CLONES double mse_w_(const T* p, const T* t, T* d, int64_t n, int64_t k, const T* sw) {   \
    return mse_w_t(p, t, d, n, k, sw);                                                          \
  }                                                                                             \
  FASTGD_CLONES double l1_(const T* p, const T* t, T* d, int64_t n, int64_t k, const T* sw) {      \
    return l1_t(p, t, d, n, k, sw);                                                             \
  }                                                                                             \
  FASTGD_CLONES double huber_(const T* p, const T* t, T* d, int64_t n, int64_t k, T delta,         \
                              const T* sw) {                                                    \
    return huber_t(p, t, d, n, k, delta, sw);                                                   \
  }                                                                                             \
  FASTGD_CLONES double smooth_l1_(const T* p, const T* t, T* d, int64_t n, int64_t k, T beta,      \
                                  const T* sw) {                                                \
    return smooth_l1_t(p, t, d, n, k, beta, sw);                                                \
  }                                                                                             \
  FASTGD_CLONES double poisson_(const T* p, const T* t, T* d, int64_t n, int64_t k, bool log_input, \
                                bool full, T eps, const T* sw) {                                \
    return poisson_t(p, t, d, n, k, log_input, full, eps, sw);                                  \
  }                                                                                             \
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
  template <>                                                                               \
  double softmax_cross_entropy<T>(const T* L, const int64_t* y, T* D, int64_t n, int64_t c, const T* cw, \
                                  T eps, const T* sw) {                                     \
    if (!cw && eps == T(0) && !sw) return softmax_cross_entropy<T>(L, y, D, n, c);          \
    return n ? sce_labels_w_(L, y, D, n, c, cw, eps, sw) : kNaN;                            \
  }                                                                                         \
  template <>                                                                               \
  double softmax_cross_entropy_probs<T>(const T* L, const T* t, T* D, int64_t n, int64_t c,  \
                                        const T* cw, T eps, const T* sw) {                  \
    if (!cw && eps == T(0) && !sw) return softmax_cross_entropy_probs<T>(L, t, D, n, c);    \
    if (n == 0) return kNaN;                                                                \
    if (c == 0) return 0.0;                                                                 \
    return sce_probs_w_(L, t, D, n, c, cw, eps, sw);                                        \
  }                                                                                         \
  template <>                                                                               \
  double bce_with_logits<T>(const T* z, const T* t, T* d, int64_t n, int64_t k, const T* pw, \
                            const T* sw) {                                                  \
    if (!pw && !sw) return bce_with_logits<T>(z, t, d, n * k);                              \
    return n ? bce_w_(z, t, d, n, k, pw, sw) : kNaN;                                        \
  }                                                                                         \
  template <> double mse<T>(const T* p, const T* t, T* d, int64_t n, int64_t k, const T* sw) { \
    if (!sw) return mse<T>(p, t, d, n * k);                                                 \
    return n ? mse_w_(p, t, d, n, k, sw) : kNaN;                                            \
  }                                                                                         \
  template <> double l1<T>(const T* p, const T* t, T* d, int64_t n, int64_t k, const T* sw) { \
    return n && k ? l1_(p, t, d, n, k, sw) : kNaN;                                          \
  }                                                                                         \
  template <>                                                                               \
  double huber<T>(const T* p, const T* t, T* d, int64_t n, int64_t k, T delta, const T* sw) { \
    return n && k ? huber_(p, t, d, n, k, delta, sw) : kNaN;                                \
  }                                                                                         \
  template <>                                                                               \
  double smooth_l1<T>(const T* p, const T* t, T* d, int64_t n, int64_t k, T beta, const T* sw) { \
    if (beta == T(0)) return l1<T>(p, t, d, n, k, sw); /* torch: β = 0 is exactly L1 */     \
    return n && k ? smooth_l1_(p, t, d, n, k, beta, sw) : kNaN;                             \
  }                                                                                         \
  template <>                                                                               \
  double poisson_nll<T>(const T* p, const T* t, T* d, int64_t n, int64_t k, bool log_input, bool full, \
                        T eps, const T* sw) {                                               \
    return n && k ? poisson_(p, t, d, n, k, log_input, full, eps, sw) : kNaN;               \
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
