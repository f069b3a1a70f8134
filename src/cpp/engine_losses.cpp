// The engine's losses, one class each over the kernels of losses.cpp, the generic sample-weighted
// form, and the registry that finds them by Python's name.
#include <algorithm>
#include <map>
#include <stdexcept>

#include "engine_units.hpp"
#include "losses.hpp"

namespace fastgd {

// Σ wᵢ ℓᵢ / Σ wᵢ, row by row through mean() (ℓᵢ = mean() of row i alone), gradient rows scaled
// by wᵢ / Σ wᵢ. Without weights: mean() itself, bit-identical to the unweighted kernels.
template <typename T>
double Loss<T>::loss(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const {
  if (!y.weights) return mean(out, y, dout, n, c);
  double total_w = 0, total = 0;
  for (int64_t i = 0; i < n; ++i) total_w += double(y.weights[i]);
  for (int64_t i = 0; i < n; ++i) {
    T* d = dout + i * c;
    const double w = double(y.weights[i]);
    if (total_w == 0 || w == 0) {  // Σw = 0: loss 0, zero gradient; wᵢ = 0 rows add nothing
      std::fill(d, d + c, T(0));
      continue;
    }
    Targets<T> row;
    if (y.labels) row.labels = y.labels + i;
    if (y.values) row.values = y.values + i * c;
    total += w * mean(out + i * c, row, d, 1, c);
    const T s = T(w / total_w);
    for (int64_t j = 0; j < c; ++j) d[j] *= s;
  }
  return total_w == 0 ? 0.0 : total / total_w;
}

namespace {

// ("mse"): mean of (p − t)² over all elements.
template <typename T>
class MseLoss final : public Loss<T> {
 public:
  explicit MseLoss(const UnitArgs& a) { a.expect(0, ""); }
  double mean(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return mse<T>(out, y.values, dout, n * c);
  }
  bool is_mse() const override { return true; }
};

// ("cross_entropy"): softmax + cross-entropy on logits, integer labels or class probabilities.
template <typename T>
class CrossEntropyLoss final : public Loss<T> {
 public:
  explicit CrossEntropyLoss(const UnitArgs& a) { a.expect(0, ""); }
  double mean(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return y.labels ? softmax_cross_entropy<T>(out, y.labels, dout, n, c)
                    : softmax_cross_entropy_probs<T>(out, y.values, dout, n, c);
  }
};

// ("bce_with_logits"): mean binary cross-entropy on logits over all elements.
template <typename T>
class BceWithLogitsLoss final : public Loss<T> {
 public:
  explicit BceWithLogitsLoss(const UnitArgs& a) { a.expect(0, ""); }
  double mean(const T* out, const Targets<T>& y, T* dout, int64_t n, int64_t c) const override {
    return bce_with_logits<T>(out, y.values, dout, n * c);
  }
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

template class Loss<float>;
template class Loss<double>;
template std::unique_ptr<Loss<float>> make_loss<float>(const UnitArgs&);
template std::unique_ptr<Loss<double>> make_loss<double>(const UnitArgs&);

}  // namespace fastgd
