#include "dropout.hpp"

#include <cmath>

#include "simd.hpp"

namespace fastgd {

uint64_t dropout_threshold(double p) { return uint64_t(std::ceil(p * 9007199254740992.0)); }  // ⌈p·2^53⌉

namespace {

#define DEFINE(T)                                                                                 \
  FASTGD_CLONES void dropout_(const T* X, T* A, uint8_t* mask, int64_t n, double p, uint64_t key) { \
    const uint64_t t = dropout_threshold(p);                                                      \
    const T scale = T(1.0 / (1.0 - p));                                                           \
    for (int64_t i = 0; i < n; ++i) {                                                             \
      const bool keep = (mix64(key + uint64_t(i + 1) * kGolden) >> 11) >= t;                      \
      mask[i] = keep;                                                                             \
      A[i] = X[i] * (keep ? scale : T(0));                                                        \
    }                                                                                             \
  }                                                                                               \
  FASTGD_CLONES void dropout_backward_(const uint8_t* mask, const T* dA, T* dX, int64_t n, double p) { \
    const T scale = T(1.0 / (1.0 - p));                                                           \
    for (int64_t i = 0; i < n; ++i) dX[i] = dA[i] * (mask[i] ? scale : T(0));                     \
  }
DEFINE(float)
DEFINE(double)
#undef DEFINE

}  // namespace

#define INSTANTIATE(T)                                                                             \
  template <>                                                                                      \
  void dropout<T>(const T* X, T* A, uint8_t* mask, int64_t n, double p, uint64_t seed, uint64_t counter) { \
    dropout_(X, A, mask, n, p, dropout_key(seed, counter));                                        \
  }                                                                                                \
  template <> void dropout_backward<T>(const uint8_t* mask, const T* dA, T* dX, int64_t n, double p) { \
    dropout_backward_(mask, dA, dX, n, p);                                                         \
  }
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace fastgd
