// The engine's optimizer updates, one class each over the kernels of optim.cpp, applied to one
// range of the flat buffer (a parameter group), and the registry that finds them by name.
#include <map>
#include <stdexcept>

#include "engine_units.hpp"
#include "optim.hpp"

namespace fastgd {

template <typename T>
double UpdateArgs<T>::get(const std::string& key) const {
  const auto it = hyper.find(key);
  if (it == hyper.end()) throw std::invalid_argument("optimizer '" + name + "' needs hyper-parameter '" + key + "'");
  return it->second;
}

namespace {

template <typename T>
T* state_of(const UpdateArgs<T>& a, const std::string& key) {
  const auto it = a.state.find(key);
  return it == a.state.end() ? nullptr : it->second;
}

// ("sgd"): torch.optim.SGD; momentum_buffer used when momentum != 0.
template <typename T>
class SgdUpdate final : public Update<T> {
 public:
  explicit SgdUpdate(const UpdateArgs<T>& a)
      : h_{a.get("lr"), a.get("momentum"), a.get("dampening"), a.get("weight_decay"), a.get("nesterov") != 0, false},
        buf_(h_.momentum != 0 ? state_of(a, "momentum_buffer") : nullptr),
        counter_(a.counter) {
    if (h_.momentum != 0 && !buf_) throw std::invalid_argument("sgd with momentum needs a momentum_buffer");
  }
  void apply(T* params, const T* grads, int64_t n) override {
    SgdHyper h = h_;
    h.init_buffer = *counter_ == 0;
    sgd_step<T>(params, grads, buf_, n, h);
    ++*counter_;
  }
  void set_lr(double lr) override { h_.lr = lr; }

 private:
  SgdHyper h_;
  T* buf_;
  int64_t* counter_;
};

// ("adam"): torch.optim.Adam / AdamW (decoupled != 0); max_exp_avg_sq given: amsgrad.
template <typename T>
class AdamUpdate final : public Update<T> {
 public:
  explicit AdamUpdate(const UpdateArgs<T>& a)
      : h_{a.get("lr"), a.get("beta1"), a.get("beta2"), a.get("eps"), a.get("weight_decay"), 0, a.get("decoupled") != 0},
        m_(state_of(a, "exp_avg")), v_(state_of(a, "exp_avg_sq")), vmax_(state_of(a, "max_exp_avg_sq")),
        counter_(a.counter) {
    if (!m_ || !v_) throw std::invalid_argument("adam needs exp_avg and exp_avg_sq");
  }
  void apply(T* params, const T* grads, int64_t n) override {
    AdamHyper h = h_;
    h.step = ++*counter_;
    adam_step<T>(params, grads, m_, v_, vmax_, n, h);
  }
  void set_lr(double lr) override { h_.lr = lr; }

 private:
  AdamHyper h_;
  T *m_, *v_, *vmax_;
  int64_t* counter_;
};

template <typename T> using UpdateFactory = std::unique_ptr<Update<T>> (*)(const UpdateArgs<T>&);
template <typename T, typename U> std::unique_ptr<Update<T>> make(const UpdateArgs<T>& a) {
  return std::make_unique<U>(a);
}

// The registry: optimizer name -> factory. One line per optimizer.
template <typename T>
const std::map<std::string, UpdateFactory<T>>& registry() {
  static const std::map<std::string, UpdateFactory<T>> r{
      {"sgd", make<T, SgdUpdate<T>>},
      {"adam", make<T, AdamUpdate<T>>},
  };
  return r;
}

}  // namespace

template <typename T>
std::unique_ptr<Update<T>> make_update(const UpdateArgs<T>& args) {
  if (!args.counter) throw std::invalid_argument("optimizer '" + args.name + "' needs a step counter");
  const auto& r = registry<T>();
  const auto it = r.find(args.name);
  if (it == r.end()) throw std::invalid_argument("unknown optimizer '" + args.name + "'");
  return it->second(args);
}

template struct UpdateArgs<float>;
template struct UpdateArgs<double>;
template std::unique_ptr<Update<float>> make_update<float>(const UpdateArgs<float>&);
template std::unique_ptr<Update<double>> make_update<double>(const UpdateArgs<double>&);

}  // namespace fastgd
