#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "norm.hpp"

namespace fastgd {

using namespace bind;

namespace {

constexpr const char* kX = "2-D (n_samples, num_features)";

double check_eps(const char* fn, double eps) {
  if (!(eps >= 0.0) || !std::isfinite(eps))
    throw py::value_error(std::string(fn) + ": eps must be a finite number >= 0, got " + std::to_string(eps));
  return eps;
}

// A (size,) vector of X's dtype (C-contiguous copy if needed), or nothing for None.
std::optional<py::array> vec(py::handle obj, const char* fn, const char* arg, const py::array& X,
                             py::ssize_t size, const char* what) {
  if (obj.is_none()) return std::nullopt;
  py::array a = float_array(obj, fn, arg);
  same_dtype(fn, "X", X, arg, a);
  if (a.ndim() != 1 || a.shape(0) != size)
    throw py::value_error(std::string(fn) + ": " + arg + " must have shape (" + what + ",) = (" +
                          std::to_string(size) + ",) to match X " + shape_str(X) + ", got shape " + shape_str(a));
  return c_contiguous(a);
}

py::array required_vec(py::handle obj, const char* fn, const char* arg, const py::array& X, py::ssize_t size,
                       const char* what) {
  if (obj.is_none())
    throw py::type_error(std::string(fn) + ": " + arg + " must be a float32 or float64 numpy.ndarray, got None");
  return *vec(obj, fn, arg, X, size, what);
}

py::array matrix_X(py::handle X_, const char* fn) {
  py::array X = float_array(X_, fn, "X");
  require_ndim(fn, "X", X, {2}, kX);
  return c_contiguous(X);
}

py::array matching(py::handle obj, const char* fn, const char* arg, const py::array& X) {
  py::array a = float_array(obj, fn, arg);
  same_dtype(fn, "X", X, arg, a);
  require_shape(fn, arg, a, X, "X");
  return c_contiguous(a);
}

// A new C-contiguous array of X's dtype.
py::array like(const py::array& X, py::ssize_t size) {
  return py::array(X.dtype(), std::vector<py::ssize_t>{size});
}

template <typename T>
const T* opt_ptr(const std::optional<py::array>& a) {
  return a ? cptr<T>(*a) : nullptr;
}

py::tuple batchnorm_forward_py(py::handle X_, py::handle w_, py::handle b_, py::handle rm_, py::handle rv_,
                               double eps, py::handle out) {
  const char* fn = "batchnorm_forward";
  check_eps(fn, eps);
  py::array X = matrix_X(X_, fn);
  const py::ssize_t n = X.shape(0), c = X.shape(1);
  auto w = vec(w_, fn, "weight", X, c, "num_features"), b = vec(b_, fn, "bias", X, c, "num_features");
  auto rm = vec(rm_, fn, "running_mean", X, c, "num_features");
  auto rv = vec(rv_, fn, "running_var", X, c, "num_features");
  if (rm.has_value() != rv.has_value())
    throw py::value_error(std::string(fn) + ": running_mean and running_var must be given together (eval mode) "
                          "or both be None (batch statistics), got only " + (rm ? "running_mean" : "running_var"));
  const bool batch = !rm;
  if (batch && n < 2)
    throw py::value_error(std::string(fn) + ": batch statistics need more than 1 value per feature (as torch: "
                          "'Expected more than 1 value per channel when training'), got X of shape " + shape_str(X));
  const DType dt = dtype_of(X);
  py::array Y = output(out, fn, "out", dt, {n, c}, {&X}, true);  // in place over X only
  for (const auto& [arg, a] : {std::pair{"weight", &w}, {"bias", &b}, {"running_mean", &rm}, {"running_var", &rv}})
    if (*a) no_overlap(fn, "out", Y, arg, **a);
  py::array mean = batch ? like(X, c) : py::array(rm->attr("copy")());
  py::array var = batch ? like(X, c) : py::array(rv->attr("copy")());
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* x = cptr<T>(X);
    T *m = ptr<T>(mean), *v = ptr<T>(var), *y = ptr<T>(Y);
    const T *wp = opt_ptr<T>(w), *bp = opt_ptr<T>(b);
    py::gil_scoped_release release;
    if (batch) batchnorm_stats<T>(x, n, c, m, v);
    batchnorm_apply<T>(x, m, v, wp, bp, y, n, c, eps);
  });
  return py::make_tuple(Y, mean, var);
}

py::tuple batchnorm_backward_py(py::handle X_, py::handle w_, py::handle mean_, py::handle var_, py::handle dY_,
                                double eps, bool batch_stats, py::handle out) {
  const char* fn = "batchnorm_backward";
  check_eps(fn, eps);
  py::array X = matrix_X(X_, fn);
  const py::ssize_t n = X.shape(0), c = X.shape(1);
  auto w = vec(w_, fn, "weight", X, c, "num_features");
  py::array mean = required_vec(mean_, fn, "mean", X, c, "num_features");
  py::array var = required_vec(var_, fn, "var", X, c, "num_features");
  py::array dY = matching(dY_, fn, "dY", X);
  const DType dt = dtype_of(X);
  py::array dX = output(out, fn, "out", dt, {n, c}, {&X, w ? &*w : nullptr, &mean, &var, &dY}, false);
  py::array dw = like(X, c), db = like(X, c);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    T *dx = ptr<T>(dX), *dwp = ptr<T>(dw), *dbp = ptr<T>(db);
    const T *x = cptr<T>(X), *m = cptr<T>(mean), *v = cptr<T>(var), *g = cptr<T>(dY), *wp = opt_ptr<T>(w);
    py::gil_scoped_release release;
    batchnorm_backward<T>(x, m, v, wp, g, dx, dwp, dbp, n, c, eps, batch_stats);
  });
  return py::make_tuple(dX, dw, db);
}

py::tuple layernorm_forward_py(py::handle X_, py::handle w_, py::handle b_, double eps, py::handle out) {
  const char* fn = "layernorm_forward";
  check_eps(fn, eps);
  py::array X = matrix_X(X_, fn);
  const py::ssize_t n = X.shape(0), c = X.shape(1);
  auto w = vec(w_, fn, "weight", X, c, "normalized_shape"), b = vec(b_, fn, "bias", X, c, "normalized_shape");
  const DType dt = dtype_of(X);
  py::array Y = output(out, fn, "out", dt, {n, c}, {&X}, true);  // in place over X only
  if (w) no_overlap(fn, "out", Y, "weight", *w);
  if (b) no_overlap(fn, "out", Y, "bias", *b);
  py::array mean = like(X, n), var = like(X, n);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* x = cptr<T>(X);
    T *m = ptr<T>(mean), *v = ptr<T>(var), *y = ptr<T>(Y);
    const T *wp = opt_ptr<T>(w), *bp = opt_ptr<T>(b);
    py::gil_scoped_release release;
    layernorm_forward<T>(x, wp, bp, y, m, v, n, c, eps);
  });
  if (c == 0) {  // no features: the mean and variance of nothing, as NumPy's (no warning here)
    mean.attr("fill")(py::float_(NAN));
    var.attr("fill")(py::float_(NAN));
  }
  return py::make_tuple(Y, mean, var);
}

py::tuple layernorm_backward_py(py::handle X_, py::handle w_, py::handle mean_, py::handle var_, py::handle dY_,
                                double eps, py::handle out) {
  const char* fn = "layernorm_backward";
  check_eps(fn, eps);
  py::array X = matrix_X(X_, fn);
  const py::ssize_t n = X.shape(0), c = X.shape(1);
  auto w = vec(w_, fn, "weight", X, c, "normalized_shape");
  py::array mean = required_vec(mean_, fn, "mean", X, n, "n_samples");
  py::array var = required_vec(var_, fn, "var", X, n, "n_samples");
  py::array dY = matching(dY_, fn, "dY", X);
  const DType dt = dtype_of(X);
  py::array dX = output(out, fn, "out", dt, {n, c}, {&X, w ? &*w : nullptr, &mean, &var, &dY}, false);
  py::array dw = like(X, c), db = like(X, c);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    T *dx = ptr<T>(dX), *dwp = ptr<T>(dw), *dbp = ptr<T>(db);
    const T *x = cptr<T>(X), *m = cptr<T>(mean), *v = cptr<T>(var), *g = cptr<T>(dY), *wp = opt_ptr<T>(w);
    py::gil_scoped_release release;
    layernorm_backward<T>(x, wp, m, v, g, dx, dwp, dbp, n, c, eps);
  });
  return py::make_tuple(dX, dw, db);
}

}  // namespace

void register_norm(py::module_& m) {
  m.def("batchnorm_forward", &batchnorm_forward_py, "X"_a, "weight"_a = py::none(), "bias"_a = py::none(),
        "running_mean"_a = py::none(), "running_var"_a = py::none(), py::kw_only(), "eps"_a = 1e-5,
        "out"_a = py::none(), R"pbdoc(
BatchNorm1d forward over the rows of X (n, c), as ``torch.nn.functional.batch_norm``:
``Y = (X - mean) / sqrt(var + eps) * weight + bias`` per column.

With ``running_mean``/``running_var`` None, mean and var are this batch's (the biased variance;
train mode, n >= 2); given, those (eval mode). The running statistics are not updated here.

Args:
    X: (n, c) float32/float64. weight, bias: (c,) or None (1 and 0). running_mean, running_var:
    (c,) or both None. eps: >= 0. out: optional (n, c) array for Y (may be X).
Returns:
    (Y, mean, var): the statistics used, (c,) each.
)pbdoc");
  m.def("batchnorm_backward", &batchnorm_backward_py, "X"_a, "weight"_a, "mean"_a, "var"_a, "dY"_a,
        py::kw_only(), "eps"_a = 1e-5, "batch_stats"_a = true, "out"_a = py::none(), R"pbdoc(
BatchNorm1d backward from the forward's X, weight (or None), mean and var.

``dweight = sum(dY * xhat, 0)``, ``dbias = sum(dY, 0)`` with ``xhat = (X - mean) / sqrt(var + eps)``;
batch_stats=True (train mode): ``dX = weight / sqrt(var + eps) * (dY - dbias/n - xhat * dweight/n)``;
False (running statistics): ``dX = dY * weight / sqrt(var + eps)``. Returns ``(dX, dweight, dbias)``.
)pbdoc");
  m.def("layernorm_forward", &layernorm_forward_py, "X"_a, "weight"_a = py::none(), "bias"_a = py::none(),
        py::kw_only(), "eps"_a = 1e-5, "out"_a = py::none(), R"pbdoc(
LayerNorm forward over the columns of each row of X (n, c), as ``torch.nn.functional.layer_norm``:
``Y = (X - mean) / sqrt(var + eps) * weight + bias`` with per-row mean and biased var.

Args:
    X: (n, c). weight, bias: (c,) or None. eps: >= 0. out: optional (n, c) array for Y (may be X).
Returns:
    (Y, mean, var) with mean, var of shape (n,).
)pbdoc");
  m.def("layernorm_backward", &layernorm_backward_py, "X"_a, "weight"_a, "mean"_a, "var"_a, "dY"_a,
        py::kw_only(), "eps"_a = 1e-5, "out"_a = py::none(), R"pbdoc(
LayerNorm backward from the forward's X, weight (or None) and per-row mean, var.

With ``g = dY * weight`` and ``xhat = (X - mean) / sqrt(var + eps)`` per row:
``dX = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps)`` (means over the row),
``dweight = sum(dY * xhat, 0)``, ``dbias = sum(dY, 0)``. Returns ``(dX, dweight, dbias)``.
)pbdoc");
}

}  // namespace fastgd
