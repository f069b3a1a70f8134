// The engine's losses, one class each over the sample-weighted kernels of losses.cpp, and the
// registry that finds them by Python's name. A loss's numbers are its constructor arguments.
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine_units.hpp"
#include "losses.hpp"

namespace fastgd {

namespace {

// Optional per-class / per-output weights given as trailing numbers: none, or exactly c of them.
template <typename T>
struct WeightVector {
  std::vector<T> w;
  const T* data() const { return w.empty() ? nullptr : w.data(); }
  void check(const char* loss, const char* arg, int64_t c, bool one_ok) const {
    if (!w.empty() && int64_t(w.size()) != c && !(one_ok && w.size() == 1))
      throw std::invalid_argument(std::string(loss) + " " + arg + " has " + std::to_string(w.size()) +
                                  " entries, the net has " + std::to_string(c) + " outputs");
  }
};

template <typename T>
WeightVector<T> tail(const UnitArgs& a, size_t from) {
  WeightVector<T> v;
  for (size_t i = from; i < a.values.size(); ++i) v.w.push_back(T(a.values[i]));
  return v;
}

// ("mse"): mean of (p − t)² over all elements.
template <typename T>
class MseLoss final : public Loss<T> {
 public:
  explicit MseLoss(const UnitArgs& a) { a.expect(0, ""); }
  double loss(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return mse<T>(out, y.values, dout, n, c, y.weights);
  }
  bool is_mse() const override { return true; }
};

// ("cross_entropy", label_smoothing, *class_weights): softmax + cross-entropy on logits, integer
// labels or class probabilities; torch's weighted mean and smoothing.
template <typename T>
class CrossEntropyLoss final : public Loss<T> {
 public:
  explicit CrossEntropyLoss(const UnitArgs& a) {
    if (a.values.empty()) return;
    smoothing_ = T(a.number(0));
    weight_ = tail<T>(a, 1);
  }
  void configure(int64_t c) override { weight_.check("cross_entropy", "weight", c, false); }
  double loss(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return y.labels
               ? softmax_cross_entropy<T>(out, y.labels, dout, n, c, weight_.data(), smoothing_, y.weights)
               : softmax_cross_entropy_probs<T>(out, y.values, dout, n, c, weight_.data(), smoothing_, y.weights);
  }

 private:
  T smoothing_ = T(0);
  WeightVector<T> weight_;
};

// ("bce_with_logits", *pos_weight): mean binary cross-entropy on logits over all elements.
template <typename T>
class BceWithLogitsLoss final : public Loss<T> {
 public:
  explicit BceWithLogitsLoss(const UnitArgs& a) : pos_weight_(tail<T>(a, 0)) {}
  void configure(int64_t c) override {
    pos_weight_.check("bce_with_logits", "pos_weight", c, true);
    if (pos_weight_.w.size() == 1) pos_weight_.w.assign(size_t(c), pos_weight_.w[0]);  // broadcast
  }
  double loss(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return bce_with_logits<T>(out, y.values, dout, n, c, pos_weight_.data(), y.weights);
  }

 private:
  WeightVector<T> pos_weight_;
};

// ("l1"): mean |p − t|.
template <typename T>
class L1Loss final : public Loss<T> {
 public:
  explicit L1Loss(const UnitArgs& a) { a.expect(0, ""); }
  double loss(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return l1<T>(out, y.values, dout, n, c, y.weights);
  }
};

// ("huber", delta).
template <typename T>
class HuberLoss final : public Loss<T> {
 public:
  explicit HuberLoss(const UnitArgs& a) {
    a.expect(1, "(delta)");
    delta_ = T(a.number(0));
    if (!(delta_ > T(0))) throw std::invalid_argument("huber delta must be > 0");
  }
  double loss(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return huber<T>(out, y.values, dout, n, c, delta_, y.weights);
  }

 private:
  T delta_;
};

// ("smooth_l1", beta).
template <typename T>
class SmoothL1Loss final : public Loss<T> {
 public:
  explicit SmoothL1Loss(const UnitArgs& a) {
    a.expect(1, "(beta)");
    beta_ = T(a.number(0));
    if (!(beta_ >= T(0))) throw std::invalid_argument("smooth_l1 beta must be >= 0");
  }
  double loss(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return smooth_l1<T>(out, y.values, dout, n, c, beta_, y.weights);
  }

 private:
  T beta_;
};

// ("poisson_nll", log_input, full, eps).
template <typename T>
class PoissonNllLoss final : public Loss<T> {
 public:
  explicit PoissonNllLoss(const UnitArgs& a) {
    a.expect(3, "(log_input, full, eps)");
    log_input_ = a.number(0) != 0, full_ = a.number(1) != 0, eps_ = T(a.number(2));
  }
  double loss(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return poisson_nll<T>(out, y.values, dout, n, c, log_input_, full_, eps_, y.weights);
  }

 private:
  bool log_input_, full_;
  T eps_;
};

template <typename T> using LossFactory = std::unique_ptr<Loss<T>> (*)(const UnitArgs&);
template <typename T, typename U> std::unique_ptr<Loss<T>> make(const UnitArgs& a) { return std::make_unique<U>(a); }

// The registry: Python's loss name -> factory. One line per loss.
template <typename T>
const std::map<std::string, LossFactory<T>>& registry() {
  static const std::map<std::string, LossFactory<T>> r{
      {"mse", make<T, MseLoss<T>>},
      {"cross_entropy", make<T, CrossEntropyLoss<T>>},
      {"bce_with_logits", make<T, BceWithLogitsLoss<T>>},
      {"l1", make<T, L1Loss<T>>},
      {"huber", make<T, HuberLoss<T>>},
      {"smooth_l1", make<T, SmoothL1Loss<T>>},
      {"poisson_nll", make<T, PoissonNllLoss<T>>},
  };
  return r;
}

}  // namespace

template <typename T>
std::unique_ptr<Loss<T>> make_loss(const UnitArgs& args) {
  const auto& r = registry<T>();
  const auto it = r.find(args.name);
  if (it == r.end()) throw std::invalid_argument("unknown loss '" + args.name + "'");
  return it->second(args);
}

template std::unique_ptr<Loss<float>> make_loss<float>(const UnitArgs&);
template std::unique_ptr<Loss<double>> make_loss<double>(const UnitArgs&);

}  // namespace fastgd
