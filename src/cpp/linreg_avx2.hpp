// The linear-regression pass (losses.cpp: linreg_pass) with AVX2+FMA intrinsics, for 2 ≤ d ≤ 8
// vectors of features. GCC does not vectorise the per-row dot product x_i·w at a run-time d (it is
// a horizontal reduction): the generic loop runs at ~1 row per 18 ns, this one ~8× faster. Rows go
// W at a time (W = lanes per vector): the W dot products are reduced with one hadd tree into one
// vector of residuals, then g += r_i·x_i is W broadcasts and FMAs. Chosen at run time
// (__builtin_cpu_supports), so the default build stays portable.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#define FASTGD_HAVE_AVX2_PATH 1
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#define FASTGD_AVX2 __attribute__((target("avx2,fma")))
#define FASTGD_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

namespace fastgd::avx2 {

constexpr int kMaxVectors = 8;  // features up to 8 vectors (64 float32 / 32 float64)

struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int W = 8;
  static FASTGD_AVX2_INLINE V zero() { return _mm256_setzero_ps(); }
  static FASTGD_AVX2_INLINE V set1(T x) { return _mm256_set1_ps(x); }
  static FASTGD_AVX2_INLINE V load(const T* p) { return _mm256_loadu_ps(p); }
  static FASTGD_AVX2_INLINE V maskload(const T* p, __m256i m) { return _mm256_maskload_ps(p, m); }
  static FASTGD_AVX2_INLINE void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static FASTGD_AVX2_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static FASTGD_AVX2_INLINE V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static FASTGD_AVX2_INLINE V add(V a, V b) { return _mm256_add_ps(a, b); }
  static FASTGD_AVX2_INLINE V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  // Lane r of the result = Σ lanes of p[r], r < 8.
  static FASTGD_AVX2_INLINE V row_sums(const V* p) {
    const V h01 = _mm256_hadd_ps(p[0], p[1]), h23 = _mm256_hadd_ps(p[2], p[3]);
    const V h45 = _mm256_hadd_ps(p[4], p[5]), h67 = _mm256_hadd_ps(p[6], p[7]);
    const V a = _mm256_hadd_ps(h01, h23), b = _mm256_hadd_ps(h45, h67);  // [rows 0-3 | 0-3], [4-7 | 4-7]
    return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
  }
  static FASTGD_AVX2_INLINE __m256i mask(int rem) {  // the first rem lanes on (1 ≤ rem ≤ W)
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
};

struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int W = 4;
  static FASTGD_AVX2_INLINE V zero() { return _mm256_setzero_pd(); }
  static FASTGD_AVX2_INLINE V set1(T x) { return _mm256_set1_pd(x); }
  static FASTGD_AVX2_INLINE V load(const T* p) { return _mm256_loadu_pd(p); }
  static FASTGD_AVX2_INLINE V maskload(const T* p, __m256i m) { return _mm256_maskload_pd(p, m); }
  static FASTGD_AVX2_INLINE void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static FASTGD_AVX2_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static FASTGD_AVX2_INLINE V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static FASTGD_AVX2_INLINE V add(V a, V b) { return _mm256_add_pd(a, b); }
  static FASTGD_AVX2_INLINE V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static FASTGD_AVX2_INLINE V row_sums(const V* p) {
    const V a = _mm256_hadd_pd(p[0], p[1]), b = _mm256_hadd_pd(p[2], p[3]);  // [r0 r1 | r0 r1], [r2 r3 | r2 r3]
    return _mm256_add_pd(_mm256_permute2f128_pd(a, b, 0x20), _mm256_permute2f128_pd(a, b, 0x31));
  }
  static FASTGD_AVX2_INLINE __m256i mask(int rem) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(rem), _mm256_setr_epi64x(0, 1, 2, 3));
  }
};

// The lane traits of T.
template <typename T>
using Lanes = std::conditional_t<std::is_same_v<T, float>, F32, F64>;

template <typename S>
inline bool pays(int64_t d) {
  static const bool cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return cpu && d >= 2 && d <= int64_t(kMaxVectors) * S::W;
}

// Rows [0, n): a[0] += Σ r_i, a[1 + k] += Σ r_i x_ik; returns Σ r_i² (r_i = x_i·w + w0 − y_i).
// NV = ⌈d / W⌉ vectors per row (a compile-time count keeps w and the sums in registers); the last
// one is read with a mask. Sums run in T over blocks of 256 rows and are flushed into double
// (accurate at 1e6 rows).
template <typename S, int NV, typename T = typename S::T>
FASTGD_AVX2 double linreg_rows(const T* w, T w0, const T* X, const T* y, double* a, int64_t n, int64_t d) {
  using V = typename S::V;
  constexpr int W = S::W;
  constexpr int64_t kBlock = 256;
  constexpr int L = NV - 1;  // the masked vector
  const __m256i tail = S::mask(int(d - L * W));
  V wv[NV], g[NV];
  for (int v = 0; v < L; ++v) wv[v] = S::load(w + v * W);
  wv[L] = S::maskload(w + L * W, tail);
  const V vw0 = S::set1(w0);
  double sq = 0;
  alignas(32) T r[W];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t i1 = std::min(n, i0 + kBlock);
    for (int v = 0; v < NV; ++v) g[v] = S::zero();
    V s1 = S::zero(), s2 = S::zero();
    int64_t i = i0;
    for (; i + W <= i1; i += W) {
      V p[W];
      for (int k = 0; k < W; ++k) {  // p[k] = lanes of x_{i+k} ∘ w
        const T* x = X + (i + k) * d;
        V acc = S::mul(S::maskload(x + L * W, tail), wv[L]);
        for (int v = 0; v < L; ++v) acc = S::fmadd(S::load(x + v * W), wv[v], acc);
        p[k] = acc;
      }
      const V res = S::add(S::row_sums(p), S::sub(vw0, S::load(y + i)));  // r_{i..i+W}
      s1 = S::add(s1, res);
      s2 = S::fmadd(res, res, s2);
      S::store(r, res);
      for (int k = 0; k < W; ++k) {  // g += r_{i+k} x_{i+k}
        const T* x = X + (i + k) * d;
        const V rk = S::set1(r[k]);
        for (int v = 0; v < L; ++v) g[v] = S::fmadd(rk, S::load(x + v * W), g[v]);
        g[L] = S::fmadd(rk, S::maskload(x + L * W, tail), g[L]);
      }
    }
    alignas(32) T lanes[W];
    S::store(lanes, s1);
    for (int k = 0; k < W; ++k) a[0] += double(lanes[k]);
    S::store(lanes, s2);
    for (int k = 0; k < W; ++k) sq += double(lanes[k]);
    for (int v = 0; v < NV; ++v) {
      S::store(lanes, g[v]);
      for (int k = 0; k < W && v * W + k < d; ++k) a[1 + v * W + k] += double(lanes[k]);
    }
    for (; i < i1; ++i) {  // the last rows of the last block, one at a time
      const T* x = X + i * d;
      T ri = w0 - y[i];
      for (int64_t k = 0; k < d; ++k) ri += x[k] * w[k];
      a[0] += double(ri);
      sq += double(ri) * double(ri);
      for (int64_t k = 0; k < d; ++k) a[1 + k] += double(ri) * double(x[k]);
    }
  }
  return sq;
}

// linreg_rows for this d (pays<S>(d) must hold).
template <typename S, typename T = typename S::T>
double linreg_pass(const T* w, T w0, const T* X, const T* y, double* a, int64_t n, int64_t d) {
  switch ((d + S::W - 1) / S::W) {
    case 1: return linreg_rows<S, 1>(w, w0, X, y, a, n, d);
    case 2: return linreg_rows<S, 2>(w, w0, X, y, a, n, d);
    case 3: return linreg_rows<S, 3>(w, w0, X, y, a, n, d);
    case 4: return linreg_rows<S, 4>(w, w0, X, y, a, n, d);
    case 5: return linreg_rows<S, 5>(w, w0, X, y, a, n, d);
    case 6: return linreg_rows<S, 6>(w, w0, X, y, a, n, d);
    case 7: return linreg_rows<S, 7>(w, w0, X, y, a, n, d);
    default: return linreg_rows<S, 8>(w, w0, X, y, a, n, d);
  }
}

}  // namespace fastgd::avx2

#undef FASTGD_AVX2
#undef FASTGD_AVX2_INLINE
#endif
