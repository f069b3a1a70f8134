#include "engine.hpp"

#include <cmath>
#include <stdexcept>

#include "activations.hpp"
#include "dense.hpp"
#include "losses.hpp"
#include "simd.hpp"
#include "vecmath.hpp"

namespace fastgd {

namespace {

// dZ = act'(·) · dA for activation op k, from its input Zin and output A (in place allowed on dA).
template <typename T>
void activation_backward(const OpSpec& op, const T* Zin, const T* A, const T* dA, T* dZ, int64_t len) {
  switch (op.kind) {
    case OpKind::ReLU: relu_backward<T>(Zin, dA, dZ, len); break;
    case OpKind::LeakyReLU: leaky_relu_backward<T>(Zin, dA, dZ, len, T(op.slope)); break;
    case OpKind::Sigmoid: sigmoid_backward<T>(A, dA, dZ, len); break;
    case OpKind::Tanh: tanh_backward<T>(A, dA, dZ, len); break;
    default:
      if (dZ != dA) std::copy(dA, dA + len, dZ);
  }
}

template <typename T>
void activation_forward(const OpSpec& op, const T* Z, T* A, int64_t len) {
  switch (op.kind) {
    case OpKind::ReLU: relu<T>(Z, A, len); break;
    case OpKind::LeakyReLU: leaky_relu<T>(Z, A, len, T(op.slope)); break;
    case OpKind::Sigmoid: sigmoid<T>(Z, A, len); break;
    case OpKind::Tanh: tanh<T>(Z, A, len); break;
    default: std::copy(Z, Z + len, A);
  }
}

template <typename T>
double sum_squares(const T* g, int64_t n) {
  return vm::lane_sum(n, [&](int64_t i) { return double(g[i]) * double(g[i]); });
}

}  // namespace

template <typename T>
Engine<T>::Engine(std::vector<OpSpec> ops, LossKind loss, int64_t in_features)
    : ops_(std::move(ops)), loss_(loss), in_(in_features) {
  if (ops_.empty()) throw std::invalid_argument("the net has no layers");
  int64_t w = in_;
  max_width_ = w;
  for (auto& op : ops_) {
    if (op.kind == OpKind::Linear) {
      if (op.in != w)
        throw std::invalid_argument("a Linear layer expects " + std::to_string(op.in) +
                                    " inputs but the previous layer gives " + std::to_string(w));
      w = op.out;
    } else {
      op.in = op.out = w;
    }
    width_.push_back(w);
    max_width_ = std::max(max_width_, w);
  }
  outs_.resize(ops_.size());
}

template <typename T>
void Engine<T>::bind(T* params, T* grads, int64_t size) {
  params_ = params, grads_ = grads, size_ = size;
}

template <typename T>
void Engine<T>::set_sgd(const SgdHyper& h, T* buf, int64_t* counter) {
  opt_ = OptKind::SGD, sgd_ = h, buf_ = buf, counter_ = counter;
}

template <typename T>
void Engine<T>::set_adam(const AdamHyper& h, T* m, T* v, T* vmax, int64_t* counter) {
  opt_ = OptKind::Adam, adam_ = h, m_ = m, v_ = v, vmax_ = vmax, counter_ = counter;
}

template <typename T>
void Engine<T>::reserve(int64_t n) {
  if (n <= capacity_) return;
  for (size_t k = 0; k < ops_.size(); ++k) outs_[k].assign(size_t(n * width_[k]), T(0));
  g0_.assign(size_t(n * max_width_), T(0));
  g1_.assign(size_t(n * max_width_), T(0));
  capacity_ = n;
  ++allocations_;
}

template <typename T>
const T* Engine<T>::run_forward(const T* X, int64_t n) {
  reserve(n);
  last_rows_ = n;
  const T* cur = X;
  for (size_t k = 0; k < ops_.size(); ++k) {
    const OpSpec& op = ops_[k];
    T* out = outs_[k].data();
    if (op.kind == OpKind::Linear) {
      const T* b = op.b_off >= 0 ? params_ + op.b_off : nullptr;
      linear_forward<T>({cur, false}, {params_ + op.w_off, false}, b, out, n, op.in, op.out);
    } else {
      activation_forward(op, cur, out, n * op.out);
    }
    cur = out;
  }
  return cur;
}

template <typename T>
double Engine<T>::run_backward(const T* X, int64_t n, const Targets<T>& y) {
  const size_t last = ops_.size() - 1;
  const int64_t c = width_[last];
  const T* logits = outs_[last].data();
  T* d = g0_.data();
  double loss = 0;
  switch (loss_) {
    case LossKind::MSE: loss = mse<T>(logits, y.values, d, n * c); break;
    case LossKind::BCEWithLogits: loss = bce_with_logits<T>(logits, y.values, d, n * c); break;
    case LossKind::CrossEntropy:
      loss = y.labels ? softmax_cross_entropy<T>(logits, y.labels, d, n, c)
                      : softmax_cross_entropy_probs<T>(logits, y.values, d, n, c);
      break;
  }
  T* other = g1_.data();
  for (size_t k = ops_.size(); k-- > 0;) {
    const OpSpec& op = ops_[k];
    const T* in = k ? outs_[k - 1].data() : X;
    if (op.kind == OpKind::Linear) {
      T* dX = k ? other : nullptr;  // the first layer's dX is never needed
      T* db = op.b_off >= 0 ? grads_ + op.b_off : nullptr;
      linear_backward<T>({in, false}, {params_ + op.w_off, false}, d, dX, grads_ + op.w_off, db, n,
                         op.in, op.out);
      if (!k) break;
      std::swap(d, other);
    } else {
      if (!k) break;  // an activation on the raw input: nothing upstream needs its gradient
      activation_backward(op, in, outs_[k].data(), d, d, n * op.out);
    }
  }
  return loss;
}

template <typename T>
void Engine<T>::update() {
  if (clip_norm_ > 0) {  // torch's clip_grad_norm_: scale by max_norm / (‖g‖ + 1e-6) when < 1
    grad_norm_ = std::sqrt(sum_squares(grads_, size_));
    const double coef = clip_norm_ / (grad_norm_ + 1e-6);
    if (coef < 1) {
      const T s = T(coef);
      for (int64_t i = 0; i < size_; ++i) grads_[i] *= s;
    }
  }
  switch (opt_) {
    case OptKind::SGD: {
      SgdHyper h = sgd_;
      h.init_buffer = *counter_ == 0;
      sgd_step<T>(params_, grads_, h.momentum != 0 ? buf_ : nullptr, size_, h);
      ++*counter_;
      break;
    }
    case OptKind::Adam: {
      AdamHyper h = adam_;
      h.step = ++*counter_;
      adam_step<T>(params_, grads_, m_, v_, vmax_, size_, h);
      break;
    }
    case OptKind::None: break;
  }
}

template <typename T>
double Engine<T>::step(const T* X, int64_t n, const Targets<T>& y) {
  const double loss = loss_and_grad(X, n, y);
  update();
  return loss;
}

template <typename T>
double Engine<T>::loss_and_grad(const T* X, int64_t n, const Targets<T>& y) {
  if (!params_) throw std::logic_error("engine has no parameter buffers bound");
  if (ops_.size() == 1 && ops_[0].out == 1 && loss_ == LossKind::MSE && ops_[0].kind == OpKind::Linear) {
    // Linear regression: loss and gradient in one pass over X (a GEMM with N = 1 reads it twice).
    const OpSpec& op = ops_[0];
    last_rows_ = 0;  // no output kept
    return linreg_mse<T>(params_ + op.w_off, op.b_off >= 0 ? params_ + op.b_off : nullptr, X, y.values,
                         grads_ + op.w_off, op.b_off >= 0 ? grads_ + op.b_off : nullptr, n, op.in);
  }
  run_forward(X, n);
  return run_backward(X, n, y);
}

template <typename T>
void Engine<T>::forward(const T* X, int64_t n, T* out) {
  const T* res = run_forward(X, n);
  std::copy(res, res + n * width_.back(), out);
}

template class Engine<float>;
template class Engine<double>;

}  // namespace fastgd
