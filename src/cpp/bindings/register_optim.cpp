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

// Every buffer is written in one pass while grad is read: no two may share memory.
void distinct_buffers(const char* fn, const py::array& grad,
                      const std::vector<std::pair<const char*, const py::array*>>& bufs) {
  for (size_t i = 0; i < bufs.size(); ++i) {
    no_overlap(fn, bufs[i].first, *bufs[i].second, "grad", grad);
    for (size_t j = i + 1; j < bufs.size(); ++j)
      no_overlap(fn, bufs[j].first, *bufs[j].second, bufs[i].first, *bufs[i].second);
  }
}

void require_step(const char* fn, int64_t step) {
  if (step < 1)
    throw py::value_error(std::string(fn) + ": step must be >= 1 (counted after incrementing), got " +
                          std::to_string(step));
}

void rmsprop_step_py(py::handle param_, py::handle grad_, py::handle sq_, py::handle ga_, py::handle buf_,
                     double lr, double alpha, double eps, double weight_decay, double momentum) {
  const char* fn = "rmsprop_step";
  py::array p = state_buffer(param_, fn, "param", py::none());
  py::array g = grad_of(grad_, fn, p);
  py::array sq = state_buffer(sq_, fn, "square_avg", p);
  std::vector<std::pair<const char*, const py::array*>> bufs = {{"param", &p}, {"square_avg", &sq}};
  std::optional<py::array> ga, buf;
  if (!ga_.is_none()) {
    ga = state_buffer(ga_, fn, "grad_avg", p);
    bufs.emplace_back("grad_avg", &*ga);
  }
  if (momentum != 0) {  // as sgd_step: without momentum the buffer is not used
    if (buf_.is_none())
      throw py::value_error(std::string(fn) + ": momentum_buffer is required when momentum != 0");
    buf = state_buffer(buf_, fn, "momentum_buffer", p);
    bufs.emplace_back("momentum_buffer", &*buf);
  }
  distinct_buffers(fn, g, bufs);
  const RmspropHyper h{lr, alpha, eps, weight_decay, momentum};
  dispatch(dtype_of(p), [&](auto tag) {
    using T = decltype(tag);
    T *pp = ptr<T>(p), *sp = ptr<T>(sq);
    T* gap = ga ? ptr<T>(*ga) : nullptr;
    T* bp = buf ? ptr<T>(*buf) : nullptr;
    const T* gp = cptr<T>(g);
    const int64_t n = p.size();
    py::gil_scoped_release release;
    rmsprop_step<T>(pp, gp, sp, gap, bp, n, h);
  });
}

void adagrad_step_py(py::handle param_, py::handle grad_, py::handle sum_, int64_t step, double lr,
                     double lr_decay, double weight_decay, double eps) {
  const char* fn = "adagrad_step";
  require_step(fn, step);
  py::array p = state_buffer(param_, fn, "param", py::none());
  py::array g = grad_of(grad_, fn, p);
  py::array sum = state_buffer(sum_, fn, "state_sum", p);
  distinct_buffers(fn, g, {{"param", &p}, {"state_sum", &sum}});
  const AdagradHyper h{lr, lr_decay, weight_decay, eps, step};
  dispatch(dtype_of(p), [&](auto tag) {
    using T = decltype(tag);
    T *pp = ptr<T>(p), *sp = ptr<T>(sum);
    const T* gp = cptr<T>(g);
    const int64_t n = p.size();
    py::gil_scoped_release release;
    adagrad_step<T>(pp, gp, sp, n, h);
  });
}

// Adam-like kernels: param, grad, exp_avg, exp_avg_sq checked alike.
template <typename F>
void moments_step(const char* fn, py::handle param_, py::handle grad_, py::handle m_, py::handle v_, F&& run) {
  py::array p = state_buffer(param_, fn, "param", py::none());
  py::array g = grad_of(grad_, fn, p);
  py::array m = state_buffer(m_, fn, "exp_avg", p), v = state_buffer(v_, fn, "exp_avg_sq", p);
  distinct_buffers(fn, g, {{"param", &p}, {"exp_avg", &m}, {"exp_avg_sq", &v}});
  dispatch(dtype_of(p), [&](auto tag) {
    using T = decltype(tag);
    T *pp = ptr<T>(p), *mp = ptr<T>(m), *vp = ptr<T>(v);
    const T* gp = cptr<T>(g);
    const int64_t n = p.size();
    py::gil_scoped_release release;
    run(pp, gp, mp, vp, n);
  });
}

void nadam_step_py(py::handle param_, py::handle grad_, py::handle m_, py::handle v_, int64_t step,
                   double mu_product, double lr, double beta1, double beta2, double eps, double weight_decay,
                   double momentum_decay, bool decoupled) {
  const char* fn = "nadam_step";
  require_step(fn, step);
  const NadamHyper h{lr, beta1, beta2, eps, weight_decay, momentum_decay, mu_product, step, decoupled};
  moments_step(fn, param_, grad_, m_, v_, [&](auto* p, const auto* g, auto* m, auto* v, int64_t n) {
    nadam_step(p, g, m, v, n, h);
  });
}

void radam_step_py(py::handle param_, py::handle grad_, py::handle m_, py::handle v_, int64_t step,
                   double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
  const char* fn = "radam_step";
  require_step(fn, step);
  const RadamHyper h{lr, beta1, beta2, eps, weight_decay, step, decoupled};
  moments_step(fn, param_, grad_, m_, v_, [&](auto* p, const auto* g, auto* m, auto* v, int64_t n) {
    radam_step(p, g, m, v, n, h);
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
  m.def("rmsprop_step", &rmsprop_step_py, "param"_a, "grad"_a, "square_avg"_a, "grad_avg"_a = py::none(),
        "momentum_buffer"_a = py::none(), py::kw_only(), "lr"_a = 1e-2, "alpha"_a = 0.99, "eps"_a = 1e-8,
        "weight_decay"_a = 0.0, "momentum"_a = 0.0, R"pbdoc(
One ``torch.optim.RMSprop`` update in place, in one pass: ``g = grad + wd*p;
sq = alpha*sq + (1-alpha)*g*g``; ``grad_avg`` given (centered): ``grad_avg = lerp(grad_avg, g, 1-alpha)``,
``avg = sqrt(sq - grad_avg**2) + eps``, else ``avg = sqrt(sq) + eps``; momentum != 0 (needs
``momentum_buffer``): ``buf = momentum*buf + g/avg; p -= lr*buf``, else ``p -= lr*g/avg``.
)pbdoc");
  m.def("adagrad_step", &adagrad_step_py, "param"_a, "grad"_a, "state_sum"_a, py::kw_only(), "step"_a,
        "lr"_a = 1e-2, "lr_decay"_a = 0.0, "weight_decay"_a = 0.0, "eps"_a = 1e-10, R"pbdoc(
One ``torch.optim.Adagrad`` update in place: ``g = grad + wd*p; state_sum += g*g;
p -= lr / (1 + (step-1)*lr_decay) * g / (sqrt(state_sum) + eps)``; ``step`` counted after incrementing.
)pbdoc");
  m.def("nadam_step", &nadam_step_py, "param"_a, "grad"_a, "exp_avg"_a, "exp_avg_sq"_a, py::kw_only(),
        "step"_a, "mu_product"_a, "lr"_a = 2e-3, "beta1"_a = 0.9, "beta2"_a = 0.999, "eps"_a = 1e-8,
        "weight_decay"_a = 0.0, "momentum_decay"_a = 4e-3, "decoupled"_a = false, R"pbdoc(
One ``torch.optim.NAdam`` update in place; ``step`` counted after incrementing and ``mu_product``
the product of mu_1..mu_step (this step's included), ``mu_t = beta1*(1 - 0.5*0.96**(t*momentum_decay))``.
``m = lerp(m, g, 1-beta1); v = beta2*v + (1-beta2)*g*g; d = sqrt(v/(1-beta2**t)) + eps;
p -= lr*(1-mu_t)/(1-mu_product) * g/d + lr*mu_{t+1}/(1-mu_product*mu_{t+1}) * m/d``.
)pbdoc");
  m.def("radam_step", &radam_step_py, "param"_a, "grad"_a, "exp_avg"_a, "exp_avg_sq"_a, py::kw_only(),
        "step"_a, "lr"_a = 1e-3, "beta1"_a = 0.9, "beta2"_a = 0.999, "eps"_a = 1e-8, "weight_decay"_a = 0.0,
        "decoupled"_a = false, R"pbdoc(
One ``torch.optim.RAdam`` update in place; ``step`` counted after incrementing. With
``rho_inf = 2/(1-beta2) - 1`` and ``rho_t = rho_inf - 2*t*beta2**t/(1-beta2**t)``: ``rho_t > 5`` applies
the rectified adaptive step ``lr*m/(1-beta1**t) * r_t*sqrt(1-beta2**t)/(sqrt(v) + eps)``, else
``lr*m/(1-beta1**t)``.
)pbdoc");
}

}  // namespace fastgd
