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

}  // namespace fastgd
