// The fused training step: forward through a plan of op units, a loss unit, backward, an L2
// penalty, and the optimizer update units over one flat parameter buffer, with a workspace
// reused across steps. The units are in engine_units.hpp; this file only sequences them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine_units.hpp"

namespace fastgd {

// One epoch of training (Engine::epoch): what to walk and what to watch.
struct EpochArgs {
  int64_t batch_size = 32;
  const int64_t* order = nullptr;  // (rows,) the rows' visiting order, or nullptr: in order
  // Count correct predictions: none, argmax of the output against the label (or the argmax of
  // probability targets), or each output's (logit > 0) == (target > 0.5) (binary logits).
  enum class Accuracy { none, argmax, threshold } accuracy = Accuracy::none;
  // The batch's weight in the epoch's sums: its rows even with sample weights (scikit-learn's
  // epoch loss, a mean over batches weighted by their sizes), else its rows or Σ w.
  bool rows_weight = false;
  double divergence_factor = 0;    // stop after a batch whose loss is not finite or exceeds
                                   //   factor·max(first loss, 1); 0: never stop
  // Called every few batches (about every 10 ms), never from inside a step; returning true
  // stops the epoch after the batch just done (e.g. Ctrl-C). nullptr: never called.
  bool (*poll)(void*) = nullptr;
  void* poll_ctx = nullptr;
};

// What one epoch did: the sums fit's logs are made of, and where it stopped.
struct EpochResult {
  double loss_sum = 0, weight_sum = 0;  // Σ_b loss_b·W_b and Σ_b W_b (W_b: rows or Σ weights)
  double penalty_sum = 0;               // Σ_b l2_b·W_b, l2_b the L2 term in loss_b (last_l2())
  int64_t correct = 0, count = 0;       // correct predictions and predictions (accuracy)
  int64_t batches = 0;                  // batches done (all of them unless stopped)
  double last_loss = 0;                 // the loss of the last batch done
  bool diverged = false, interrupted = false;
};

template <typename T>
class Engine {
 public:
  // ops: the plan and loss: the loss, each by registry name and arguments.
  Engine(const std::vector<UnitArgs>& ops, const UnitArgs& loss, int64_t in_features);

  // External buffers (owned by NumPy arrays the binding keeps alive): parameters and gradients.
  // Throws std::invalid_argument when an op's parameters lie outside [0, size).
  void bind(T* params, T* grads, int64_t size);
  // Op k's persistent buffers (op(k).buffers()), bound by name; all must be bound before a run.
  void bind_buffer(size_t k, const std::string& name, void* data);
  const Op<T>& op(size_t k) const { return *ops_.at(k); }
  size_t num_ops() const { return ops_.size(); }

  // The optimizer: update units over ranges of the flat buffer (parameter groups). set_update
  // with the whole buffer replaces all groups; with a range, adds a group (ranges may not overlap).
  void set_update(int64_t offset, int64_t size, std::unique_ptr<Update<T>> unit);
  void clear_updates() { groups_.clear(); }
  void set_lr(double lr);             // every group
  void set_lr(size_t group, double lr);
  size_t num_groups() const { return groups_.size(); }
  void set_clip_norm(double c) { clip_norm_ = c; }
  // L2 penalty ½·λ·Σ‖W‖² over the ops' decayed ranges (Linear weights), added to loss and grads.
  // per_weight: λ = lam / (the batch's Σ wᵢ, or its rows), set anew at every step (scikit-learn's
  // ½·alpha·Σ‖W‖² / n_batch); a batch weighing nothing gets none.
  void set_l2(double lam, bool per_weight = false) { l2_ = lam, l2_per_weight_ = per_weight; }
  // The L2 term ½·λ·Σ‖W‖² of the last loss (at the weights before its update; 0 without L2).
  double last_l2() const { return last_l2_; }
  // The random stream the ops read (OpCtx::seed/step); the step counter restarts at `step`.
  void set_seed(uint64_t seed, int64_t step = 0) { seed_ = seed, rng_step_ = step; }
  int64_t rng_step() const { return rng_step_; }

  // One forward + loss + backward (gradients overwritten) + update. Returns the batch loss.
  double step(const T* X, int64_t n, const Targets<T>& y);
  // A whole epoch over `rows` samples (X: rows × in_features, y: the whole data's targets):
  // batches of args.batch_size rows taken in args.order, each gathered into the workspace and
  // trained by step() (skipped, loss 0, when its weights sum to 0), exactly the steps of the
  // Python loop over the same batches. first_loss: the run's first batch loss (NaN: none yet,
  // then set by the first batch), the divergence check's reference.
  EpochResult epoch(const T* X, int64_t rows, const Targets<T>& y, int64_t y_width, const EpochArgs& args,
                    double& first_loss);
  // Forward only, into out (n × output width); eval mode unless training.
  void forward(const T* X, int64_t n, T* out, bool training = false);
  // Forward (train mode) + loss + backward, no update (gradients overwritten). Returns the loss.
  double loss_and_grad(const T* X, int64_t n, const Targets<T>& y);
  // The update alone, from whatever the gradient buffer holds: clip by the global norm (when
  // set), then each group's optimizer step. step() = loss_and_grad() + update(); data-parallel
  // training averages the gradients across processes in between.
  void update();

  // The same three with a CSR batch (X.rows rows of in_features() columns, checked by the caller:
  // csr_check) as the input of the first op, which must take one (a Linear; else
  // std::invalid_argument): its sparse forward/backward (sparse.hpp), the rest of the plan, the
  // loss and the update as above. (engine_sparse.cpp)
  double step_csr(const CsrRef<T>& X, const Targets<T>& y);
  double loss_and_grad_csr(const CsrRef<T>& X, const Targets<T>& y);
  void forward_csr(const CsrRef<T>& X, T* out, bool training = false);

  // The output of the last forward (last_rows() × out_features()), valid until the next call.
  const T* last_output() const { return outs_.back().data(); }
  int64_t last_rows() const { return last_rows_; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return width_.back(); }
  int64_t workspace_allocations() const { return allocations_; }
  double last_grad_norm() const { return grad_norm_; }

 private:
  struct Group {
    int64_t offset, size;
    std::unique_ptr<Update<T>> unit;
  };
  OpCtx<T> context(bool training) const;  // the ops' view of the parameters, seed and step
  // Ops k0.. forward from `cur` (n rows, the workspace reserved); returns the last op's output.
  const T* forward_from(size_t k0, const T* cur, int64_t n, bool training);
  // The loss of the last output into the gradient workspace, then ops down to k_end backward
  // (X: op 0's input, read when k_end = 0); *dout (if given): the gradient at the output of op
  // k_end - 1 (k_end = 1: of the first op, which the caller then takes backward itself).
  double backward_to(size_t k_end, const T* X, int64_t n, const Targets<T>& y, T** dout);
  const T* run_forward(const T* X, int64_t n, bool training);
  double run_backward(const T* X, int64_t n, const Targets<T>& y);
  const T* run_forward_csr(const CsrRef<T>& X, bool training);
  double run_backward_csr(const CsrRef<T>& X, const Targets<T>& y);
  void require_csr() const;
  double add_l2(const Targets<T>& y, int64_t n);
  void reserve(int64_t n);
  void require_ready() const;

  std::vector<std::unique_ptr<Op<T>>> ops_;
  std::unique_ptr<Loss<T>> loss_;
  std::vector<int64_t> width_;  // width_[k]: width of op k's output
  std::vector<ParamRange> decay_;  // the ranges the L2 penalty applies to
  std::vector<std::vector<char>> unbound_;  // per op, per buffer: not bound yet
  bool fast_mse_ = false;  // the plan is one op that fuses with the MSE loss
  int64_t in_;
  T* params_ = nullptr;
  T* grads_ = nullptr;
  int64_t size_ = 0;
  std::vector<Group> groups_;
  double clip_norm_ = 0, grad_norm_ = 0, l2_ = 0, last_l2_ = 0;
  bool l2_per_weight_ = false;
  uint64_t seed_ = 0;
  int64_t rng_step_ = 0;
  // Workspace: each op's output and per-step state (capacity rows), two gradient ping-pong buffers.
  int64_t capacity_ = 0, allocations_ = 0, max_width_ = 0, last_rows_ = 0;
  std::vector<std::vector<T>> outs_, states_;
  std::vector<T> g0_, g1_;
  // The epoch's gathered batch: inputs, labels, target values and weights.
  std::vector<T> batch_x_, batch_values_, batch_w_;
  std::vector<int64_t> batch_labels_;
};

}  // namespace fastgd
