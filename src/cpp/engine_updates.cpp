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

template <typename T>
T* required(const UpdateArgs<T>& a, const std::string& key) {
  T* p = state_of(a, key);
  if (!p) throw std::invalid_argument(a.name + " needs a " + key + " state array");
  return p;
}

// ("rmsprop"): torch.optim.RMSprop; grad_avg used when centered != 0, momentum_buffer when
// momentum > 0.
template <typename T>
class RmspropUpdate final : public Update<T> {
 public:
  explicit RmspropUpdate(const UpdateArgs<T>& a)
      : h_{a.get("lr"), a.get("alpha"), a.get("eps"), a.get("weight_decay"), a.get("momentum")},
        sq_(required(a, "square_avg")),
        ga_(a.get("centered") != 0 ? required(a, "grad_avg") : nullptr),
        buf_(h_.momentum > 0 ? required(a, "momentum_buffer") : nullptr),
        counter_(a.counter) {}
  void apply(T* params, const T* grads, int64_t n) override {
    rmsprop_step<T>(params, grads, sq_, ga_, buf_, n, h_);
    ++*counter_;
  }
  void set_lr(double lr) override { h_.lr = lr; }

 private:
  RmspropHyper h_;
  T *sq_, *ga_, *buf_;
  int64_t* counter_;
};

// ("adagrad"): torch.optim.Adagrad over the accumulator "sum".
template <typename T>
class AdagradUpdate final : public Update<T> {
 public:
  explicit AdagradUpdate(const UpdateArgs<T>& a)
      : h_{a.get("lr"), a.get("lr_decay"), a.get("weight_decay"), a.get("eps"), 0},
        sum_(required(a, "sum")), counter_(a.counter) {}
  void apply(T* params, const T* grads, int64_t n) override {
    AdagradHyper h = h_;
    h.step = ++*counter_;
    adagrad_step<T>(params, grads, sum_, n, h);
  }
  void set_lr(double lr) override { h_.lr = lr; }

 private:
  AdagradHyper h_;
  T* sum_;
  int64_t* counter_;
};

// ("nadam"): torch.optim.NAdam; the group's mu_product (a scalar it keeps, as torch does per
// parameter) advances by this step's mu before the update.
template <typename T>
class NadamUpdate final : public Update<T> {
 public:
  explicit NadamUpdate(const UpdateArgs<T>& a)
      : h_{a.get("lr"), a.get("beta1"), a.get("beta2"), a.get("eps"), a.get("weight_decay"),
           a.get("momentum_decay"), 1.0, 0, a.get("decoupled") != 0},
        m_(required(a, "exp_avg")), v_(required(a, "exp_avg_sq")), counter_(a.counter) {
    const auto it = a.scalars.find("mu_product");
    if (it == a.scalars.end() || !it->second) throw std::invalid_argument("nadam needs a mu_product scalar");
    mu_product_ = it->second;
  }
  void apply(T* params, const T* grads, int64_t n) override {
    NadamHyper h = h_;
    h.step = ++*counter_;
    *mu_product_ = nadam_mu_product(*mu_product_, nadam_mu(h.beta1, h.momentum_decay, h.step));
    h.mu_product = *mu_product_;
    nadam_step<T>(params, grads, m_, v_, n, h);
  }
  void set_lr(double lr) override { h_.lr = lr; }

 private:
  NadamHyper h_;
  T *m_, *v_;
  double* mu_product_;
  int64_t* counter_;
};

// ("radam"): torch.optim.RAdam.
template <typename T>
class RadamUpdate final : public Update<T> {
 public:
  explicit RadamUpdate(const UpdateArgs<T>& a)
      : h_{a.get("lr"), a.get("beta1"), a.get("beta2"), a.get("eps"), a.get("weight_decay"), 0,
           a.get("decoupled") != 0},
        m_(required(a, "exp_avg")), v_(required(a, "exp_avg_sq")), counter_(a.counter) {}
  void apply(T* params, const T* grads, int64_t n) override {
    RadamHyper h = h_;
    h.step = ++*counter_;
    radam_step<T>(params, grads, m_, v_, n, h);
  }
  void set_lr(double lr) override { h_.lr = lr; }

 private:
  RadamHyper h_;
  T *m_, *v_;
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
      {"rmsprop", make<T, RmspropUpdate<T>>},
      {"adagrad", make<T, AdagradUpdate<T>>},
      {"nadam", make<T, NadamUpdate<T>>},
      {"radam", make<T, RadamUpdate<T>>},
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
