// The fused training step: forward through a plan of built-in layers, loss, backward, and the
// optimizer update over one flat parameter buffer, with a workspace reused across steps.
#pragma once

#include <cstdint>
#include <vector>

#include "optim.hpp"

namespace fastgd {

enum class OpKind : int { Linear = 0, ReLU, LeakyReLU, Sigmoid, Tanh, Identity };
enum class LossKind : int { MSE = 0, CrossEntropy, BCEWithLogits };
enum class OptKind : int { None = 0, SGD, Adam };

struct OpSpec {
  OpKind kind;
  int64_t in = 0, out = 0;         // Linear: (in, out); an activation: its width (set by the plan)
  int64_t w_off = -1, b_off = -1;  // offsets into the flat parameter buffer; b_off −1: no bias
  double slope = 0.01;             // LeakyReLU
};

// Targets of one step: class labels (CrossEntropy) or values/probabilities of the output's size.
template <typename T>
struct Targets {
  const int64_t* labels = nullptr;  // (n,) already range-checked
  const T* values = nullptr;        // (n, width of the output)
};

template <typename T>
class Engine {
 public:
  Engine(std::vector<OpSpec> ops, LossKind loss, int64_t in_features);

  // External buffers (owned by NumPy arrays the binding keeps alive): parameters and gradients.
  void bind(T* params, T* grads, int64_t size);
  // counter: number of updates done so far (torch's state "step"), incremented by each step.
  void set_sgd(const SgdHyper& h, T* momentum_buffer, int64_t* counter);
  void set_adam(const AdamHyper& h, T* m, T* v, T* vmax, int64_t* counter);
  void set_lr(double lr) { sgd_.lr = adam_.lr = lr; }
  void set_clip_norm(double c) { clip_norm_ = c; }

  // One forward + loss + backward (gradients overwritten) + update. Returns the mean loss.
  double step(const T* X, int64_t n, const Targets<T>& y);
  // Forward only, into out (n × output width).
  void forward(const T* X, int64_t n, T* out);
  // Forward + loss + backward, no update (gradients overwritten). Returns the mean loss.
  double loss_and_grad(const T* X, int64_t n, const Targets<T>& y);
  // The update alone, from whatever the gradient buffer holds: clip by the global norm (when
  // set), then the optimizer step. step() = loss_and_grad() + update(); data-parallel training
  // averages the gradients across processes in between.
  void update();

  // The output of the last forward (last_rows() × out_features()), valid until the next call.
  const T* last_output() const { return outs_.back().data(); }
  int64_t last_rows() const { return last_rows_; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return width_.back(); }
  int64_t workspace_allocations() const { return allocations_; }
  double last_grad_norm() const { return grad_norm_; }

 private:
  const T* run_forward(const T* X, int64_t n);
  double run_backward(const T* X, int64_t n, const Targets<T>& y);
  void reserve(int64_t n);

  std::vector<OpSpec> ops_;
  std::vector<int64_t> width_;  // width_[k]: width of op k's output; width_[−1] = in_
  LossKind loss_;
  int64_t in_;
  T* params_ = nullptr;
  T* grads_ = nullptr;
  int64_t size_ = 0;
  OptKind opt_ = OptKind::None;
  SgdHyper sgd_{};
  AdamHyper adam_{};
  T *buf_ = nullptr, *m_ = nullptr, *v_ = nullptr, *vmax_ = nullptr;
  int64_t* counter_ = nullptr;
  double clip_norm_ = 0, grad_norm_ = 0;
  // Workspace: each op's output (capacity rows), two gradient ping-pong buffers.
  int64_t capacity_ = 0, allocations_ = 0, max_width_ = 0, last_rows_ = 0;
  std::vector<std::vector<T>> outs_;
  std::vector<T> g0_, g1_;
};

}  // namespace fastgd
