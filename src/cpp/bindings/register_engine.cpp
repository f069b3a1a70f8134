#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <variant>

#include "csr_input.hpp"
#include "engine.hpp"
#include "fastcall.h"

namespace fastgd {

using namespace bind;

namespace {

// fastgd_engine_call::step (fastcall.h): Engine<T>::step on checked arguments, exceptions as codes.
template <typename T>
int fastcall_step(void* engine, const void* X, int64_t n, const int64_t* labels, const void* values,
                  const void* weights, double* loss, char* err, size_t errlen) noexcept {
  const auto fail = [&](int code, const char* what) {
    std::snprintf(err, errlen, "%s", what);
    return code;
  };
  try {
    Targets<T> t;
    t.labels = labels, t.values = static_cast<const T*>(values), t.weights = static_cast<const T*>(weights);
    *loss = static_cast<Engine<T>*>(engine)->step(static_cast<const T*>(X), n, t);
    return FASTGD_OK;
  } catch (const std::logic_error& e) {
    return fail(FASTGD_PRECONDITION, e.what());
  } catch (const std::bad_alloc& e) {
    return fail(FASTGD_NO_MEMORY, e.what());
  } catch (const std::exception& e) {
    return fail(FASTGD_ERROR, e.what());
  } catch (...) {
    return fail(FASTGD_ERROR, "unknown C++ exception");
  }
}

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
  PyEngine(const std::string& dtype, const py::list& ops, py::handle loss, int64_t in_features) {
    if (dtype == "float32") dt_ = DType::f32;
    else if (dtype == "float64") dt_ = DType::f64;
    else throw py::value_error("Engine: dtype must be 'float32' or 'float64', got '" + dtype + "'");
    std::vector<UnitArgs> spec;
    std::vector<std::pair<size_t, py::dict>> buffers;
    for (py::handle h : ops) {
      py::dict bufs;
      spec.push_back(unit_args(h, "op", &bufs));
      if (py::len(bufs)) buffers.emplace_back(spec.size() - 1, bufs);
    }
    const UnitArgs loss_args = py::isinstance<py::str>(loss) ? UnitArgs{loss.cast<std::string>(), {}}
                                                             : unit_args(loss, "loss", nullptr);
    loss_ = loss_args.name;
    try {
      if (dt_ == DType::f32) eng_ = std::make_unique<Engine<float>>(spec, loss_args, in_features);
      else eng_ = std::make_unique<Engine<double>>(spec, loss_args, in_features);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(std::string("Engine: ") + e.what());
    }
    for (auto& [k, d] : buffers) bind_buffers(int64_t(k), d);
  }

  void bind(py::handle params, py::handle grads) {
    const char* fn = "Engine.bind";
    py::array p = flat_buffer(params, fn, "params");
    py::array g = flat_buffer(grads, fn, "grads");
    require_shape(fn, "grads", g, p, "params");
    if (bound_ && p.size() != params_.size())
      throw py::value_error(std::string(fn) + ": params must keep the size " + std::to_string(params_.size()) +
                            " of the optimizer groups already set, got " + std::to_string(p.size()));
    visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      try {
        e.bind(ptr<T>(p), ptr<T>(g), p.size());
      } catch (const std::invalid_argument& err) {
        throw py::value_error(std::string(fn) + ": " + err.what());
      }
    });
    params_ = p, grads_ = g;
    bound_ = true;
  }

  // Op k's persistent buffers by name: writable, aligned, C-contiguous arrays of the op's size
  // (shape (size,), or () for a single value) in the net's dtype (int64 where the op says so),
  // kept alive here and written in place by the op.
  void bind_buffers(int64_t k, const py::dict& arrays) {
    const char* fn = "Engine.bind_buffers";
    const int64_t n_ops = visit([&](auto& e, auto) { return int64_t(e.num_ops()); });
    if (k < 0 || k >= n_ops)
      throw py::value_error(std::string(fn) + ": op_index must be in [0, " + std::to_string(n_ops) + "), got " +
                            std::to_string(k));
    const auto specs = visit([&](auto& e, auto) { return e.op(size_t(k)).buffers(); });
    for (auto item : arrays) {
      const auto name = py::str(item.first).cast<std::string>();
      const BufferSpec* spec = nullptr;
      std::string names;
      for (const BufferSpec& s : specs) {
        names += (names.empty() ? "'" : ", '") + s.name + "'";
        if (s.name == name) spec = &s;
      }
      if (!spec)
        throw py::value_error(std::string(fn) + ": op " + std::to_string(k) + " has no buffer '" + name +
                              "' (its buffers: " + (names.empty() ? "none" : names) + ")");
      const std::string arg = "buffer '" + name + "'";
      if (!py::isinstance<py::array>(item.second))
        throw py::type_error(std::string(fn) + ": " + arg + " must be a numpy.ndarray, got " + describe(item.second));
      auto a = py::reinterpret_borrow<py::array>(item.second);
      const py::dtype want = spec->int64 ? py::dtype::of<int64_t>()
                                         : (dt_ == DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>());
      if (!a.dtype().equal(want))
        throw py::type_error(std::string(fn) + ": " + arg + " must be " + py::str(want).cast<std::string>() + ", got " +
                             describe(a));
      const bool shape_ok = (a.ndim() == 1 && a.shape(0) == spec->size) || (a.ndim() == 0 && spec->size == 1);
      if (!shape_ok)
        throw py::value_error(std::string(fn) + ": " + arg + " must have shape (" + std::to_string(spec->size) + ",)" +
                              (spec->size == 1 ? " or ()" : "") + ", got " + shape_str(a));
      if (!(a.flags() & py::array::c_style) || !a.writeable() || !is_aligned(a))
        throw py::value_error(std::string(fn) + ": " + arg + " must be a writable, aligned, contiguous array, got " +
                              describe(a));
      visit([&](auto& e, auto) { e.bind_buffer(size_t(k), name, a.mutable_data()); });
      buffers_[std::to_string(k) + "/" + name] = a;
    }
  }

  // Optimizer update units. Without a range (size -1) one group over the whole buffer replaces
  // all groups; with (offset, size) a group over that range is added, its state arrays of shape
  // (size,).
  void set_sgd(double lr, double momentum, double dampening, bool nesterov, double wd, py::handle buf,
               py::handle counter, int64_t offset, int64_t size) {
    const char* fn = "Engine.set_sgd";
    require_bound(fn);
    const int64_t sz = group_size(fn, offset, size);
    std::vector<py::object> keep;
    py::array b;
    if (momentum != 0) b = state_buffer(buf, fn, "momentum_buffer", sz, keep);
    auto c = counter_array(counter, fn);
    keep.push_back(c);
    add_group(fn, offset, sz, std::move(keep), [&](auto tag) {
      using T = decltype(tag);
      UpdateArgs<T> a;
      a.name = "sgd";
      a.hyper = {{"lr", lr}, {"momentum", momentum}, {"dampening", dampening}, {"nesterov", nesterov ? 1.0 : 0.0},
                 {"weight_decay", wd}};
      if (momentum != 0) a.state["momentum_buffer"] = ptr<T>(b);
      a.counter = c.mutable_data();
      return a;
    });
  }

  void set_adam(double lr, double beta1, double beta2, double eps, double wd, bool decoupled, py::handle m,
                py::handle v, py::handle vmax, py::handle counter, int64_t offset, int64_t size) {
    const char* fn = "Engine.set_adam";
    require_bound(fn);
    const int64_t sz = group_size(fn, offset, size);
    std::vector<py::object> keep;
    py::array am = state_buffer(m, fn, "exp_avg", sz, keep);
    py::array av = state_buffer(v, fn, "exp_avg_sq", sz, keep);
    const bool amsgrad = !vmax.is_none();
    py::array avmax;
    if (amsgrad) avmax = state_buffer(vmax, fn, "max_exp_avg_sq", sz, keep);
    auto c = counter_array(counter, fn);
    keep.push_back(c);
    add_group(fn, offset, sz, std::move(keep), [&](auto tag) {
      using T = decltype(tag);
      UpdateArgs<T> a;
      a.name = "adam";
      a.hyper = {{"lr", lr}, {"beta1", beta1}, {"beta2", beta2}, {"eps", eps}, {"weight_decay", wd},
                 {"decoupled", decoupled ? 1.0 : 0.0}};
      a.state = {{"exp_avg", ptr<T>(am)}, {"exp_avg_sq", ptr<T>(av)}};
      if (amsgrad) a.state["max_exp_avg_sq"] = ptr<T>(avmax);
      a.counter = c.mutable_data();
      return a;
    });
  }

  // Any update unit of the registry (src/cpp/engine_updates.cpp) by name: hyper-parameters
  // {name: number}, state arrays {name: array of the group's size}, scalars {name: float64 array
  // of shape ()} the unit keeps and writes in place (NAdam's mu_product), the step counter; the
  // range as set_sgd's.
  void set_update(const std::string& name, const py::dict& hyper, const py::dict& state, const py::dict& scalars,
                  py::handle counter, int64_t offset, int64_t size) {
    const char* fn = "Engine.set_update";
    require_bound(fn);
    const int64_t sz = group_size(fn, offset, size);
    std::vector<py::object> keep;
    std::map<std::string, double> h;
    for (auto item : hyper) {
      const auto key = py::str(item.first).cast<std::string>();
      if (!py::isinstance<py::float_>(item.second) && !py::isinstance<py::int_>(item.second))
        throw py::type_error(std::string(fn) + ": hyper-parameter '" + key + "' must be a number, got " +
                             describe(item.second));
      h[key] = item.second.cast<double>();
    }
    std::vector<std::pair<std::string, py::array>> arrays;
    for (auto item : state) {
      const auto key = py::str(item.first).cast<std::string>();
      if (item.second.is_none()) continue;
      arrays.emplace_back(key, state_buffer(item.second, fn, key.c_str(), sz, keep));
    }
    std::map<std::string, double*> sc;
    for (auto item : scalars) {
      const auto key = py::str(item.first).cast<std::string>();
      if (!py::isinstance<py::array_t<double>>(item.second))
        throw py::type_error(std::string(fn) + ": scalar '" + key + "' must be a float64 array of shape (), got " +
                             describe(item.second));
      auto a = py::reinterpret_borrow<py::array_t<double>>(item.second);
      if (a.ndim() != 0 || !a.writeable() || !is_aligned(a))
        throw py::value_error(std::string(fn) + ": scalar '" + key + "' must be a writable, aligned float64 array "
                              "of shape (), got " + describe(a));
      sc[key] = a.mutable_data();
      keep.push_back(a);
    }
    auto c = counter_array(counter, fn);
    keep.push_back(c);
    add_group(fn, offset, sz, std::move(keep), [&](auto tag) {
      using T = decltype(tag);
      UpdateArgs<T> a;
      a.name = name;
      a.hyper = h;
      for (auto& [key, arr] : arrays) a.state[key] = ptr<T>(arr);
      a.scalars = sc;
      a.counter = c.mutable_data();
      return a;
    });
  }

  void clear_groups() {
    visit([&](auto& e, auto) { e.clear_updates(); });
    group_keep_.clear();
  }

  void set_lr(double lr, int64_t group) {
    visit([&](auto& e, auto) {
      if (group < 0) return e.set_lr(lr);
      if (size_t(group) >= e.num_groups())
        throw py::value_error("Engine.set_lr: group must be in [0, " + std::to_string(e.num_groups()) + "), got " +
                              std::to_string(group));
      e.set_lr(size_t(group), lr);
    });
  }

  void set_l2(double lam, bool per_weight) {
    if (!(lam >= 0 && std::isfinite(lam)))
      throw py::value_error("Engine.set_l2: lam must be finite and >= 0, got " + std::to_string(lam));
    visit([&](auto& e, auto) { e.set_l2(lam, per_weight); });
  }

  double last_l2() {
    double v = 0;
    visit([&](auto& e, auto) { v = e.last_l2(); });
    return v;
  }

  void set_seed(uint64_t seed, int64_t step) {
    if (step < 0) throw py::value_error("Engine.set_seed: step must be >= 0, got " + std::to_string(step));
    visit([&](auto& e, auto) { e.set_seed(seed, step); });
  }

  void set_clip_norm(double c) { visit([&](auto& e, auto) { e.set_clip_norm(c); }); }

  double step(py::handle X, py::handle y, py::handle w) { return run("Engine.step", X, y, w, true); }
  double loss_and_grad(py::handle X, py::handle y, py::handle w) {
    return run("Engine.loss_and_grad", X, y, w, false);
  }
  // A CSR batch (its indptr, indices, data) as the input of the first op (a Linear).
  double step_csr(py::handle indptr, py::handle indices, py::handle data, py::handle y, py::handle w) {
    const char* fn = "Engine.step_csr";
    require_bound(fn);
    const CsrArrays X = csr_input(fn, indptr, indices, data);
    return run(fn, py::none(), y, w, true, &X);
  }
  double loss_and_grad_csr(py::handle indptr, py::handle indices, py::handle data, py::handle y, py::handle w) {
    const char* fn = "Engine.loss_and_grad_csr";
    require_bound(fn);
    const CsrArrays X = csr_input(fn, indptr, indices, data);
    return run(fn, py::none(), y, w, false, &X);
  }
  py::array forward_csr(py::handle indptr, py::handle indices, py::handle data, bool training) {
    const char* fn = "Engine.forward_csr";
    require_bound(fn);
    const CsrArrays X = csr_input(fn, indptr, indices, data);
    py::array out(py::dtype(dtype_name(dt_)), std::vector<py::ssize_t>{X.rows, out_features()});
    visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      const CsrRef<T> x = X.ref<T>();
      T* o = ptr<T>(out);
      guarded(fn, [&] {
        py::gil_scoped_release release;
        e.forward_csr(x, o, training);
      });
    });
    return out;
  }

  // fit's inner loop: one epoch of step()s over X in batches (see Engine::epoch). order: None
  // (in order) or int64 (n,) row indices in [0, n); divergence_factor 0: no check; first_loss
  // NaN: none yet. Returns (loss_sum, weight_sum, correct, count, batches, last_loss,
  // first_loss, diverged, penalty_sum). Ctrl-C (any pending signal whose handler raises) stops it between
  // two batches and raises here.
  py::tuple epoch(py::handle X_, py::handle y_, int64_t batch_size, py::handle order_, py::handle w_,
                  double divergence_factor, double first_loss, bool accuracy, bool rows_weight) {
    const char* fn = "Engine.epoch";
    require_bound(fn);
    py::array X = input(X_, fn);
    const int64_t n = X.shape(0);
    if (n == 0) throw py::value_error(std::string(fn) + ": X has no samples (shape " + shape_str(X) + ")");
    if (batch_size < 1) throw py::value_error(std::string(fn) + ": batch_size must be >= 1, got " + std::to_string(batch_size));
    if (!(divergence_factor == 0 || divergence_factor > 1))
      throw py::value_error(std::string(fn) + ": divergence_factor must be > 1 (or 0: no check), got " +
                            std::to_string(divergence_factor));
    const Prepared y = prepare_targets(fn, y_, n, shape_str(X));
    py::object w;
    if (!w_.is_none()) w = sample_weight(fn, w_, n);
    py::array_t<int64_t> order;
    if (!order_.is_none()) {
      if (!py::isinstance<py::array>(order_) || py::reinterpret_borrow<py::array>(order_).dtype().kind() != 'i')
        throw py::type_error(std::string(fn) + ": order must be a signed integer array of shape (" + std::to_string(n) +
                             ",), got " + describe(order_));
      order = py::array_t<int64_t, py::array::c_style | py::array::forcecast | npy_aligned>::ensure(order_);
      if (order.ndim() != 1 || order.shape(0) != n)
        throw py::value_error(std::string(fn) + ": order must have shape (" + std::to_string(n) + ",) to match X " +
                              shape_str(X) + ", got " + shape_str(order));
      const int64_t* o = order.data();
      for (int64_t i = 0; i < n; ++i)
        if (o[i] < 0 || o[i] >= n)
          throw py::value_error(std::string(fn) + ": order must hold row indices in [0, " + std::to_string(n) +
                                "), got " + std::to_string(o[i]) + " at index " + std::to_string(i));
    }
    EpochArgs args;
    args.batch_size = batch_size;
    args.order = order_.is_none() ? nullptr : order.data();
    args.divergence_factor = divergence_factor;
    args.rows_weight = rows_weight;
    if (accuracy) {
      if (loss_ == "cross_entropy") args.accuracy = EpochArgs::Accuracy::argmax;
      else if (loss_ == "bce_with_logits") args.accuracy = EpochArgs::Accuracy::threshold;
      else throw py::value_error(std::string(fn) + ": accuracy needs a classification loss, got '" + loss_ + "'");
    }
    args.poll = [](void*) {
      py::gil_scoped_acquire gil;
      return PyErr_CheckSignals() != 0;  // the handler's exception (KeyboardInterrupt) stays set
    };
    EpochResult r;
    visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      Targets<T> t = y.targets<T>();
      if (w) t.weights = static_cast<const T*>(py::reinterpret_borrow<py::array>(w).data());
      const T* x = cptr<T>(X);
      guarded(fn, [&] {
        py::gil_scoped_release release;
        r = e.epoch(x, n, t, y.width, args, first_loss);
      });
    });
    if (r.interrupted) throw py::error_already_set();
    return py::make_tuple(r.loss_sum, r.weight_sum, r.correct, r.count, r.batches, r.last_loss, first_loss,
                          r.diverged, r.penalty_sum);
  }

  void update() {
    require_bound("Engine.update");
    visit([&](auto& e, auto) {
      py::gil_scoped_release release;
      e.update();
    });
  }

  py::array forward(py::handle X_, bool training) {
    const char* fn = "Engine.forward";
    require_bound(fn);
    py::array X = input(X_, fn);
    const int64_t n = X.shape(0);
    py::array out(py::dtype(dtype_name(dt_)), std::vector<py::ssize_t>{n, out_features()});
    visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      const T* x = cptr<T>(X);
      T* o = ptr<T>(out);
      guarded(fn, [&] {
        py::gil_scoped_release release;
        e.forward(x, n, o, training);
      });
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

  // The step as a C function table in a capsule (fastcall.h), for fastgd._fastcall; it points
  // into this object, which the caller keeps alive.
  py::capsule fastcall() {
    require_bound("Engine._fastcall");
    call_.abi = FASTGD_FASTCALL_ABI;
    call_.dtype = dt_ == DType::f32 ? FASTGD_FLOAT32 : FASTGD_FLOAT64;
    call_.loss = loss_ == "cross_entropy"     ? FASTGD_LOSS_CROSS_ENTROPY
                 : loss_ == "bce_with_logits" ? FASTGD_LOSS_BCE_WITH_LOGITS
                                              : FASTGD_LOSS_REGRESSION;
    call_.in_features = in_features(), call_.out_features = out_features();
    visit([&](auto& e, auto tag) {
      call_.engine = &e;
      call_.step = &fastcall_step<decltype(tag)>;
    });
    return py::capsule(&call_, FASTGD_FASTCALL_CAPSULE);
  }

  int64_t allocations() { return visit([&](auto& e, auto) { return e.workspace_allocations(); }); }
  double grad_norm() { return visit([&](auto& e, auto) { return e.last_grad_norm(); }); }
  int64_t out_features() { return visit([&](auto& e, auto) { return e.out_features(); }); }
  int64_t in_features() { return visit([&](auto& e, auto) { return e.in_features(); }); }
  int64_t num_groups() { return visit([&](auto& e, auto) { return int64_t(e.num_groups()); }); }
  int64_t rng_step() { return visit([&](auto& e, auto) { return e.rng_step(); }); }

 private:
  // A unit's spec (name, number, ...) — for an op optionally ending in a {name: array} dict of
  // buffers, returned in *buffers.
  static UnitArgs unit_args(py::handle h, const char* what, py::dict* buffers) {
    if (!py::isinstance<py::tuple>(h) || py::len(h) == 0 ||
        !py::isinstance<py::str>(py::reinterpret_borrow<py::tuple>(h)[0]))
      throw py::type_error(std::string("Engine: each ") + what + " must be a tuple (name, *arguments), got " +
                           describe(h));
    auto t = py::reinterpret_borrow<py::tuple>(h);
    UnitArgs a;
    a.name = t[0].cast<std::string>();
    for (size_t i = 1; i < t.size(); ++i) {
      if (buffers && i + 1 == t.size() && py::isinstance<py::dict>(t[i])) {
        *buffers = t[i].cast<py::dict>();
      } else if ((py::isinstance<py::float_>(t[i]) || py::isinstance<py::int_>(t[i])) && !py::isinstance<py::bool_>(t[i])) {
        a.values.push_back(t[i].cast<double>());
      } else {
        throw py::type_error(std::string("Engine: argument ") + std::to_string(i) + " of " + what + " '" + a.name +
                             "' must be a number" + (buffers ? " (or a last dict of buffers)" : "") + ", got " +
                             describe(t[i]));
      }
    }
    return a;
  }

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

  // An engine precondition (e.g. an unbound buffer) as a ValueError naming the call.
  template <typename F>
  static void guarded(const char* fn, F&& f) {
    try {
      f();
    } catch (const std::logic_error& e) {
      throw py::value_error(std::string(fn) + ": " + e.what());
    }
  }

  int64_t group_size(const char* fn, int64_t offset, int64_t size) {
    if (size < 0 && offset == 0) return params_.size();
    if (offset < 0 || size < 0 || offset + size > params_.size())
      throw py::value_error(std::string(fn) + ": the group (offset " + std::to_string(offset) + ", size " +
                            std::to_string(size) + ") must lie inside params of size " + std::to_string(params_.size()));
    return size;
  }

  // An optimizer state array of the group: the net's dtype, 1-D of the group's size.
  py::array state_buffer(py::handle obj, const char* fn, const char* arg, int64_t size, std::vector<py::object>& keep) {
    py::array a = flat_buffer(obj, fn, arg);
    if (a.shape(0) != size)
      throw py::value_error(std::string(fn) + ": " + arg + " must have shape (" + std::to_string(size) +
                            ",) (the group's size), got shape " + shape_str(a));
    keep.push_back(a);
    return a;
  }

  template <typename MakeArgs>
  void add_group(const char* fn, int64_t offset, int64_t size, std::vector<py::object> keep, MakeArgs&& make_args) {
    visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      try {
        const bool whole = offset == 0 && size == params_.size();
        e.set_update(offset, size, make_update<T>(make_args(tag)));
        if (whole) group_keep_.clear();
      } catch (const std::invalid_argument& err) {
        throw py::value_error(std::string(fn) + ": " + err.what());
      }
    });
    group_keep_.push_back(std::move(keep));
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
    if ((loss_ != "cross_entropy" && loss_ != "bce_with_logits") || y.size() == 0) return;  // regression
    const bool bce = loss_ == "bce_with_logits";
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

  // The CSR arrays of a batch: data of the net's dtype, in_features() columns.
  CsrArrays csr_input(const char* fn, py::handle indptr, py::handle indices, py::handle data) {
    CsrArrays X = csr_arrays(indptr, indices, data, fn, in_features());
    if (dtype_of(X.data) != dt_)
      throw py::type_error(std::string(fn) + ": data must be " + dtype_name(dt_) + " (the net's dtype), got " +
                           dtype_name(dtype_of(X.data)));
    return X;
  }

  // y as the engine reads it: int64 class labels (cross-entropy with (n,) labels), or target
  // values of the net's dtype, C-contiguous, (n, c) or (n,) for one output; checked.
  struct Prepared {
    bool use_labels = false;
    py::array_t<int64_t> labels;  // (a default array_t is an empty array, not a null handle)
    py::array values;
    int64_t width = 0;  // values per row
    template <typename T>
    Targets<T> targets() const {
      Targets<T> t;
      if (use_labels) t.labels = labels.data();
      else t.values = cptr<T>(values);
      return t;
    }
  };

  Prepared prepare_targets(const char* fn, py::handle y_, int64_t n, const std::string& xshape) {
    const int64_t c = out_features();
    if (!py::isinstance<py::array>(y_))
      throw py::type_error(std::string(fn) + ": y must be a numpy.ndarray, got " + describe(y_));
    auto y = py::reinterpret_borrow<py::array>(y_);
    Prepared p;
    if (loss_ == "cross_entropy" && y.ndim() == 1) {
      if (y.shape(0) != n)
        throw py::value_error(std::string(fn) + ": y must have shape (" + std::to_string(n) + ",) to match X " +
                              xshape + ", got " + shape_str(y));
      // bool labels are class indices 0/1, as in the layer-by-layer path (losses.py)
      p.labels = class_labels(y.dtype().kind() == 'b' ? py::array(py::array_t<int64_t, py::array::forcecast>::ensure(y)) : y,
                              fn, c);
      p.use_labels = true;
      p.width = 1;
      return p;
    }
    py::array keep;
    const char kind = y.dtype().kind();
    if (loss_ == "bce_with_logits" && (kind == 'i' || kind == 'u' || kind == 'b'))
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
                    (keep.ndim() == 1 && keep.shape(0) == n && c == 1 && loss_ != "cross_entropy");
    if (!ok)
      throw py::value_error(std::string(fn) + ": y must have shape (" + std::to_string(n) + ", " +
                            std::to_string(c) + ")" + (c == 1 ? " or (" + std::to_string(n) + ",)" : "") +
                            " to match the net's output, got " + shape_str(keep));
    check_target_values(fn, keep);
    p.values = keep;
    p.width = c;
    return p;
  }

  // One training step (or loss and gradients when !update) on X_, or on the CSR batch csr.
  double run(const char* fn, py::handle X_, py::handle y_, py::handle w_, bool update,
             const CsrArrays* csr = nullptr) {
    require_bound(fn);
    py::array X;
    if (!csr) X = input(X_, fn);
    const int64_t n = csr ? csr->rows : X.shape(0);
    const std::string xshape =
        csr ? "(" + std::to_string(n) + ", " + std::to_string(in_features()) + ")" : shape_str(X);
    if (n == 0) throw py::value_error(std::string(fn) + ": X has no samples (shape " + xshape + ")");
    const Prepared y = prepare_targets(fn, y_, n, xshape);
    py::object w;  // a null handle unless weights are given (no array allocated per step)
    if (!w_.is_none()) w = sample_weight(fn, w_, n);
    return visit([&](auto& e, auto tag) {
      using T = decltype(tag);
      Targets<T> t = y.targets<T>();
      if (w) t.weights = static_cast<const T*>(py::reinterpret_borrow<py::array>(w).data());
      double loss = 0;
      if (csr) {
        const CsrRef<T> x = csr->ref<T>();
        guarded(fn, [&] {
          py::gil_scoped_release release;
          loss = update ? e.step_csr(x, t) : e.loss_and_grad_csr(x, t);
        });
        return loss;
      }
      const T* x = cptr<T>(X);
      guarded(fn, [&] {
        py::gil_scoped_release release;
        loss = update ? e.step(x, n, t) : e.loss_and_grad(x, n, t);
      });
      return loss;
    });
  }

  // None, or per-sample weights: shape (n,), the net's dtype, finite and >= 0.
  py::array sample_weight(const char* fn, py::handle w_, int64_t n) {
    py::array w = float_array(w_, fn, "sample_weight");
    if (dtype_of(w) != dt_)
      throw py::type_error(std::string(fn) + ": sample_weight must be " + dtype_name(dt_) + " (the net's dtype), got " +
                           dtype_name(dtype_of(w)));
    if (w.ndim() != 1 || w.shape(0) != n)
      throw py::value_error(std::string(fn) + ": sample_weight must have shape (" + std::to_string(n) +
                            ",) to match X, got " + shape_str(w));
    w = c_contiguous(w);
    bool ok = true;
    dispatch(dt_, [&](auto tag) {
      using T = decltype(tag);
      const T* p = cptr<T>(w);
      for (int64_t i = 0; i < n; ++i) ok &= double(p[i]) >= 0 && double(p[i]) <= std::numeric_limits<double>::max();
    });
    if (!ok) throw py::value_error(std::string(fn) + ": sample_weight must be finite and >= 0 (got a negative, NaN or inf value)");
    return w;
  }

  DType dt_;
  std::string loss_;
  std::variant<std::unique_ptr<Engine<float>>, std::unique_ptr<Engine<double>>> eng_;
  py::array params_, grads_;
  std::vector<std::vector<py::object>> group_keep_;  // each group's state arrays and counter
  std::map<std::string, py::array> buffers_;          // "op/name" -> bound buffer
  bool bound_ = false;
  fastgd_engine_call call_{};
};

}  // namespace

void register_engine(py::module_& m) {
  py::class_<PyEngine>(m, "Engine", R"pbdoc(
The fused training step of a net of built-in layers (private: used by fastgd.Trainer).

ops: list of (name, *numbers[, {buffer name: array}]), each name a unit of the op registry
(src/cpp/engine_ops.cpp): ("linear", in, out, w_off, b_off) | ("relu",) | ("leaky_relu", slope)
| ("sigmoid",) | ("tanh",) | ("identity",); offsets into the flat parameter buffer (b_off -1: no
bias). loss: a unit of the loss registry (src/cpp/engine_losses.cpp), a name or (name, *numbers):
"mse", "l1", ("huber", delta), ("smooth_l1", beta), ("poisson_nll", log_input, full, eps),
"cross_entropy" | ("cross_entropy", label_smoothing, *class_weights), "bce_with_logits" |
("bce_with_logits", *pos_weight).
)pbdoc")
      .def(py::init<const std::string&, const py::list&, py::handle, int64_t>(), "dtype"_a, "ops"_a,
           "loss"_a, "in_features"_a)
      .def("bind", &PyEngine::bind, "params"_a, "grads"_a)
      .def("bind_buffers", &PyEngine::bind_buffers, "op_index"_a, "buffers"_a,
           "Bind op op_index's persistent buffers {name: array}; the op writes them in place.")
      .def("set_sgd", &PyEngine::set_sgd, "lr"_a, "momentum"_a, "dampening"_a, "nesterov"_a, "weight_decay"_a,
           "momentum_buffer"_a, "counter"_a, "offset"_a = 0, "size"_a = -1,
           "SGD over the whole buffer (replacing all groups) or, given offset/size, one more group.")
      .def("set_adam", &PyEngine::set_adam, "lr"_a, "beta1"_a, "beta2"_a, "eps"_a, "weight_decay"_a,
           "decoupled"_a, "exp_avg"_a, "exp_avg_sq"_a, "max_exp_avg_sq"_a, "counter"_a, "offset"_a = 0,
           "size"_a = -1, "Adam/AdamW over the whole buffer (replacing all groups) or, given offset/size, one more group.")
      .def("set_update", &PyEngine::set_update, "name"_a, "hyper"_a, "state"_a, "scalars"_a, "counter"_a,
           "offset"_a = 0, "size"_a = -1,
           "Any optimizer of the update registry by name ('sgd', 'adam', 'rmsprop', 'adagrad', 'nadam', 'radam') "
           "over the whole buffer (replacing all groups) or, given offset/size, one more group.")
      .def("clear_groups", &PyEngine::clear_groups, "Remove every optimizer group (update() then only clips).")
      .def("set_lr", &PyEngine::set_lr, "lr"_a, "group"_a = -1, "The learning rate of one group (-1: all).")
      .def("set_clip_norm", &PyEngine::set_clip_norm, "max_norm"_a)
      .def("set_l2", &PyEngine::set_l2, "lam"_a, "per_weight"_a = false,
           "L2 penalty: loss += lam/2 * sum of squared Linear weights (not biases), grad_W += lam * W; with "
           "per_weight, lam is divided by each batch's weight sum (its rows when unweighted) at every step.")
      .def("last_l2", &PyEngine::last_l2, "The L2 term lam/2 * sum W^2 of the last loss (before its update).")
      .def("set_seed", &PyEngine::set_seed, "seed"_a, "step"_a = 0,
           "The ops' random stream: seed, and the step counter (advanced once per training step).")
      .def("step", &PyEngine::step, "X"_a, "y"_a, "sample_weight"_a = py::none(),
           "Forward, loss, backward and update in one call; returns the (sample-weighted) loss.")
      .def("loss_and_grad", &PyEngine::loss_and_grad, "X"_a, "y"_a, "sample_weight"_a = py::none(),
           "Forward, loss and backward (gradients overwritten), no update; returns the loss.")
      .def("epoch", &PyEngine::epoch, "X"_a, "y"_a, "batch_size"_a, "order"_a = py::none(),
           "sample_weight"_a = py::none(), "divergence_factor"_a = 0.0,
           "first_loss"_a = std::numeric_limits<double>::quiet_NaN(), "accuracy"_a = false,
           "rows_weight"_a = false,
           "One epoch of step()s over X in batches of batch_size taken in `order` (None: in order), a batch "
           "whose weights sum to 0 skipped; returns (loss_sum, weight_sum, correct, count, batches, last_loss, "
           "first_loss, diverged, penalty_sum): sums over batches of loss, of the L2 term in it (penalty_sum) "
           "and of the batch weight, its rows (rows_weight) or Σ w. Stops after a batch whose loss is not finite or exceeds "
           "divergence_factor * max(first_loss, 1) (0: never); Ctrl-C interrupts it between batches.")
      .def("update", &PyEngine::update,
           "Clip (when set) and apply the optimizer update to the gradients in the buffer, as the end of step().")
      .def("step_csr", &PyEngine::step_csr, "indptr"_a, "indices"_a, "data"_a, "y"_a, "sample_weight"_a = py::none(),
           "step() on a CSR batch (the arrays of a scipy.sparse CSR matrix, data of the net's dtype) read by the "
           "first layer, a Linear, without densifying it.")
      .def("loss_and_grad_csr", &PyEngine::loss_and_grad_csr, "indptr"_a, "indices"_a, "data"_a, "y"_a,
           "sample_weight"_a = py::none(), "loss_and_grad() on a CSR batch (see step_csr).")
      .def("forward_csr", &PyEngine::forward_csr, "indptr"_a, "indices"_a, "data"_a, "training"_a = false,
           "forward() on a CSR batch (see step_csr).")
      .def("forward", &PyEngine::forward, "X"_a, "training"_a = false,
           "The net's output for X, in eval mode unless training=True.")
      .def("_fastcall", &PyEngine::fastcall,
           "step() as a C function table in a capsule (src/cpp/bindings/fastcall.h) for fastgd._fastcall.")
      .def("last_output", &PyEngine::last_output, "A copy of the last forward's output (n, out_features).")
      .def_property_readonly("workspace_allocations", &PyEngine::allocations)
      .def_property_readonly("grad_norm", &PyEngine::grad_norm)
      .def_property_readonly("in_features", &PyEngine::in_features)
      .def_property_readonly("out_features", &PyEngine::out_features)
      .def_property_readonly("num_groups", &PyEngine::num_groups)
      .def_property_readonly("rng_step", &PyEngine::rng_step);
}

}  // namespace fastgd
