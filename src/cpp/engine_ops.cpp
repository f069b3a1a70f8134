// The engine's layer ops, one class each, and the registry that finds them by Python's name.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "activations.hpp"
#include "dense.hpp"
#include "engine_units.hpp"
#include "losses.hpp"

namespace fastgd {

void UnitArgs::expect(size_t n, const char* what) const {
  if (values.size() != n)
    throw std::invalid_argument("'" + name + "' takes " + std::to_string(n) + " argument" + (n == 1 ? "" : "s") +
                                (*what ? std::string(" ") + what : std::string()) + ", got " +
                                std::to_string(values.size()));
}

int64_t UnitArgs::integer(size_t i) const {
  const double v = values.at(i);
  if (!(std::floor(v) == v) || std::fabs(v) > 9.0e15)
    throw std::invalid_argument("'" + name + "' argument " + std::to_string(i) + " must be an integer, got " +
                                std::to_string(v));
  return int64_t(v);
}

namespace {

// ("linear", in, out, w_off, b_off): Z = X·W + b, W (in × out) at w_off, b at b_off (−1: none).
template <typename T>
class LinearOp final : public Op<T> {
 public:
  explicit LinearOp(const UnitArgs& a) {
    a.expect(4, "(in, out, w_off, b_off)");
    in_ = a.integer(0), out_ = a.integer(1), w_off_ = a.integer(2), b_off_ = a.integer(3);
    if (in_ < 1 || out_ < 1) throw std::invalid_argument("a Linear layer needs in, out >= 1");
  }
  int64_t configure(int64_t in) override {
    if (in != in_)
      throw std::invalid_argument("a Linear layer expects " + std::to_string(in_) +
                                  " inputs but the previous layer gives " + std::to_string(in));
    return out_;
  }
  void forward(const T* in, T* out, int64_t n, const OpCtx<T>& c) override {
    linear_forward<T>({in, false}, {c.params + w_off_, false}, bias(c.params), out, n, in_, out_);
  }
  // dX = dZ·Wᵀ (not for the first layer), dW = Xᵀ·dZ, db = Σ dZ
  void backward(const T* in, const T*, T* dout, T* din, int64_t n, const OpCtx<T>& c) override {
    linear_backward<T>({in, false}, {c.params + w_off_, false}, dout, din, c.grads + w_off_, bias(c.grads), n, in_,
                       out_);
  }
  bool in_place_backward() const override { return false; }
  std::vector<ParamRange> parameters() const override {
    std::vector<ParamRange> r{{w_off_, in_ * out_, true}};
    if (b_off_ >= 0) r.push_back({b_off_, out_, false});
    return r;
  }
  bool fuses_mse() const override { return out_ == 1; }
  // Linear regression: loss and gradient in one pass over X (a GEMM with N = 1 reads it twice).
  double fused_mse(const T* X, const T* y, int64_t n, const OpCtx<T>& c) override {
    return linreg_mse<T>(c.params + w_off_, bias(c.params), X, y, c.grads + w_off_, bias(c.grads), n, in_);
  }

 private:
  template <typename P> P* bias(P* base) const { return b_off_ >= 0 ? base + b_off_ : nullptr; }
  int64_t in_, out_, w_off_, b_off_;
};

// An elementwise activation: forward A = f(Z); backward dZ = f'(·)·dA in place (none for the
// first op: nothing upstream needs it). `Kernels` names the pair of kernels.
template <typename T, typename Kernels>
class ActivationOp final : public Op<T> {
 public:
  explicit ActivationOp(const UnitArgs& a) : k_(a) {}
  void forward(const T* in, T* out, int64_t n, const OpCtx<T>&) override { k_.forward(in, out, n * this->out_width); }
  void backward(const T* in, const T* out, T* dout, T* din, int64_t n, const OpCtx<T>&) override {
    if (din) k_.backward(in, out, dout, din, n * this->out_width);
  }

 private:
  Kernels k_;
};

template <typename T>
struct ReluKernels {
  explicit ReluKernels(const UnitArgs& a) { a.expect(0, ""); }
  void forward(const T* Z, T* A, int64_t len) const { relu<T>(Z, A, len); }
  void backward(const T* Z, const T*, const T* dA, T* dZ, int64_t len) const { relu_backward<T>(Z, dA, dZ, len); }
};

template <typename T>
struct LeakyReluKernels {
  explicit LeakyReluKernels(const UnitArgs& a) {
    a.expect(1, "(slope)");
    slope = T(a.number(0));
  }
  void forward(const T* Z, T* A, int64_t len) const { leaky_relu<T>(Z, A, len, slope); }
  void backward(const T* Z, const T*, const T* dA, T* dZ, int64_t len) const {
    leaky_relu_backward<T>(Z, dA, dZ, len, slope);
  }
  T slope;
};

template <typename T>
struct SigmoidKernels {  // backward from the output A
  explicit SigmoidKernels(const UnitArgs& a) { a.expect(0, ""); }
  void forward(const T* Z, T* A, int64_t len) const { sigmoid<T>(Z, A, len); }
  void backward(const T*, const T* A, const T* dA, T* dZ, int64_t len) const { sigmoid_backward<T>(A, dA, dZ, len); }
};

template <typename T>
struct TanhKernels {  // backward from the output A
  explicit TanhKernels(const UnitArgs& a) { a.expect(0, ""); }
  void forward(const T* Z, T* A, int64_t len) const { tanh<T>(Z, A, len); }
  void backward(const T*, const T* A, const T* dA, T* dZ, int64_t len) const { tanh_backward<T>(A, dA, dZ, len); }
};

template <typename T>
struct IdentityKernels {
  explicit IdentityKernels(const UnitArgs& a) { a.expect(0, ""); }
  void forward(const T* Z, T* A, int64_t len) const { std::copy(Z, Z + len, A); }
  void backward(const T*, const T*, const T* dA, T* dZ, int64_t len) const {
    if (dZ != dA) std::copy(dA, dA + len, dZ);
  }
};

// ("_probe",): not a layer but the test of the engine's state protocol (tests/test_engine.py):
// identity in both directions; in train mode it keeps its input as per-step state and, in
// backward, checks the state survived (the gradient is then exact), adds the batch's column
// sums to buffer "sums" and counts training steps in int64 buffer "count" (the random stream's
// step is written to "last_step"); in eval mode it leaves them alone.
template <typename T>
class ProbeOp final : public Op<T> {
 public:
  explicit ProbeOp(const UnitArgs& a) { a.expect(0, ""); }
  void forward(const T* in, T* out, int64_t n, const OpCtx<T>& c) override {
    const int64_t len = n * this->out_width;
    std::copy(in, in + len, out);
    if (c.training) std::copy(in, in + len, c.state);
  }
  void backward(const T* in, const T*, T* dout, T* din, int64_t n, const OpCtx<T>& c) override {
    const int64_t w = this->out_width;
    bool same = std::equal(in, in + n * w, c.state);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) sums_[j] += in[i * w + j];
    ++*count_;
    *last_step_ = c.step;
    if (din && din != dout) std::copy(dout, dout + n * w, din);
    if (!same && din) std::fill(din, din + n * w, T(NAN));  // a lost state shows as NaN gradients
  }
  int64_t state_per_row() const override { return this->out_width; }
  std::vector<BufferSpec> buffers() const override {
    return {{"sums", this->out_width, false}, {"count", 1, true}, {"last_step", 1, true}};
  }
  void bind_buffer(const std::string& name, void* data) override {
    if (name == "sums") sums_ = static_cast<T*>(data);
    else if (name == "count") count_ = static_cast<int64_t*>(data);
    else last_step_ = static_cast<int64_t*>(data);
  }

 private:
  T* sums_ = nullptr;
  int64_t *count_ = nullptr, *last_step_ = nullptr;
};

template <typename T> using OpFactory = std::unique_ptr<Op<T>> (*)(const UnitArgs&);
template <typename T, typename U> std::unique_ptr<Op<T>> make(const UnitArgs& a) { return std::make_unique<U>(a); }

// The registry: Python's op name -> factory. One line per op.
template <typename T>
const std::map<std::string, OpFactory<T>>& registry() {
  static const std::map<std::string, OpFactory<T>> r{
      {"linear", make<T, LinearOp<T>>},
      {"relu", make<T, ActivationOp<T, ReluKernels<T>>>},
      {"leaky_relu", make<T, ActivationOp<T, LeakyReluKernels<T>>>},
      {"sigmoid", make<T, ActivationOp<T, SigmoidKernels<T>>>},
      {"tanh", make<T, ActivationOp<T, TanhKernels<T>>>},
      {"identity", make<T, ActivationOp<T, IdentityKernels<T>>>},
      {"_probe", make<T, ProbeOp<T>>},
  };
  return r;
}

}  // namespace

template <typename T>
std::unique_ptr<Op<T>> make_op(const UnitArgs& args) {
  const auto& r = registry<T>();
  const auto it = r.find(args.name);
  if (it == r.end()) throw std::invalid_argument("unknown layer '" + args.name + "'");
  return it->second(args);
}

std::vector<std::string> op_names() {
  std::vector<std::string> names;
  for (const auto& kv : registry<float>()) names.push_back(kv.first);
  return names;
}

template std::unique_ptr<Op<float>> make_op<float>(const UnitArgs&);
template std::unique_ptr<Op<double>> make_op<double>(const UnitArgs&);

}  // namespace fastgd
