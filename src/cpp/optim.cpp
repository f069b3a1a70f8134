#include "optim.hpp"

#include <cmath>

#include "parallel.hpp"
#include "simd.hpp"

namespace fastgd {

namespace {

#define FASTGD_EACH_DTYPE(MACRO) MACRO(float) MACRO(double)

// Hyper-parameters are rounded to T once, as torch does for a tensor of dtype T.
#define DEFINE(T)                                                                           \
  FASTGD_CLONES void sgd_(T* p, const T* grad, T* buf, int64_t n, const SgdHyper& h) {      \
    const T lr = T(h.lr), wd = T(h.weight_decay), mu = T(h.momentum);                      \
    const T keep = T(1 - h.dampening);                                                     \
    if (!buf) {                                                                            \
      for (int64_t i = 0; i < n; ++i) p[i] -= lr * (wd != T(0) ? grad[i] + wd * p[i] : grad[i]); \
      return;                                                                              \
    }                                                                                      \
    const bool init = h.init_buffer, nest = h.nesterov;                                    \
    for (int64_t i = 0; i < n; ++i) {                                                      \
      const T g = wd != T(0) ? grad[i] + wd * p[i] : grad[i]; /* 0·inf would be NaN */     \
      const T b = init ? g : mu * buf[i] + keep * g;                                       \
      buf[i] = b;                                                                          \
      p[i] -= lr * (nest ? g + mu * b : b);                                                \
    }                                                                                      \
  }                                                                                        \
  FASTGD_CLONES void adam_(T* p, const T* grad, T* m, T* v, T* vmax, int64_t n,            \
                           const AdamHyper& h) {                                           \
    const T b1 = T(h.beta1), b2 = T(h.beta2), eps = T(h.eps);                              \
    const T one_b1 = T(1 - h.beta1), one_b2 = T(1 - h.beta2); /* in double, as torch */     \
    const T step_size = T(h.lr / (1 - std::pow(h.beta1, double(h.step))));                 \
    const T inv_bc2_sqrt = T(1 / std::sqrt(1 - std::pow(h.beta2, double(h.step))));        \
    const T decay = h.decoupled ? T(1 - h.lr * h.weight_decay) : T(1);                     \
    const T wd = h.decoupled ? T(0) : T(h.weight_decay);                                   \
    for (int64_t i = 0; i < n; ++i) {                                                      \
      const T pi = decay != T(1) ? p[i] * decay : p[i];                                    \
      const T g = wd != T(0) ? grad[i] + wd * pi : grad[i];                                \
      const T mi = b1 * m[i] + one_b1 * g;                                                  \
      T vi = b2 * v[i] + one_b2 * g * g;                                                    \
      m[i] = mi;                                                                           \
      v[i] = vi;                                                                           \
      if (vmax) {                                                                          \
        vi = (vmax[i] > vi || vmax[i] != vmax[i]) ? vmax[i] : vi; /* NaN wins, as torch */ \
        vmax[i] = vi;                                                                      \
      }                                                                                    \
      p[i] = pi - step_size * mi / (std::sqrt(vi) * inv_bc2_sqrt + eps);                   \
    }                                                                                      \
  }
FASTGD_EACH_DTYPE(DEFINE)
#undef DEFINE

}  // namespace

// Large buffers are updated in chunks over fastgd's threads: every element's update is independent,
// so the result is the same for any split.
constexpr int64_t kGrain = 1 << 17;

#define INSTANTIATE(T)                                                                     \
  template <> void sgd_step<T>(T* p, const T* g, T* buf, int64_t n, const SgdHyper& h) {   \
    parallel_chunks(n, kGrain, [&](int64_t a, int64_t b) {                                 \
      sgd_(p + a, g + a, buf ? buf + a : nullptr, b - a, h);                               \
    });                                                                                    \
  }                                                                                        \
  template <>                                                                              \
  void adam_step<T>(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamHyper& h) { \
    parallel_chunks(n, kGrain, [&](int64_t a, int64_t b) {                                 \
      adam_(p + a, g + a, m + a, v + a, vmax ? vmax + a : nullptr, b - a, h);              \
    });                                                                                    \
  }
FASTGD_EACH_DTYPE(INSTANTIATE)
#undef INSTANTIATE

}  // namespace fastgd
