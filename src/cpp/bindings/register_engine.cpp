#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include <algorithm>
#include <limits>
#include <memory>
#include <variant>

#include "engine.hpp"

namespace fastgd {

using namespace bind;

namespace {

// The Python-facing engine: one Engine<float> or Engine<double>, and the NumPy arrays whose
// memory it updates (kept alive here so the pointers stay valid).
class PyEngine {
  // Run f(engine, dtype tag) on the engine of this dtype (defined first: its return type is deduced).
  template <typename F>
  decltype(auto) visit(F&& f) {
    if (dt_ == DType::f32) return f(*std::get<0>(eng_), float{});
    return f(*std::get<1>(eng_), double{});
  }

 public:
  PyEngine(const std::string& dtype, const py::list& ops, const std::string& loss, int64_t in_features) {
    if (dtype == "float32") dt_ = DType::f32;
    else if (dtype == "float64") dt_ = DType::f64;
    else throw py::value_error("Engine: dtype must be 'float32' or 'float64', got '" + dtype + "'");
    if (loss == "mse") loss_ = LossKind::MSE;
    else if (loss == "cross_entropy") loss_ = LossKind::CrossEntropy;
    else if (loss == "bce_with_logits") loss_ = LossKind::BCEWithLogits;
    else throw py::value_error("Engine: unknown loss '" + loss + "'");
    std::vector<OpSpec> spec;
    for (py::handle h : ops) {
      auto t = h.cast<py::tuple>();
      const auto name = t[0].cast<std::string>();
      OpSpec op{};
      if (name == "linear") {
        op.kind = OpKind::Linear;
        op.in = t[1].cast<int64_t>(), op.out = t[2].cast<int64_t>();
        op.w_off = t[3].cast<int64_t>(), op.b_off = t[4].cast<int64_t>();
      } else if (name == "relu") op.kind = OpKind::ReLU;
      else if (name == "leaky_relu") op.kind = OpKind::LeakyReLU, op.slope = t[1].cast<double>();
      else if (name == "sigmoid") op.kind = OpKind::Sigmoid;
      else if (name == "tanh") op.kind = OpKind::Tanh;
      else if (name == "identity") op.kind = OpKind::Identity;
      else throw py::value_error("Engine: unknown layer '" + name + "'");
      spec.push_back(op);
    }
    try {
      if (dt_ == DType::f32) eng_ = std::make_unique<Engine<float>>(spec, loss_, in_features);
      else eng_ = std::make_unique<Engine<double>>(spec, loss_, in_features);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(std::string("Engine: ") + e.what());
    }
    spec_ = spec;
  }

  void bind(py::handle params, py::handle grads) {
    const char* fn = "Engine.bind";
    params_ = flat_buffer(params, fn, "params");
    grads_ = flat_buffer(grads, fn, "grads");
    require_shape(fn, "grads", grads_, params_, "params");
    for (const OpSpec& op : spec_) {
      if (op.kind != OpKind::Linear) continue;
      const int64_t end = std::max(op.w_off + op.in * op.out, op.b_off >= 0 ? op.b_off + op.out : 0);
      if (op.w_off < 0 || end > params_.size())
        throw py::value_error(std::string(fn) + ": a Linear layer's weights lie outside params of size " +
                              std::to_string(params_.size()));
    }
    visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      e.bind(ptr<T>(params_), ptr<T>(grads_), params_.size());
    });
    bound_ = true;
  }

  void set_sgd(double lr, double momentum, double dampening, bool nesterov, double wd, py::handle buf,
               py::handle counter) {
    const char* fn = "Engine.set_sgd";
    require_bound(fn);
    buf_ = momentum != 0 ? flat_buffer(buf, fn, "momentum_buffer") : py::array();
    if (momentum != 0) require_shape(fn, "momentum_buffer", buf_, params_, "params");
    counter_ = counter_array(counter, fn);
    visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      e.set_sgd({lr, momentum, dampening, wd, nesterov, false}, momentum != 0 ? ptr<T>(buf_) : nullptr,
                counter_.mutable_data());
    });
  }

  void set_adam(double lr, double beta1, double beta2, double eps, double wd, bool decoupled, py::handle m,
                py::handle v, py::handle vmax, py::handle counter) {
    const char* fn = "Engine.set_adam";
    require_bound(fn);
    m_ = flat_buffer(m, fn, "exp_avg");
    v_ = flat_buffer(v, fn, "exp_avg_sq");
    require_shape(fn, "exp_avg", m_, params_, "params");
    require_shape(fn, "exp_avg_sq", v_, params_, "params");
    const bool amsgrad = !vmax.is_none();
    if (amsgrad) {
      vmax_ = flat_buffer(vmax, fn, "max_exp_avg_sq");
      require_shape(fn, "max_exp_avg_sq", vmax_, params_, "params");
    }
    counter_ = counter_array(counter, fn);
    visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      e.set_adam({lr, beta1, beta2, eps, wd, 0, decoupled}, ptr<T>(m_), ptr<T>(v_),
                 amsgrad ? ptr<T>(vmax_) : nullptr, counter_.mutable_data());
    });
  }

  void set_lr(double lr) { visit([&](auto& e, auto) { e.set_lr(lr); }); }
  void set_clip_norm(double c) { visit([&](auto& e, auto) { e.set_clip_norm(c); }); }

  double step(py::handle X, py::handle y) { return run("Engine.step", X, y, true); }
  double loss_and_grad(py::handle X, py::handle y) { return run("Engine.loss_and_grad", X, y, false); }

  void update() {
    require_bound("Engine.update");
    visit([&](auto& e, auto) {
      py::gil_scoped_release release;
      e.update();
    });
  }

  py::array forward(py::handle X_) {
    const char* fn = "Engine.forward";
    require_bound(fn);
    py::array X = input(X_, fn);
    const int64_t n = X.shape(0);
    py::array out(py::dtype(dtype_name(dt_)), std::vector<py::ssize_t>{n, out_features()});
    visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      const T* x = cptr<T>(X);
      T* o = ptr<T>(out);
      py::gil_scoped_release release;
      e.forward(x, n, o);
    });
    return out;
  }

  py::array last_output() {
    return visit([&](auto& e, auto tag) -> py::array {
      using T = decltype(tag);
      const int64_t n = e.last_rows(), c = e.out_features();
      py::array out(py::dtype(dtype_name(dt_)), std::vector<py::ssize_t>{n, c});
      if (n) std::copy(e.last_output(), e.last_output() + n * c, ptr<T>(out));
      return out;
    });
  }

  int64_t allocations() { return visit([&](auto& e, auto) { return e.workspace_allocations(); }); }
  double grad_norm() { return visit([&](auto& e, auto) { return e.last_grad_norm(); }); }
  int64_t out_features() { return visit([&](auto& e, auto) { return e.out_features(); }); }
  int64_t in_features() { return visit([&](auto& e, auto) { return e.in_features(); }); }

 private:
  void require_bound(const char* fn) {
    if (!bound_) throw py::value_error(std::string(fn) + ": call bind(params, grads) first");
  }

  py::array flat_buffer(py::handle obj, const char* fn, const char* arg) {
    py::array a = float_array(obj, fn, arg);
    if (dtype_of(a) != dt_)
      throw py::type_error(std::string(fn) + ": " + arg + " must be " + dtype_name(dt_) + ", got " +
                           dtype_name(dtype_of(a)));
    if (a.ndim() != 1 || !(a.flags() & py::array::c_style) || !a.writeable() || !is_aligned(a))
      throw py::value_error(std::string(fn) + ": " + arg + " must be a writable, aligned, contiguous 1-D array, got " +
                            describe(a));
    return a;
  }

  py::array_t<int64_t> counter_array(py::handle obj, const char* fn) {
    if (!py::isinstance<py::array_t<int64_t>>(obj))
      throw py::type_error(std::string(fn) + ": counter must be an int64 array of shape (), got " + describe(obj));
    auto c = py::reinterpret_borrow<py::array_t<int64_t>>(obj);
    if (c.ndim() != 0 || !c.writeable() || !is_aligned(c))
      throw py::value_error(std::string(fn) + ": counter must be a writable, aligned int64 array of shape ()");
    return c;
  }

  py::array input(py::handle X_, const char* fn) {
    py::array X = float_array(X_, fn, "X");
    if (dtype_of(X) != dt_)
      throw py::type_error(std::string(fn) + ": X must be " + dtype_name(dt_) + " (the net's dtype), got " +
                           dtype_name(dtype_of(X)));
    if (X.ndim() != 2 || X.shape(1) != in_features())
      throw py::value_error(std::string(fn) + ": X must have shape (n_samples, " + std::to_string(in_features()) +
                            "), got " + shape_str(X));
    return c_contiguous(X);
  }

  // The value checks of losses.py's check_targets: class probabilities finite and >= 0, BCE
  // targets in [0, 1] (NaN fails both). One pass over the targets, before any compute.
  void check_target_values(const char* fn, const py::array& y) const {
    if (loss_ == LossKind::MSE || y.size() == 0) return;
    const bool bce = loss_ == LossKind::BCEWithLogits;
    bool ok = true;
    double lo = 0, hi = 0;
    dispatch(dtype_of(y), [&](auto tag) {
      using T = decltype(tag);
      const T* v = cptr<T>(y);
      const int64_t m = y.size();
      lo = hi = double(v[0]);
      for (int64_t i = 0; i < m; ++i) {
        const double x = double(v[i]);
        ok &= bce ? (x >= 0 && x <= 1) : (x >= 0 && x <= std::numeric_limits<double>::max());
        lo = std::min(lo, x), hi = std::max(hi, x);
      }
    });
    if (ok) return;
    const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    if (bce)
      throw py::value_error(std::string(fn) + ": y must hold probabilities in [0, 1] for bce_with_logits, got "
                            "values in " + range + " (or NaN)");
    throw py::value_error(std::string(fn) + ": y (class probabilities) must be finite and >= 0, got values in " +
                          range + " (or NaN/inf)");
  }

  double run(const char* fn, py::handle X_, py::handle y_, bool update) {
    require_bound(fn);
    py::array X = input(X_, fn);
    const int64_t n = X.shape(0), c = out_features();
    if (n == 0) throw py::value_error(std::string(fn) + ": X has no samples (shape " + shape_str(X) + ")");
    if (!py::isinstance<py::array>(y_))
      throw py::type_error(std::string(fn) + ": y must be a numpy.ndarray, got " + describe(y_));
    auto y = py::reinterpret_borrow<py::array>(y_);
    py::array keep;
    py::array_t<int64_t> labels;
    const bool use_labels = loss_ == LossKind::CrossEntropy && y.ndim() == 1;
    if (use_labels) {
      if (y.shape(0) != n)
        throw py::value_error(std::string(fn) + ": y must have shape (" + std::to_string(n) + ",) to match X " +
                              shape_str(X) + ", got " + shape_str(y));
      // bool labels are class indices 0/1, as in the layer-by-layer path (losses.py)
      labels = class_labels(y.dtype().kind() == 'b' ? py::array(py::array_t<int64_t, py::array::forcecast>::ensure(y)) : y,
                            fn, c);
    } else {
      const char kind = y.dtype().kind();
      if (loss_ == LossKind::BCEWithLogits && (kind == 'i' || kind == 'u' || kind == 'b'))
        keep = dt_ == DType::f32
                   ? py::array(py::array_t<float, py::array::c_style | py::array::forcecast | npy_aligned>::ensure(y))
                   : py::array(py::array_t<double, py::array::c_style | py::array::forcecast | npy_aligned>::ensure(y));
      else {
        keep = float_array(y, fn, "y");
        if (dtype_of(keep) != dt_)
          throw py::type_error(std::string(fn) + ": y must be " + dtype_name(dt_) + " (the net's dtype), got " +
                               dtype_name(dtype_of(keep)));
        keep = c_contiguous(keep);
      }
      const bool ok = (keep.ndim() == 2 && keep.shape(0) == n && keep.shape(1) == c) ||
                      (keep.ndim() == 1 && keep.shape(0) == n && c == 1 && loss_ != LossKind::CrossEntropy);
      if (!ok)
        throw py::value_error(std::string(fn) + ": y must have shape (" + std::to_string(n) + ", " +
                              std::to_string(c) + ")" + (c == 1 ? " or (" + std::to_string(n) + ",)" : "") +
                              " to match the net's output, got " + shape_str(keep));
      check_target_values(fn, keep);
    }
    return visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      Targets<T> t;
      if (use_labels) t.labels = labels.data();
      else t.values = cptr<T>(keep);
      const T* x = cptr<T>(X);
      py::gil_scoped_release release;
      return update ? e.step(x, n, t) : e.loss_and_grad(x, n, t);
    });
  }

  DType dt_;
  LossKind loss_;
  std::vector<OpSpec> spec_;
  std::variant<std::unique_ptr<Engine<float>>, std::unique_ptr<Engine<double>>> eng_;
  py::array params_, grads_, buf_, m_, v_, vmax_;
  py::array_t<int64_t> counter_;
  bool bound_ = false;
};

}  // namespace

void register_engine(py::module_& m) {
  py::class_<PyEngine>(m, "Engine", R"pbdoc(
The fused training step of a net of built-in layers (private: used by fastgd.Trainer).

ops: list of ("linear", in, out, w_off, b_off) | ("relu",) | ("leaky_relu", slope) | ("sigmoid",)
| ("tanh",) | ("identity",), offsets into the flat parameter buffer (b_off -1: no bias).
)pbdoc")
      .def(py::init<const std::string&, const py::list&, const std::string&, int64_t>(), "dtype"_a, "ops"_a,
           "loss"_a, "in_features"_a)
      .def("bind", &PyEngine::bind, "params"_a, "grads"_a)
      .def("set_sgd", &PyEngine::set_sgd, "lr"_a, "momentum"_a, "dampening"_a, "nesterov"_a, "weight_decay"_a,
           "momentum_buffer"_a, "counter"_a)
      .def("set_adam", &PyEngine::set_adam, "lr"_a, "beta1"_a, "beta2"_a, "eps"_a, "weight_decay"_a,
           "decoupled"_a, "exp_avg"_a, "exp_avg_sq"_a, "max_exp_avg_sq"_a, "counter"_a)
      .def("set_lr", &PyEngine::set_lr, "lr"_a)
      .def("set_clip_norm", &PyEngine::set_clip_norm, "max_norm"_a)
      .def("step", &PyEngine::step, "X"_a, "y"_a, "Forward, loss, backward and update in one call; returns the loss.")
      .def("loss_and_grad", &PyEngine::loss_and_grad, "X"_a, "y"_a,
           "Forward, loss and backward (gradients overwritten), no update; returns the loss.")
      .def("update", &PyEngine::update,
           "Clip (when set) and apply the optimizer update to the gradients in the buffer, as the end of step().")
      .def("forward", &PyEngine::forward, "X"_a)
      .def("last_output", &PyEngine::last_output, "A copy of the last forward's output (n, out_features).")
      .def_property_readonly("workspace_allocations", &PyEngine::allocations)
      .def_property_readonly("grad_norm", &PyEngine::grad_norm)
      .def_property_readonly("in_features", &PyEngine::in_features)
      .def_property_readonly("out_features", &PyEngine::out_features);
}

}  // namespace fastgd
