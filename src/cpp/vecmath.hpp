// Branch-free exp that GCC auto-vectorises (std::exp does not without -ffast-math), accurate to a
// few ulp: exp(x) = 2^k · p(r), k = round(x / ln 2), r = x − k·ln 2, p a Taylor polynomial on
// |r| ≤ ln2/2. Inputs beyond the finite range saturate to 0 / +inf; NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

namespace fastgd::vm {

template <typename T>
struct ExpConst;

template <>
struct ExpConst<float> {
  using I = int32_t;
  static constexpr float lo = -103.9f, hi = 88.7228391f;
  static constexpr float magic = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  static constexpr int mant = 23, bias = 127;
};

template <>
struct ExpConst<double> {
  using I = int64_t;
  static constexpr double lo = -745.2, hi = 709.782712893384;
  static constexpr double magic = 6755399441055744.0;  // 1.5·2^52
  static constexpr double ln2_hi = 0.693145751953125, ln2_lo = 1.42860682030941723212e-6;
  static constexpr int mant = 52, bias = 1023;
};

template <typename T>
inline T poly_exp(T r);  // e^r for |r| ≤ ln2/2

template <>
inline float poly_exp<float>(float r) {  // Cephes expf minimax coefficients
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return (p * r) * r + r + 1.0f;
}

template <>
inline double poly_exp<double>(double r) {  // Taylor to r^13: truncation < 1e-17 on |r| ≤ 0.35
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
inline typename ExpConst<T>::I pow2_bits(T kf) {
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
inline T exp(T x) {
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

}  // namespace fastgd::vm
