#include "engine.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "parallel.hpp"
#include "vecmath.hpp"

namespace fastgd {

namespace {

template <typename T>
double sum_squares(const T* g, int64_t n) {
  return vm::lane_sum(n, [&](int64_t i) { return double(g[i]) * double(g[i]); });
}

}  // namespace

template <typename T>
Engine<T>::Engine(const std::vector<UnitArgs>& ops, const UnitArgs& loss, int64_t in_features)
    : loss_(make_loss<T>(loss)), in_(in_features) {
  if (ops.empty()) throw std::invalid_argument("the net has no layers");
  int64_t w = in_;
  max_width_ = w;
  for (const UnitArgs& a : ops) {
    auto op = make_op<T>(a);
    op->in_width = w;
    w = op->out_width = op->configure(w);
    width_.push_back(w);
    max_width_ = std::max(max_width_, w);
    for (const ParamRange& r : op->parameters())
      if (r.decay) decay_.push_back(r);
    unbound_.emplace_back(op->buffers().size(), char(1));
    ops_.push_back(std::move(op));
  }
  loss_->configure(w);
  outs_.resize(ops_.size());
  states_.resize(ops_.size());
  fast_mse_ = ops_.size() == 1 && loss_->is_mse() && ops_[0]->fuses_mse();
}

template <typename T>
void Engine<T>::bind(T* params, T* grads, int64_t size) {
  for (const auto& op : ops_)
    for (const ParamRange& r : op->parameters())
      if (r.offset < 0 || r.size < 0 || r.offset + r.size > size)
        throw std::invalid_argument("a layer's parameters [" + std::to_string(r.offset) + ", " +
                                    std::to_string(r.offset + r.size) + ") lie outside params of size " +
                                    std::to_string(size));
  params_ = params, grads_ = grads, size_ = size;
}

template <typename T>
void Engine<T>::bind_buffer(size_t k, const std::string& name, void* data) {
  const auto specs = ops_.at(k)->buffers();
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name != name) continue;
    ops_[k]->bind_buffer(name, data);
    unbound_[k][i] = 0;
    return;
  }
  throw std::invalid_argument("op " + std::to_string(k) + " has no buffer '" + name + "'");
}

template <typename T>
void Engine<T>::set_update(int64_t offset, int64_t size, std::unique_ptr<Update<T>> unit) {
  if (offset == 0 && size == size_) {
    groups_.clear();
  } else {
    if (offset < 0 || size < 0 || offset + size > size_)
      throw std::invalid_argument("the group [" + std::to_string(offset) + ", " + std::to_string(offset + size) +
                                  ") lies outside params of size " + std::to_string(size_));
    for (const Group& g : groups_)
      if (offset < g.offset + g.size && g.offset < offset + size)
        throw std::invalid_argument("the group [" + std::to_string(offset) + ", " + std::to_string(offset + size) +
                                    ") overlaps the group [" + std::to_string(g.offset) + ", " +
                                    std::to_string(g.offset + g.size) + ")");
  }
  groups_.push_back({offset, size, std::move(unit)});
}

template <typename T>
void Engine<T>::set_lr(double lr) {
  for (Group& g : groups_) g.unit->set_lr(lr);
}

template <typename T>
void Engine<T>::set_lr(size_t group, double lr) {
  groups_.at(group).unit->set_lr(lr);
}

template <typename T>
void Engine<T>::reserve(int64_t n) {
  if (n <= capacity_) return;
  for (size_t k = 0; k < ops_.size(); ++k) {
    outs_[k].assign(size_t(n * width_[k]), T(0));
    states_[k].assign(size_t(n * ops_[k]->state_per_row()), T(0));
  }
  g0_.assign(size_t(n * max_width_), T(0));
  g1_.assign(size_t(n * max_width_), T(0));
  capacity_ = n;
  ++allocations_;
}

template <typename T>
void Engine<T>::require_ready() const {
  if (!params_) throw std::logic_error("engine has no parameter buffers bound");
  for (size_t k = 0; k < ops_.size(); ++k)
    for (size_t i = 0; i < unbound_[k].size(); ++i)
      if (unbound_[k][i])
        throw std::logic_error("op " + std::to_string(k) + "'s buffer '" + ops_[k]->buffers()[i].name +
                               "' is not bound (bind_buffers)");
}

template <typename T>
OpCtx<T> Engine<T>::context(bool training) const {
  OpCtx<T> ctx;
  ctx.params = params_, ctx.grads = grads_, ctx.training = training, ctx.seed = seed_, ctx.step = rng_step_;
  return ctx;
}

template <typename T>
const T* Engine<T>::forward_from(size_t k0, const T* cur, int64_t n, bool training) {
  OpCtx<T> ctx = context(training);
  for (size_t k = k0; k < ops_.size(); ++k) {
    T* out = outs_[k].data();
    ctx.state = states_[k].data();
    ops_[k]->forward(cur, out, n, ctx);
    cur = out;
  }
  return cur;
}

template <typename T>
double Engine<T>::backward_to(size_t k_end, const T* X, int64_t n, const Targets<T>& y, T** dout) {
  const size_t last = ops_.size() - 1;
  T* d = g0_.data();
  const double loss = loss_->loss(outs_[last].data(), y, d, n, width_[last]);
  OpCtx<T> ctx = context(true);
  T* other = g1_.data();
  for (size_t k = ops_.size(); k-- > k_end;) {
    Op<T>& op = *ops_[k];
    const bool in_place = op.in_place_backward();
    T* din = !k ? nullptr : in_place ? d : other;  // the first op's input gradient is never needed
    ctx.state = states_[k].data();
    op.backward(k ? outs_[k - 1].data() : X, outs_[k].data(), d, din, n, ctx);
    if (!in_place) std::swap(d, other);
  }
  if (dout) *dout = d;
  return loss;
}

template <typename T>
const T* Engine<T>::run_forward(const T* X, int64_t n, bool training) {
  reserve(n);
  last_rows_ = n;
  return forward_from(0, X, n, training);
}

template <typename T>
double Engine<T>::run_backward(const T* X, int64_t n, const Targets<T>& y) {
  return backward_to(0, X, n, y, nullptr);
}

template <typename T>
double Engine<T>::add_l2(const Targets<T>& y, int64_t n) {
  last_l2_ = 0;
  double coef = l2_;
  if (l2_per_weight_ && coef != 0) {  // λ / Σw of this batch (its rows when unweighted)
    double wsum = double(n);
    if (y.weights) {
      wsum = 0;
      for (int64_t i = 0; i < n; ++i) wsum += double(y.weights[i]);
    }
    coef = wsum > 0 ? coef / wsum : 0;
  }
  if (coef == 0) return 0;
  double ss = 0;
  const T lam = T(coef);
  for (const ParamRange& r : decay_) {
    // One pass over W and its gradient, split over the threads (a 20000×64 first layer is 1.3M
    // weights); per-task sums added in task order, so the loss does not depend on scheduling.
    constexpr int kMaxTasks = 64;
    const int tasks = std::min(kMaxTasks, parallel_tasks(r.size, int64_t(1) << 16));
    const int64_t chunk = ((r.size + tasks - 1) / tasks + 63) / 64 * 64;
    double part[kMaxTasks] = {};
    parallel_for(tasks, [&](int t) {
      const int64_t lo = std::min(r.size, t * chunk), hi = std::min(r.size, lo + chunk);
      for (int64_t b = lo; b < hi; b += 4096) {  // blocks that stay in L1 between the two loops
        const int64_t m = std::min<int64_t>(4096, hi - b);
        const T* w = params_ + r.offset + b;
        T* g = grads_ + r.offset + b;
        part[t] += sum_squares(w, m);
        for (int64_t i = 0; i < m; ++i) g[i] += lam * w[i];  // ∂(½λ‖W‖²) = λW
      }
    });
    for (int t = 0; t < tasks; ++t) ss += part[t];
  }
  last_l2_ = 0.5 * coef * ss;
  return last_l2_;
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
  for (Group& g : groups_) g.unit->apply(params_ + g.offset, grads_ + g.offset, g.size);
}

template <typename T>
double Engine<T>::step(const T* X, int64_t n, const Targets<T>& y) {
  const double loss = loss_and_grad(X, n, y);
  update();
  return loss;
}

template <typename T>
double Engine<T>::loss_and_grad(const T* X, int64_t n, const Targets<T>& y) {
  require_ready();
  double loss;
  if (fast_mse_ && !y.weights) {
    OpCtx<T> ctx = context(false);
    last_rows_ = 0;  // no output kept
    loss = ops_[0]->fused_mse(X, y.values, n, ctx);
  } else {
    run_forward(X, n, true);
    loss = run_backward(X, n, y);
  }
  ++rng_step_;
  return loss + add_l2(y, n);
}

template <typename T>
void Engine<T>::forward(const T* X, int64_t n, T* out, bool training) {
  require_ready();
  const T* res = run_forward(X, n, training);
  std::copy(res, res + n * width_.back(), out);
}

template class Engine<float>;
template class Engine<double>;

}  // namespace fastgd
