// Engine::epoch: fit's inner loop over batches in C++. Each batch is gathered into the workspace
// and trained by step(), so the weights are bit-identical to a Python loop of step() calls over
// the same batches; the sums fit's logs need are kept on the way.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine.hpp"

namespace fastgd {

namespace {

// np.argmax of one row: the first maximum, or the first NaN.
template <typename T>
int64_t argmax(const T* r, int64_t c) {
  int64_t best = 0;
  T v = r[0];
  if (std::isnan(v)) return 0;
  for (int64_t j = 1; j < c; ++j) {
    if (std::isnan(r[j])) return j;
    if (r[j] > v) v = r[j], best = j;
  }
  return best;
}

// Calls args.poll about every 10 ms: the clock is read every `stride_` batches, a stride that
// doubles while that is far below 10 ms (a 2 µs step reads it every few hundred batches) and
// halves when it is above.
class Poller {
 public:
  explicit Poller(const EpochArgs& a) : a_(a), last_(clock::now()) {}
  bool stop() {
    if (!a_.poll || ++since_ < stride_) return false;
    since_ = 0;
    const auto now = clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    if (ms < 1 && stride_ < 4096) stride_ *= 2;
    if (ms < 10) return false;
    if (ms > 20 && stride_ > 1) stride_ /= 2;
    last_ = now;
    return a_.poll(a_.poll_ctx);
  }

 private:
  using clock = std::chrono::steady_clock;
  const EpochArgs& a_;
  clock::time_point last_;
  int64_t stride_ = 1, since_ = 0;
};

}  // namespace

template <typename T>
EpochResult Engine<T>::epoch(const T* X, int64_t rows, const Targets<T>& y, int64_t y_width,
                             const EpochArgs& args, double& first_loss) {
  require_ready();
  EpochResult r;
  const int64_t bs = std::max<int64_t>(1, std::min(args.batch_size, rows)), in = in_, c = out_features();
  const int64_t* order = args.order;
  if (order) {
    batch_x_.resize(size_t(bs * in));
    if (y.labels) batch_labels_.resize(size_t(bs));
    if (y.values) batch_values_.resize(size_t(bs * y_width));
  }
  if (y.weights) batch_w_.resize(size_t(bs));
  Poller poller(args);
  for (int64_t lo = 0; lo < rows; lo += bs) {
    const int64_t n = std::min(bs, rows - lo);
    Targets<T> t;
    const T* x = X + lo * in;
    if (order) {  // gather the batch's rows: X[order[lo:lo+n]], and the same of y and w
      const int64_t* idx = order + lo;
      T* bx = batch_x_.data();
      for (int64_t i = 0; i < n; ++i) std::copy(X + idx[i] * in, X + (idx[i] + 1) * in, bx + i * in);
      x = bx;
      if (y.labels) {
        for (int64_t i = 0; i < n; ++i) batch_labels_[size_t(i)] = y.labels[idx[i]];
        t.labels = batch_labels_.data();
      }
      if (y.values) {
        T* bv = batch_values_.data();
        for (int64_t i = 0; i < n; ++i)
          std::copy(y.values + idx[i] * y_width, y.values + (idx[i] + 1) * y_width, bv + i * y_width);
        t.values = bv;
      }
      if (y.weights) {
        for (int64_t i = 0; i < n; ++i) batch_w_[size_t(i)] = y.weights[idx[i]];
        t.weights = batch_w_.data();
      }
    } else {
      if (y.labels) t.labels = y.labels + lo;
      if (y.values) t.values = y.values + lo * y_width;
      if (y.weights) t.weights = y.weights + lo;
    }
    // The batch's weight in the epoch's mean: its rows, or Σ w (a batch of zero weight is not
    // trained, as Trainer.step does: no forward, no update, loss 0).
    double wsum = double(n);
    bool train = true;
    if (t.weights) {
      wsum = 0;
      for (int64_t i = 0; i < n; ++i) wsum += double(t.weights[i]);
      train = wsum > 0;
    }
    const double value = train ? step(x, n, t) : 0.0;
    const double bw = args.rows_weight ? double(n) : wsum;
    r.loss_sum += value * bw;
    r.weight_sum += bw;
    if (train) r.penalty_sum += last_l2_ * bw;
    r.last_loss = value;
    ++r.batches;
    if (args.accuracy != EpochArgs::Accuracy::none && train) {
      const T* out = last_output();
      if (args.accuracy == EpochArgs::Accuracy::argmax) {  // argmax of the logits == the class
        for (int64_t i = 0; i < n; ++i) {
          const int64_t truth = t.labels ? t.labels[i] : argmax(t.values + i * y_width, y_width);
          r.correct += argmax(out + i * c, c) == truth;
        }
        r.count += n;
      } else {  // each output: (logit > 0) == (target > 0.5)
        for (int64_t i = 0; i < n * c; ++i) r.correct += (out[i] > 0) == (t.values[i] > T(0.5));
        r.count += n * c;
      }
    }
    if (args.divergence_factor > 0 &&
        (!std::isfinite(value) ||
         (!std::isnan(first_loss) && value > args.divergence_factor * std::max(first_loss, 1.0)))) {
      r.diverged = true;
      return r;
    }
    if (std::isnan(first_loss)) first_loss = value;
    if (lo + n < rows && poller.stop()) {
      r.interrupted = true;
      return r;
    }
  }
  return r;
}

template EpochResult Engine<float>::epoch(const float*, int64_t, const Targets<float>&, int64_t, const EpochArgs&,
                                          double&);
template EpochResult Engine<double>::epoch(const double*, int64_t, const Targets<double>&, int64_t, const EpochArgs&,
                                           double&);

}  // namespace fastgd
