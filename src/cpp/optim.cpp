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

// torch's lerp: start + w·(end − start) for |w| < 0.5, else end − (end − start)·(1 − w).
template <typename T>
FASTGD_INLINE T lerp(T start, T end, T w) {
  return std::abs(w) < T(0.5) ? start + w * (end - start) : end - (end - start) * (T(1) - w);
}

// x rounded to T: an empty asm the compiler cannot see through, so x is not fused into an FMA
// with what consumes it. RMSprop's centered sq − ga² needs the rounded ga²: with alpha = 0,
// sq = fl(g²) and ga = g, and an FMA would give fl(g²) − g², a rounding error whose sign turns
// sqrt into NaN at random (torch, and the NumPy twin, give 0).
template <typename T>
FASTGD_INLINE T rounded(T x) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm("" : "+x"(x));
#endif
  return x;
}

// One loop per (centered, momentum) so each variant vectorises without a branch inside. Like the
// kernels below, each line is one torch tensor op of its single-tensor path, in its order, and
// the hyper-parameters are rounded to T as torch rounds a Python scalar for a tensor of dtype T.
template <bool kCentered, bool kMomentum, typename T>
FASTGD_INLINE void rmsprop_loop(T* p, const T* grad, T* sq, T* ga, T* buf, int64_t n, const RmspropHyper& h) {
  const T alpha = T(h.alpha), one_alpha = T(1 - h.alpha), eps = T(h.eps);
  const T wd = T(h.weight_decay), mu = T(h.momentum), neg_lr = T(-h.lr);
  for (int64_t i = 0; i < n; ++i) {
    const T g = wd != T(0) ? grad[i] + wd * p[i] : grad[i];
    const T s = sq[i] * alpha + one_alpha * g * g;
    sq[i] = s;
    T avg;
    if constexpr (kCentered) {
      const T a = lerp(ga[i], g, one_alpha);
      ga[i] = a;
      avg = std::sqrt(s - rounded(a * a));
    } else {
      avg = std::sqrt(s);
    }
    avg = avg + eps;
    if constexpr (kMomentum) {
      const T b = buf[i] * mu + g / avg;
      buf[i] = b;
      p[i] = p[i] + neg_lr * b;
    } else {
      p[i] = p[i] + neg_lr * g / avg;
    }
  }
}

// The hyper-parameters below are rounded to T the way torch rounds a Python scalar for a tensor
// of dtype T, and each line is one torch tensor op of its single-tensor path, in its order.
#define DEFINE_MORE(T)                                                                      \
  FASTGD_CLONES void rmsprop_(T* p, const T* grad, T* sq, T* ga, T* buf, int64_t n,          \
                              const RmspropHyper& h) {                                      \
    if (ga && buf) rmsprop_loop<true, true>(p, grad, sq, ga, buf, n, h);                    \
    else if (ga) rmsprop_loop<true, false>(p, grad, sq, ga, buf, n, h);                     \
    else if (buf) rmsprop_loop<false, true>(p, grad, sq, ga, buf, n, h);                    \
    else rmsprop_loop<false, false>(p, grad, sq, ga, buf, n, h);                            \
  }                                                                                         \
  FASTGD_CLONES void adagrad_(T* p, const T* grad, T* sum, int64_t n, const AdagradHyper& h) { \
    const T wd = T(h.weight_decay), eps = T(h.eps);                                         \
    const T neg_clr = T(-(h.lr / (1 + double(h.step - 1) * h.lr_decay)));                   \
    for (int64_t i = 0; i < n; ++i) {                                                       \
      const T g = wd != T(0) ? grad[i] + wd * p[i] : grad[i];                               \
      const T s = sum[i] + g * g;                                                           \
      sum[i] = s;                                                                           \
      p[i] = p[i] + neg_clr * g / (std::sqrt(s) + eps);                                     \
    }                                                                                       \
  }                                                                                         \
  FASTGD_CLONES void nadam_(T* p, const T* grad, T* m, T* v, int64_t n, const NadamHyper& h) { \
    const double t = double(h.step);                                                        \
    const double mu = nadam_mu(h.beta1, h.momentum_decay, h.step);                          \
    const double mu_next = nadam_mu(h.beta1, h.momentum_decay, h.step + 1);                 \
    const T w = T(1 - h.beta1), b2 = T(h.beta2), one_b2 = T(1 - h.beta2), eps = T(h.eps);   \
    const T bc2 = T(1 - std::pow(h.beta2, t));                                              \
    const T c_grad = T(-h.lr * (1 - mu) / (1 - h.mu_product));                              \
    const T c_avg = T(-h.lr * mu_next / (1 - h.mu_product * mu_next));                      \
    const T decay = h.decoupled ? T(1 - h.lr * h.weight_decay) : T(1);                      \
    const T wd = h.decoupled ? T(0) : T(h.weight_decay);                                    \
    const bool shrink = h.decoupled && h.weight_decay != 0;                                 \
    for (int64_t i = 0; i < n; ++i) {                                                       \
      const T pi = shrink ? p[i] * decay : p[i];                                            \
      const T g = wd != T(0) ? grad[i] + wd * pi : grad[i];                                 \
      const T mi = lerp(m[i], g, w);                                                        \
      const T vi = v[i] * b2 + one_b2 * g * g;                                              \
      m[i] = mi;                                                                            \
      v[i] = vi;                                                                            \
      const T d = std::sqrt(vi / bc2) + eps;                                                \
      const T q = pi + c_grad * g / d;                                                      \
      p[i] = q + c_avg * mi / d;                                                            \
    }                                                                                       \
  }                                                                                         \
  FASTGD_CLONES void radam_(T* p, const T* grad, T* m, T* v, int64_t n, const RadamHyper& h) { \
    const double t = double(h.step);                                                        \
    const double bc1 = 1 - std::pow(h.beta1, t), bc2 = 1 - std::pow(h.beta2, t);            \
    const double rho_inf = 2 / (1 - h.beta2) - 1;                                           \
    const double rho_t = rho_inf - 2 * t * std::pow(h.beta2, t) / bc2;                      \
    const bool rectify = rho_t > 5.0;                                                       \
    const double rect = rectify ? std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /           \
                                            ((rho_inf - 4) * (rho_inf - 2) * rho_t)) : 1.0; \
    const T w = T(1 - h.beta1), b2 = T(h.beta2), one_b2 = T(1 - h.beta2), eps = T(h.eps);   \
    const T tbc1 = T(bc1), lr = T(h.lr), sqrt_bc2 = T(std::sqrt(bc2)), trect = T(rect);     \
    const T decay = h.decoupled ? T(1 - h.lr * h.weight_decay) : T(1);                      \
    const T wd = h.decoupled ? T(0) : T(h.weight_decay);                                    \
    const bool shrink = h.decoupled && h.weight_decay != 0;                                 \
    for (int64_t i = 0; i < n; ++i) {                                                       \
      const T pi = shrink ? p[i] * decay : p[i];                                            \
      const T g = wd != T(0) ? grad[i] + wd * pi : grad[i];                                 \
      const T mi = lerp(m[i], g, w);                                                        \
      const T vi = v[i] * b2 + one_b2 * g * g;                                              \
      m[i] = mi;                                                                            \
      v[i] = vi;                                                                            \
      const T step = (mi / tbc1) * lr; /* the bias-corrected m times lr */                  \
      if (rectify) {                                                                        \
        const T adaptive = (T(1) / (std::sqrt(vi) + eps)) * sqrt_bc2;                       \
        p[i] = pi - step * adaptive * trect;                                                \
      } else {                                                                              \
        p[i] = pi - step;                                                                   \
      }                                                                                     \
    }                                                                                       \
  }
FASTGD_EACH_DTYPE(DEFINE_MORE)
#undef DEFINE_MORE

}  // namespace

double nadam_mu(double beta1, double momentum_decay, int64_t step) {
  return beta1 * (1.0 - 0.5 * std::pow(0.96, double(step) * momentum_decay));
}

double nadam_mu_product(double mu_product, double mu) { return double(float(mu_product) * float(mu)); }

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
  }                                                                                        \
  template <>                                                                              \
  void rmsprop_step<T>(T* p, const T* g, T* sq, T* ga, T* buf, int64_t n, const RmspropHyper& h) { \
    parallel_chunks(n, kGrain, [&](int64_t a, int64_t b) {                                 \
      rmsprop_(p + a, g + a, sq + a, ga ? ga + a : nullptr, buf ? buf + a : nullptr, b - a, h); \
    });                                                                                    \
  }                                                                                        \
  template <> void adagrad_step<T>(T* p, const T* g, T* sum, int64_t n, const AdagradHyper& h) { \
    parallel_chunks(n, kGrain, [&](int64_t a, int64_t b) { adagrad_(p + a, g + a, sum + a, b - a, h); }); \
  }                                                                                        \
  template <> void nadam_step<T>(T* p, const T* g, T* m, T* v, int64_t n, const NadamHyper& h) { \
    parallel_chunks(n, kGrain, [&](int64_t a, int64_t b) { nadam_(p + a, g + a, m + a, v + a, b - a, h); }); \
  }                                                                                        \
  template <> void radam_step<T>(T* p, const T* g, T* m, T* v, int64_t n, const RadamHyper& h) { \
    parallel_chunks(n, kGrain, [&](int64_t a, int64_t b) { radam_(p + a, g + a, m + a, v + a, b - a, h); }); \
  }
FASTGD_EACH_DTYPE(INSTANTIATE)
#undef INSTANTIATE

}  // namespace fastgd
