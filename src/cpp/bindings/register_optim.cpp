#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include <optional>
#include <utility>
#include <vector>

#include "optim.hpp"

namespace fastgd {

using namespace bind;

namespace {

// A buffer updated in place: same dtype and shape as param, writable, C-contiguous.
py::array state_buffer(py::handle obj, const char* fn, const char* arg, py::handle param_) {
  if (!py::isinstance<py::array>(obj) && !obj.is_none() &&
      py::isinstance(obj, py::module_::import("numpy").attr("generic")))
    throw py::type_error(std::string(fn) + ": " + arg + " must be a numpy.ndarray (it is updated in place), got " +
                         describe(obj) + ": a NumPy scalar cannot be written to");
  py::array a = float_array(obj, fn, arg);
  if (!param_.is_none()) {
    auto param = py::reinterpret_borrow<py::array>(param_);
    same_dtype(fn, "param", param, arg, a);
    require_shape(fn, arg, a, param, "param");
  }
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(fn) + ": " + arg + " must be C-contiguous (it is updated in place), got " +
                          describe(a) + " with strides that are not C order");
  if (!is_aligned(a))
    throw py::value_error(std::string(fn) + ": " + arg + " is not aligned to its dtype (a view at an odd byte "
                          "offset; it is updated in place): pass a freshly allocated array");
  if (!a.writeable()) throw py::value_error(std::string(fn) + ": " + arg + " is read-only (it is updated in place)");
  return a;
}

py::array grad_of(py::handle obj, const char* fn, const py::array& param) {
  py::array g = float_array(obj, fn, "grad");
  same_dtype(fn, "param", param, "grad", g);
  require_shape(fn, "grad", g, param, "param");
  return c_contiguous(g);
}

void sgd_step_py(py::handle param_, py::handle grad_, py::handle buf_, double lr, double momentum,
                 double dampening, bool nesterov, double weight_decay, bool init_buffer) {
  const char* fn = "sgd_step";
  py::array p = state_buffer(param_, fn, "param", py::none());
  py::array g = grad_of(grad_, fn, p);
  std::optional<py::array> b;  // (a default py::array is an empty array, not "none")
  if (momentum != 0) {
    if (buf_.is_none())
      throw py::value_error(std::string(fn) + ": momentum_buffer is required when momentum != 0");
    b = state_buffer(buf_, fn, "momentum_buffer", p);
    no_overlap(fn, "momentum_buffer", *b, "param", p);
    no_overlap(fn, "momentum_buffer", *b, "grad", g);
  }
  no_overlap(fn, "param", p, "grad", g);
  const SgdHyper h{lr, momentum, dampening, weight_decay, nesterov, init_buffer};
  dispatch(dtype_of(p), [&](auto tag) {
    using T = decltype(tag);
    T* pp = ptr<T>(p);
    const T* gp = cptr<T>(g);
    T* bp = b ? ptr<T>(*b) : nullptr;
    const int64_t n = p.size();
    py::gil_scoped_release release;
    sgd_step<T>(pp, gp, bp, n, h);
  });
}

void adam_step_py(py::handle param_, py::handle grad_, py::handle m_, py::handle v_, int64_t step,
                  double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                  py::handle vmax_) {
  const char* fn = "adam_step";
  if (step < 1) throw py::value_error(std::string(fn) + ": step must be >= 1 (counted after incrementing), got " + std::to_string(step));
  py::array p = state_buffer(param_, fn, "param", py::none());
  py::array g = grad_of(grad_, fn, p);
  py::array m = state_buffer(m_, fn, "exp_avg", p), v = state_buffer(v_, fn, "exp_avg_sq", p);
  std::optional<py::array> vmax;
  if (!vmax_.is_none()) vmax = state_buffer(vmax_, fn, "max_exp_avg_sq", p);
  // Every buffer is written in one pass while grad is read: no two may share memory.
  std::vector<std::pair<const char*, const py::array*>> bufs = {{"param", &p}, {"exp_avg", &m}, {"exp_avg_sq", &v}};
  if (vmax) bufs.emplace_back("max_exp_avg_sq", &*vmax);
  for (size_t i = 0; i < bufs.size(); ++i) {
    no_overlap(fn, bufs[i].first, *bufs[i].second, "grad", g);
    for (size_t j = i + 1; j < bufs.size(); ++j) no_overlap(fn, bufs[j].first, *bufs[j].second, bufs[i].first, *bufs[i].second);
  }
  const AdamHyper h{lr, beta1, beta2, eps, weight_decay, step, decoupled};
  dispatch(dtype_of(p), [&](auto tag) {
    using T = decltype(tag);
    T *pp = ptr<T>(p), *mp = ptr<T>(m), *vp = ptr<T>(v);
    T* vmp = vmax ? ptr<T>(*vmax) : nullptr;
    const T* gp = cptr<T>(g);
    const int64_t n = p.size();
    py::gil_scoped_release release;
    adam_step<T>(pp, gp, mp, vp, vmp, n, h);
  });
}

}  // namespace

void register_optim(py::module_& m) {
  m.def("sgd_step", &sgd_step_py, "param"_a, "grad"_a, "momentum_buffer"_a = py::none(), py::kw_only(),
        "lr"_a, "momentum"_a = 0.0, "dampening"_a = 0.0, "nesterov"_a = false, "weight_decay"_a = 0.0,
        "init_buffer"_a = false, R"pbdoc(
One ``torch.optim.SGD`` update in place on param (and momentum_buffer), in one pass:
``g = grad + wd*p; buf = g if init_buffer else mu*buf + (1-dampening)*g;
g = g + mu*buf if nesterov else buf; p -= lr*g`` (momentum 0: ``p -= lr*g``).
)pbdoc");
  m.def("adam_step", &adam_step_py, "param"_a, "grad"_a, "exp_avg"_a, "exp_avg_sq"_a, py::kw_only(),
        "step"_a, "lr"_a = 1e-3, "beta1"_a = 0.9, "beta2"_a = 0.999, "eps"_a = 1e-8,
        "weight_decay"_a = 0.0, "decoupled"_a = false, "max_exp_avg_sq"_a = py::none(), R"pbdoc(
One ``torch.optim.Adam`` (``decoupled=True``: ``AdamW``) update in place, in one pass; ``step``
is the count after incrementing. ``max_exp_avg_sq`` given: amsgrad.
)pbdoc");
}

}  // namespace fastgd
