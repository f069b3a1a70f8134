// Fused optimizer updates, in place over n contiguous values, with torch.optim's semantics.
#pragma once

#include <cstdint>

namespace fastgd {

struct SgdHyper {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, init_buffer;  // init_buffer: first step, buf = g (no dampening), as torch
};

// g = grad + wd·p; buf = g | μ·buf + (1−τ)·g; g = g + μ·buf (nesterov) | buf; p −= lr·g.
template <typename T>
void sgd_step(T* param, const T* grad, T* buf, int64_t n, const SgdHyper& h);

struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;    // after incrementing: 1 on the first update
  bool decoupled;  // AdamW
};

// m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; (amsgrad: vmax = max(vmax, v), used for v)
// p −= lr/(1−β1^t) · m / (sqrt(v)/sqrt(1−β2^t) + eps)
template <typename T>
void adam_step(T* param, const T* grad, T* m, T* v, T* vmax, int64_t n, const AdamHyper& h);

struct RmspropHyper {
  double lr, alpha, eps, weight_decay, momentum;  // centered: grad_avg given; momentum > 0: buf given
};

// g = grad + wd·p; sq = α·sq + (1−α)·g²; (centered: ga = lerp(ga, g, 1−α), avg = sqrt(sq − ga²),
// else avg = sqrt(sq)) + eps; momentum: buf = μ·buf + g/avg, p −= lr·buf; else p −= lr·g/avg.
template <typename T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* grad_avg, T* momentum_buffer, int64_t n,
                  const RmspropHyper& h);

struct AdagradHyper {
  double lr, lr_decay, weight_decay, eps;
  int64_t step;  // after incrementing: 1 on the first update
};

// g = grad + wd·p; sum += g²; p −= lr/(1 + (t−1)·lr_decay) · g / (sqrt(sum) + eps).
template <typename T>
void adagrad_step(T* param, const T* grad, T* sum, int64_t n, const AdagradHyper& h);

struct NadamHyper {
  double lr, beta1, beta2, eps, weight_decay, momentum_decay;
  double mu_product;  // Π μ_i for i = 1..step (this step's μ included), as torch keeps it
  int64_t step;       // after incrementing
  bool decoupled;
};

// μ_t = β1·(1 − ½·0.96^(t·ψ)) of torch.optim.NAdam (ψ = momentum_decay).
double nadam_mu(double beta1, double momentum_decay, int64_t step);
// The next mu_product: torch keeps it in a float32 tensor (its default scalar dtype), so each
// product is rounded to float32.
double nadam_mu_product(double mu_product, double mu);

// m = lerp(m, g, 1−β1); v = β2·v + (1−β2)·g²; d = sqrt(v/(1−β2^t)) + eps;
// p −= lr·(1−μ_t)/(1−Πμ) · g/d + lr·μ_{t+1}/(1−Πμ·μ_{t+1}) · m/d.
template <typename T>
void nadam_step(T* param, const T* grad, T* m, T* v, int64_t n, const NadamHyper& h);

struct RadamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;  // after incrementing
  bool decoupled;
};

// m = lerp(m, g, 1−β1); v = β2·v + (1−β2)·g²; ρ_t = ρ∞ − 2tβ2^t/(1−β2^t), ρ∞ = 2/(1−β2) − 1;
// ρ_t > 5: p −= lr·m/(1−β1^t) · r_t·sqrt(1−β2^t)/(sqrt(v) + eps), else p −= lr·m/(1−β1^t).
template <typename T>
void radam_step(T* param, const T* grad, T* m, T* v, int64_t n, const RadamHyper& h);

}  // namespace fastgd
