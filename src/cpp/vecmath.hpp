// Branch-free exp that GCC auto-vectorises (std::exp does not without -ffast-math), accurate to a
// few ulp: exp(x) = 2^k · p(r), k = round(x / ln 2), r = x − k·ln 2, p a Taylor polynomial on
// |r| ≤ ln2/2. Inputs beyond the finite range saturate to 0 / +inf; NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

#include "simd.hpp"

namespace fastgd::vm {

template <typename T>
struct ExpConst;

template <>
struct ExpConst<float> {
  using I = uint32_t;  // unsigned: the bit arithmetic wraps (defined) for NaN inputs
  static constexpr float lo = -103.9f, hi = 88.7228391f;
  static constexpr float magic = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  static constexpr int mant = 23, bias = 127;
};

template <>
struct ExpConst<double> {
  using I = uint64_t;
  static constexpr double lo = -745.2, hi = 709.782712893384;
  static constexpr double magic = 6755399441055744.0;  // 1.5·2^52
  static constexpr double ln2_hi = 0.693145751953125, ln2_lo = 1.42860682030941723212e-6;
  static constexpr int mant = 52, bias = 1023;
};

template <typename T>
FASTGD_INLINE T poly_exp(T r);  // e^r for |r| ≤ ln2/2

template <>
FASTGD_INLINE float poly_exp<float>(float r) {  // Cephes expf minimax coefficients
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return (p * r) * r + r + 1.0f;
}

template <>
FASTGD_INLINE double poly_exp<double>(double r) {  // Taylor to r^13: truncation < 1e-17 on |r| ≤ 0.35
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  return (p * r) * r + r + 1.0;
}

// The integer value of a float that holds an integer k after "+ magic": its bits minus magic's.
template <typename T>
FASTGD_INLINE typename ExpConst<T>::I pow2_bits(T kf) {
  using C = ExpConst<T>;
  using I = typename C::I;
  const T t = kf + C::magic;
  I bt, bm;
  const T m = C::magic;
  std::memcpy(&bt, &t, sizeof(T));
  std::memcpy(&bm, &m, sizeof(T));
  return (bt - bm + C::bias) << C::mant;  // bits of 2^k: only add/sub/shift, so it vectorises
}

template <typename T>
FASTGD_INLINE T exp(T x) {
  using C = ExpConst<T>;
  using I = typename C::I;
  const T xc = x < C::lo ? C::lo : (x > C::hi ? C::hi : x);
  const T kf = (xc * T(1.4426950408889634) + C::magic) - C::magic;  // round(x / ln 2)
  const T r = (xc - kf * C::ln2_hi) - kf * C::ln2_lo;
  const T p = poly_exp<T>(r);
  // 2^k as 2^k1 · 2^k2 so that k down to the subnormal range stays representable.
  const T k1f = (kf * T(0.5) + C::magic) - C::magic;
  I b1 = pow2_bits(k1f), b2 = pow2_bits(kf - k1f);
  T s1, s2;
  std::memcpy(&s1, &b1, sizeof(T));
  std::memcpy(&s2, &b2, sizeof(T));
  const T y = p * s1 * s2;
  const T scale = x > C::hi ? std::numeric_limits<T>::infinity() : (x < C::lo ? T(0) : T(1));
  return x != x ? x : y * scale;
}

// e^x for x ≤ 0 where only e^x ≪ 1 vs 1 matters (tanh's 1 − e / 1 + e): x below the normal range
// is clamped to it (so e^x is ~1e-38 instead of subnormal or 0, invisible beside 1), which saves
// exp's two-step scaling and saturation selects. NaN in, unspecified out: the caller tests x.
template <typename T>
FASTGD_INLINE T exp_nonpositive(T x) {
  using C = ExpConst<T>;
  using I = typename C::I;
  constexpr T lo = sizeof(T) == 4 ? T(-87.0) : T(-708.0);  // e^lo is still a normal number
  const T xc = x < lo ? lo : x;
  const T kf = (xc * T(1.4426950408889634) + C::magic) - C::magic;  // round(x / ln 2)
  const T r = (xc - kf * C::ln2_hi) - kf * C::ln2_lo;
  const I b = pow2_bits(kf);
  T s;
  std::memcpy(&s, &b, sizeof(T));
  return poly_exp<T>(r) * s;
}

// tanh without a branch: an odd polynomial/rational for |x| < 0.625 (where 1 − e^−2|x| would
// cancel), (1 − e)/(1 + e) with e = e^−2|x| elsewhere (Cephes coefficients).
FASTGD_INLINE float tanh(float x) {
  const float ax = x < 0 ? -x : x;
  const float z = x * x;
  const float small =
      ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
       3.33332819422e-1f) * z * x + x;
  const float e = exp_nonpositive(-2.0f * ax);
  float big = (1.0f - e) / (1.0f + e);
  big = x < 0 ? -big : big;
  return x == 0 ? x : (ax < 0.625f || x != x ? small : big);  // (±0 kept; small is NaN for NaN x)
}

FASTGD_INLINE double tanh(double x) {
  const double ax = x < 0 ? -x : x;
  const double z = x * x;
  const double p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3;
  const double q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3;
  const double small = x + x * z * p / q;
  const double e = exp_nonpositive(-2.0 * ax);
  double big = (1.0 - e) / (1.0 + e);
  big = x < 0 ? -big : big;
  return x == 0 ? x : (ax < 0.625 || x != x ? small : big);  // (±0 kept; small is NaN for NaN x)
}

// log(1 + e) for e in [0, 1] (the softplus tail): 2·atanh(s) = 2(s + s³/3 + s⁵/5 + …) with
// s = e/(2 + e) ≤ 1/3, exact to rounding even for tiny e, and branch-free.
template <typename T>
FASTGD_INLINE T log1p_unit(T e) {
  const T s = e / (T(2) + e);
  const T s2 = s * s;
  constexpr int terms = sizeof(T) == 4 ? 8 : 17;
  T p = T(1) / T(2 * terms + 1);
  for (int k = terms - 1; k >= 1; --k) p = p * s2 + T(1) / T(2 * k + 1);
  return T(2) * s * (p * s2 + T(1));
}

// Σ f(i) for i < n in double, in 8 independent lanes so that the loop vectorises without
// reassociating one long chain (which GCC will not do without -ffast-math).
template <typename F>
FASTGD_INLINE double lane_sum(int64_t n, F&& f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += double(f(i + k));
  double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += double(f(i));
  return s;
}

// max of x[0..n) (n ≥ 1) in 8 lanes; NaNs are skipped here and surface through later arithmetic.
template <typename T>
FASTGD_INLINE T lane_max(const T* x, int64_t n) {
  T acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = x[0];
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
  T m = acc[0];
  for (int k = 1; k < 8; ++k) m = acc[k] > m ? acc[k] : m;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

}  // namespace fastgd::vm
