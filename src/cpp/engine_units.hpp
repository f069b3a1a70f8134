// The units the fused engine is made of: layer ops, losses and optimizer updates, each one small
// class behind an interface, found by name in a registry. Adding one = its class in
// engine_ops.cpp / engine_losses.cpp / engine_updates.cpp + one registry line there.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sparse.hpp"

namespace fastgd {

// The arguments of a unit as Python gave them (all numbers; buffers are bound separately).
struct UnitArgs {
  std::string name;
  std::vector<double> values;
  // Throws std::invalid_argument "<name> takes <n> arguments <what>, got <m>" unless size() == n.
  void expect(size_t n, const char* what) const;
  double number(size_t i) const { return values.at(i); }
  int64_t integer(size_t i) const;  // throws std::invalid_argument unless a whole number
};

// What an op sees of the engine during one forward/backward.
template <typename T>
struct OpCtx {
  T* params = nullptr;      // the flat parameter buffer (offsets come from the op's arguments)
  T* grads = nullptr;       // the flat gradient buffer, overwritten by backward
  bool training = true;     // train mode (the training step) or eval mode (forward/predict)
  uint64_t seed = 0;        // the random stream: set_seed()'s seed and the training-step counter,
  int64_t step = 0;         //   advanced once per training forward (e.g. a Dropout mask's hash)
  T* state = nullptr;       // this op's per-step state, rows × state_per_row() values, kept
                            //   from its forward to its backward (engine workspace, reused)
};

// A range of the flat parameter buffer an op reads; `decay`: an L2 penalty applies (weights,
// not biases).
struct ParamRange {
  int64_t offset, size;
  bool decay;
};

// A persistent buffer of an op (e.g. BatchNorm's running_mean): `size` values of the net's dtype
// (or int64), owned by a NumPy array of the Python layer and written in place by the op.
struct BufferSpec {
  std::string name;
  int64_t size;
  bool int64 = false;
};

// One layer of the plan. The engine fixes the widths (configure), owns the activations and the
// per-step state, and calls forward in order, backward in reverse order.
template <typename T>
class Op {
 public:
  virtual ~Op() = default;
  // Output width for an input of width `in`; throws std::invalid_argument when it does not fit.
  virtual int64_t configure(int64_t in) { return in; }
  // out (n × out_width) from in (n × in_width), both C-contiguous.
  virtual void forward(const T* in, T* out, int64_t n, const OpCtx<T>& ctx) = 0;
  // From dout (n × out_width; the op may overwrite it): parameter gradients into ctx.grads and,
  // unless din is nullptr (the first op), din (n × in_width). din == dout when
  // in_place_backward() (elementwise ops), else a separate buffer.
  virtual void backward(const T* in, const T* out, T* dout, T* din, int64_t n, const OpCtx<T>& ctx) = 0;
  virtual bool in_place_backward() const { return true; }
  // Per-step state values per batch row (see OpCtx::state).
  virtual int64_t state_per_row() const { return 0; }
  // The ranges of the parameter buffer it reads (checked against the bound buffer's size).
  virtual std::vector<ParamRange> parameters() const { return {}; }
  virtual std::vector<BufferSpec> buffers() const { return {}; }
  // data: the bound array's memory, of buffers()[i] whose name is `name`.
  virtual void bind_buffer(const std::string& /*name*/, void* /*data*/) {}
  // The linear-regression fast path: when the whole net is this op and the loss is MSE, the
  // loss and gradients in one pass over X (fuses_mse() says whether it can).
  virtual bool fuses_mse() const { return false; }
  virtual double fused_mse(const T* /*X*/, const T* /*y*/, int64_t /*n*/, const OpCtx<T>& /*ctx*/) { return 0; }
  // Sparse input (the first op only, Engine::step_csr): forward from a CSR batch into out
  // (X.rows × out_width), and backward's parameter gradients from dout (no din: the CSR batch is
  // the data). takes_csr() says whether the op has them.
  virtual bool takes_csr() const { return false; }
  virtual void forward_csr(const CsrRef<T>& /*X*/, T* /*out*/, const OpCtx<T>& /*ctx*/) {}
  virtual void backward_csr(const CsrRef<T>& /*X*/, const T* /*dout*/, const OpCtx<T>& /*ctx*/) {}

  int64_t in_width = 0, out_width = 0;  // set by the engine from configure()
};

// Targets of one step: class labels (cross-entropy) or values/probabilities of the output's size,
// and optional per-sample weights.
template <typename T>
struct Targets {
  const int64_t* labels = nullptr;  // (n,) already range-checked
  const T* values = nullptr;        // (n, width of the output)
  const T* weights = nullptr;       // (n,) finite, >= 0; nullptr: unweighted
};

// A loss: loss() is the batch loss with dout its gradient; with weights Σ wᵢ ℓᵢ / Σ wᵢ (ℓᵢ the
// loss of row i alone, a mean over its outputs where the loss is), dout row i = wᵢ ∂ℓᵢ / Σ wᵢ,
// Σ w = 0 giving 0 and a zero gradient: the sample-weighted kernels of losses.hpp, which are the
// unweighted ones, bit-identical, when y.weights is nullptr.
template <typename T>
class Loss {
 public:
  virtual ~Loss() = default;
  // The output width c the loss will see; throws std::invalid_argument when its arguments do not
  // fit (e.g. class weights of another length).
  virtual void configure(int64_t /*c*/) {}
  virtual double loss(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const = 0;
  virtual bool is_mse() const { return false; }
};

// An optimizer update of one range of the flat buffer (a parameter group): params/grads point at
// the range's start, its state arrays (given at construction) are the range's size.
template <typename T>
class Update {
 public:
  virtual ~Update() = default;
  virtual void apply(T* params, const T* grads, int64_t n) = 0;
  virtual void set_lr(double lr) = 0;
};

// What an update unit is built from: hyper-parameters and state arrays by name, the step counter.
template <typename T>
struct UpdateArgs {
  std::string name;
  std::map<std::string, double> hyper;
  std::map<std::string, T*> state;  // absent or nullptr: not used (e.g. no momentum)
  std::map<std::string, double*> scalars;  // per-group numbers the update keeps (NAdam's mu_product)
  int64_t* counter = nullptr;       // torch's state "step": updates done so far
  double get(const std::string& key) const;  // throws std::invalid_argument when missing
};

// The registries: name -> unit. Throw std::invalid_argument for an unknown name or bad arguments.
template <typename T> std::unique_ptr<Op<T>> make_op(const UnitArgs& args);
template <typename T> std::unique_ptr<Loss<T>> make_loss(const UnitArgs& args);
template <typename T> std::unique_ptr<Update<T>> make_update(const UpdateArgs<T>& args);
std::vector<std::string> op_names();

}  // namespace fastgd
