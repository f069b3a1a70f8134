// The engine's layer ops, one class each, and the registry that finds them by Python's name.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "activations.hpp"
#include "dense.hpp"
#include "dropout.hpp"
#include "engine_units.hpp"
#include "losses.hpp"
#include "norm.hpp"
#include "sparse.hpp"

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
  // A CSR input: Z = X·W + b, and dW = Xᵀ·dZ, db = Σ dZ (sparse.hpp)
  bool takes_csr() const override { return true; }
  void forward_csr(const CsrRef<T>& X, T* out, const OpCtx<T>& c) override {
    csr_linear_forward<T>(X, c.params + w_off_, bias(c.params), out, in_, out_);
  }
  void backward_csr(const CsrRef<T>& X, const T* dout, const OpCtx<T>& c) override {
    csr_linear_backward<T>(X, dout, c.grads + w_off_, bias(c.grads), in_, out_);
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

template <typename T>
struct GeluKernels {  // ("gelu", approximate): 0 erf, 1 tanh
  explicit GeluKernels(const UnitArgs& a) {
    a.expect(1, "(approximate: 0 'none', 1 'tanh')");
    tanh_form = a.number(0) != 0;
  }
  void forward(const T* Z, T* A, int64_t len) const { gelu<T>(Z, A, len, tanh_form); }
  void backward(const T* Z, const T*, const T* dA, T* dZ, int64_t len) const {
    gelu_backward<T>(Z, dA, dZ, len, tanh_form);
  }
  bool tanh_form;
};

template <typename T>
struct SiluKernels {
  explicit SiluKernels(const UnitArgs& a) { a.expect(0, ""); }
  void forward(const T* Z, T* A, int64_t len) const { silu<T>(Z, A, len); }
  void backward(const T* Z, const T*, const T* dA, T* dZ, int64_t len) const { silu_backward<T>(Z, dA, dZ, len); }
};

template <typename T>
struct EluKernels {
  explicit EluKernels(const UnitArgs& a) {
    a.expect(1, "(alpha)");
    alpha = T(a.number(0));
  }
  void forward(const T* Z, T* A, int64_t len) const { elu<T>(Z, A, len, alpha); }
  void backward(const T* Z, const T*, const T* dA, T* dZ, int64_t len) const {
    elu_backward<T>(Z, dA, dZ, len, alpha);
  }
  T alpha;
};

template <typename T>
struct SoftplusKernels {
  explicit SoftplusKernels(const UnitArgs& a) {
    a.expect(2, "(beta, threshold)");
    beta = T(a.number(0)), threshold = T(a.number(1));
    if (beta == T(0)) throw std::invalid_argument("a Softplus layer needs beta != 0");
  }
  void forward(const T* Z, T* A, int64_t len) const { softplus<T>(Z, A, len, beta, threshold); }
  void backward(const T* Z, const T*, const T* dA, T* dZ, int64_t len) const {
    softplus_backward<T>(Z, dA, dZ, len, beta, threshold);
  }
  T beta, threshold;
};

// ("softmax",): row-wise probabilities; backward from the output P: dZ = P·(dA − Σ dA·P).
template <typename T>
class SoftmaxOp final : public Op<T> {
 public:
  explicit SoftmaxOp(const UnitArgs& a) { a.expect(0, ""); }
  void forward(const T* in, T* out, int64_t n, const OpCtx<T>&) override { softmax<T>(in, out, n, this->out_width); }
  void backward(const T*, const T* out, T* dout, T* din, int64_t n, const OpCtx<T>&) override {
    if (din) softmax_backward<T>(out, dout, din, n, this->out_width);  // (row sum read before the row is written)
  }
};

// ("dropout", p, {"seed": int64 (), "counter": int64 ()}): the Dropout layer's own seed (its
// uint64 bits) and call counter, so the masks are those of the layer-by-layer path. Train mode:
// A = X·mask/(1 − p) with the mask of (seed, counter), kept as per-step state; counter += 1.
// Eval mode: the identity.
template <typename T>
class DropoutOp final : public Op<T> {
 public:
  explicit DropoutOp(const UnitArgs& a) {
    a.expect(1, "(p)");
    p_ = a.number(0);
    if (!(p_ >= 0 && p_ < 1)) throw std::invalid_argument("a Dropout layer needs p in [0, 1)");
  }
  void forward(const T* in, T* out, int64_t n, const OpCtx<T>& c) override {
    const int64_t len = n * this->out_width;
    dropped_ = c.training && p_ > 0;
    if (dropped_) dropout<T>(in, out, mask(c), len, p_, uint64_t(*seed_), uint64_t(*counter_));
    else std::copy(in, in + len, out);
    if (c.training) ++*counter_;
  }
  void backward(const T*, const T*, T* dout, T* din, int64_t n, const OpCtx<T>& c) override {
    if (din && dropped_) dropout_backward<T>(mask(c), dout, din, n * this->out_width, p_);
  }
  // The mask's n·width bytes, in the state of n·width values of T.
  int64_t state_per_row() const override { return this->out_width; }
  std::vector<BufferSpec> buffers() const override { return {{"seed", 1, true}, {"counter", 1, true}}; }
  void bind_buffer(const std::string& name, void* data) override {
    (name == "seed" ? seed_ : counter_) = static_cast<int64_t*>(data);
  }

 private:
  static uint8_t* mask(const OpCtx<T>& c) { return reinterpret_cast<uint8_t*>(c.state); }
  double p_;
  bool dropped_ = false;
  int64_t *seed_ = nullptr, *counter_ = nullptr;
};

// ("batchnorm", c, w_off, b_off, eps, momentum, cumulative, track): BatchNorm1d over the batch.
// Train mode: batch statistics (n >= 2), and with track the buffers running_mean/running_var
// (c,) and num_batches_tracked (int64) updated as torch: f = momentum, or 1/num_batches_tracked
// when cumulative; running = f·batch + (1 − f)·running in double, the variance unbiased. Eval
// mode with track: the running statistics (constants in backward). w_off/b_off −1: not affine.
template <typename T>
class BatchNormOp final : public Op<T> {
 public:
  explicit BatchNormOp(const UnitArgs& a) {
    a.expect(7, "(num_features, w_off, b_off, eps, momentum, cumulative, track_running_stats)");
    c_ = a.integer(0), w_off_ = a.integer(1), b_off_ = a.integer(2);
    eps_ = a.number(3), momentum_ = a.number(4), cumulative_ = a.number(5) != 0, track_ = a.number(6) != 0;
    if (c_ < 1) throw std::invalid_argument("a BatchNorm1d layer needs num_features >= 1");
    if ((w_off_ < 0) != (b_off_ < 0)) throw std::invalid_argument("a BatchNorm1d layer has both weight and bias or neither");
    mean_.assign(size_t(c_), T(0)), var_.assign(size_t(c_), T(0));
  }
  int64_t configure(int64_t in) override {
    if (in != c_)
      throw std::invalid_argument("a BatchNorm1d layer expects " + std::to_string(c_) +
                                  " features but the previous layer gives " + std::to_string(in));
    return c_;
  }
  void forward(const T* in, T* out, int64_t n, const OpCtx<T>& c) override {
    const T *w = at(c.params, w_off_), *b = at(c.params, b_off_);
    batch_ = c.training || !track_;
    if (!batch_) {
      batchnorm_apply<T>(in, rm_, rv_, w, b, out, n, c_, eps_);
      return;
    }
    if (n < 2)
      throw std::invalid_argument("BatchNorm1d: batch statistics need more than 1 value per feature (as torch: "
                                  "'Expected more than 1 value per channel when training'), got a batch of " +
                                  std::to_string(n));
    batchnorm_stats<T>(in, n, c_, mean_.data(), var_.data());
    batchnorm_apply<T>(in, mean_.data(), var_.data(), w, b, out, n, c_, eps_);
    if (c.training && track_) {
      ++*count_;
      const double f = cumulative_ ? 1.0 / double(*count_) : momentum_, unbias = double(n) / double(n - 1);
      for (int64_t j = 0; j < c_; ++j) {
        rm_[j] = T(f * double(mean_[j]) + (1 - f) * double(rm_[j]));
        rv_[j] = T(f * double(var_[j]) * unbias + (1 - f) * double(rv_[j]));
      }
    }
  }
  void backward(const T* in, const T*, T* dout, T* din, int64_t n, const OpCtx<T>& c) override {
    const T* w = at(c.params, w_off_);
    const T *m = batch_ ? mean_.data() : rm_, *v = batch_ ? var_.data() : rv_;
    batchnorm_backward<T>(in, m, v, w, dout, din, at(c.grads, w_off_), at(c.grads, b_off_), n, c_, eps_, batch_);
  }
  bool in_place_backward() const override { return false; }
  std::vector<ParamRange> parameters() const override {
    if (w_off_ < 0) return {};
    return {{w_off_, c_, false}, {b_off_, c_, false}};
  }
  std::vector<BufferSpec> buffers() const override {
    if (!track_) return {};
    return {{"running_mean", c_, false}, {"running_var", c_, false}, {"num_batches_tracked", 1, true}};
  }
  void bind_buffer(const std::string& name, void* data) override {
    if (name == "running_mean") rm_ = static_cast<T*>(data);
    else if (name == "running_var") rv_ = static_cast<T*>(data);
    else count_ = static_cast<int64_t*>(data);
  }

 private:
  template <typename P> static P* at(P* base, int64_t off) { return off >= 0 ? base + off : nullptr; }
  int64_t c_, w_off_, b_off_;
  double eps_, momentum_;
  bool cumulative_, track_, batch_ = true;
  std::vector<T> mean_, var_;  // the last forward's statistics (c,), for backward
  T *rm_ = nullptr, *rv_ = nullptr;
  int64_t* count_ = nullptr;
};

// ("layernorm", c, w_off, b_off, eps): LayerNorm over each row's c features; the row's mean and
// variance are per-step state. w_off/b_off −1: no weight/bias.
template <typename T>
class LayerNormOp final : public Op<T> {
 public:
  explicit LayerNormOp(const UnitArgs& a) {
    a.expect(4, "(normalized_shape, w_off, b_off, eps)");
    c_ = a.integer(0), w_off_ = a.integer(1), b_off_ = a.integer(2), eps_ = a.number(3);
    if (c_ < 1) throw std::invalid_argument("a LayerNorm layer needs normalized_shape >= 1");
  }
  int64_t configure(int64_t in) override {
    if (in != c_)
      throw std::invalid_argument("a LayerNorm layer expects " + std::to_string(c_) +
                                  " features but the previous layer gives " + std::to_string(in));
    return c_;
  }
  void forward(const T* in, T* out, int64_t n, const OpCtx<T>& c) override {
    layernorm_forward<T>(in, at(c.params, w_off_), at(c.params, b_off_), out, c.state, c.state + n, n, c_, eps_);
  }
  void backward(const T* in, const T*, T* dout, T* din, int64_t n, const OpCtx<T>& c) override {
    layernorm_backward<T>(in, at(c.params, w_off_), c.state, c.state + n, dout, din, at(c.grads, w_off_),
                          at(c.grads, b_off_), n, c_, eps_);
  }
  bool in_place_backward() const override { return false; }
  int64_t state_per_row() const override { return 2; }  // mean (n) then variance (n)
  std::vector<ParamRange> parameters() const override {
    std::vector<ParamRange> r;
    if (w_off_ >= 0) r.push_back({w_off_, c_, false});
    if (b_off_ >= 0) r.push_back({b_off_, c_, false});
    return r;
  }

 private:
  template <typename P> static P* at(P* base, int64_t off) { return off >= 0 ? base + off : nullptr; }
  int64_t c_, w_off_, b_off_;
  double eps_;
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
      {"gelu", make<T, ActivationOp<T, GeluKernels<T>>>},
      {"silu", make<T, ActivationOp<T, SiluKernels<T>>>},
      {"elu", make<T, ActivationOp<T, EluKernels<T>>>},
      {"softplus", make<T, ActivationOp<T, SoftplusKernels<T>>>},
      {"softmax", make<T, SoftmaxOp<T>>},
      {"dropout", make<T, DropoutOp<T>>},
      {"batchnorm", make<T, BatchNormOp<T>>},
      {"layernorm", make<T, LayerNormOp<T>>},
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
