#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include "losses.hpp"

namespace fastgd {

using namespace bind;

namespace {

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

py::array softmax_py(py::handle Z_, py::handle out) {
  const char* fn = "softmax";
  py::array Z = float_array(Z_, fn, "Z");
  require_ndim(fn, "Z", Z, {1, 2}, "1-D (classes,) or 2-D (n_samples, classes)");
  Z = c_contiguous(Z);
  const DType dt = dtype_of(Z);
  py::array P = output(out, fn, "out", dt, shape_of(Z), {&Z}, true);
  const int64_t c = Z.shape(Z.ndim() - 1), n = Z.ndim() == 2 ? Z.shape(0) : 1;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* z = cptr<T>(Z);
    T* p = ptr<T>(P);
    py::gil_scoped_release release;
    softmax<T>(z, p, n, c);
  });
  return P;
}

py::tuple softmax_cross_entropy_py(py::handle L_, py::handle y_, py::handle out) {
  const char* fn = "softmax_cross_entropy";
  py::array L = float_array(L_, fn, "logits");
  require_ndim(fn, "logits", L, {2}, "2-D (n_samples, classes)");
  if (!py::isinstance<py::array>(y_))
    throw py::type_error(std::string(fn) + ": labels must be a numpy.ndarray of integer class indices (n,) "
                         "or probabilities (n, classes), got " + describe(y_));
  auto y = py::reinterpret_borrow<py::array>(y_);
  const int64_t n = L.shape(0), c = L.shape(1);
  L = c_contiguous(L);
  const DType dt = dtype_of(L);
  if (y.ndim() == 1) {
    if (y.shape(0) != n)
      throw py::value_error(std::string(fn) + ": labels must have shape (n_samples,) = (" + std::to_string(n) +
                            ",) to match logits " + shape_str(L) + ", got shape " + shape_str(y));
    py::array_t<int64_t> labels = class_labels(y, fn, c);
    py::array D = output(out, fn, "out", dt, shape_of(L), {&L}, true);
    double loss = 0;
    dispatch(dt, [&](auto tag) {
      using T = decltype(tag);
      const T* l = cptr<T>(L);
      const int64_t* yl = labels.data();
      T* d = ptr<T>(D);
      py::gil_scoped_release release;
      loss = softmax_cross_entropy<T>(l, yl, d, n, c);
    });
    return py::make_tuple(loss, D);
  }
  if (y.ndim() != 2)
    throw py::value_error(std::string(fn) + ": labels must be 1-D class indices (n,) or 2-D probabilities (n, classes), got shape " +
                          shape_str(y));
  py::array t = float_array(y, fn, "labels");
  same_dtype(fn, "logits", L, "labels", t);
  require_shape(fn, "labels", t, L, "logits");
  t = c_contiguous(t);
  py::array D = output(out, fn, "out", dt, shape_of(L), {&L, &t}, true);
  no_overlap(fn, "out", D, "labels", t);  // the row pass reads t after writing out
  double loss = 0;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *l = cptr<T>(L), *tp = cptr<T>(t);
    T* d = ptr<T>(D);
    py::gil_scoped_release release;
    loss = softmax_cross_entropy_probs<T>(l, tp, d, n, c);
  });
  return py::make_tuple(loss, D);
}

// targets for BCE: the logits' float dtype, or integer/bool 0/1 labels (converted, never the
// logits). A float of the other precision is a TypeError.
py::array bce_targets(py::handle t_, const py::array& L, const char* fn) {
  if (!py::isinstance<py::array>(t_))
    throw py::type_error(std::string(fn) + ": targets must be a numpy.ndarray, got " + describe(t_));
  auto t = py::reinterpret_borrow<py::array>(t_);
  const char kind = t.dtype().kind();
  if (kind == 'i' || kind == 'u' || kind == 'b')
    return dtype_of(L) == DType::f32
               ? py::array(py::array_t<float, py::array::c_style | py::array::forcecast | npy_aligned>::ensure(t))
               : py::array(py::array_t<double, py::array::c_style | py::array::forcecast | npy_aligned>::ensure(t));
  py::array tf = float_array(t, fn, "targets");
  same_dtype(fn, "logits", L, "targets", tf);
  return tf;
}

py::tuple bce_with_logits_py(py::handle L_, py::handle t_, py::handle out) {
  const char* fn = "bce_with_logits";
  py::array L = float_array(L_, fn, "logits");
  py::array t = bce_targets(t_, L, fn);
  require_shape(fn, "targets", t, L, "logits");
  L = c_contiguous(L);
  t = c_contiguous(t);
  const DType dt = dtype_of(L);
  py::array D = output(out, fn, "out", dt, shape_of(L), {&L, &t}, true);
  double loss = 0;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *l = cptr<T>(L), *tp = cptr<T>(t);
    T* d = ptr<T>(D);
    const int64_t N = L.size();
    py::gil_scoped_release release;
    loss = bce_with_logits<T>(l, tp, d, N);
  });
  return py::make_tuple(loss, D);
}

py::tuple mse_py(py::handle p_, py::handle t_, py::handle out) {
  const char* fn = "mse";
  py::array P = float_array(p_, fn, "pred"), t = float_array(t_, fn, "target");
  same_dtype(fn, "pred", P, "target", t);
  require_shape(fn, "target", t, P, "pred");
  P = c_contiguous(P);
  t = c_contiguous(t);
  const DType dt = dtype_of(P);
  py::array D = output(out, fn, "out", dt, shape_of(P), {&P, &t}, true);
  double loss = 0;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *p = cptr<T>(P), *tp = cptr<T>(t);
    T* d = ptr<T>(D);
    const int64_t N = P.size();
    py::gil_scoped_release release;
    loss = mse<T>(p, tp, d, N);
  });
  return py::make_tuple(loss, D);
}

py::array mse_gradient_py(py::handle w_, py::handle X_, py::handle y_, py::handle out) {
  const char* fn = "mse_gradient";
  py::array w = float_array(w_, fn, "weights"), X = float_array(X_, fn, "features"),
            y = float_array(y_, fn, "targets");
  same_dtype(fn, "weights", w, "features", X);
  same_dtype(fn, "weights", w, "targets", y);
  require_ndim(fn, "features", X, {1, 2}, "1-D (n_samples,) for one feature or 2-D (n_samples, n_features)");
  const int64_t n = X.shape(0), d = X.ndim() == 2 ? X.shape(1) : 1;
  if (w.ndim() != 1 || w.shape(0) != d + 1)
    throw py::value_error(std::string(fn) + ": weights must have shape (n_features + 1,) = (" +
                          std::to_string(d + 1) + ",) (bias first) to match features " + shape_str(X) +
                          ", got shape " + shape_str(w));
  if (y.ndim() != 1 || y.shape(0) != n)
    throw py::value_error(std::string(fn) + ": targets must have shape (n_samples,) = (" + std::to_string(n) +
                          ",) to match features " + shape_str(X) + ", got shape " + shape_str(y));
  w = c_contiguous(w);
  X = c_contiguous(X);
  y = c_contiguous(y);
  const DType dt = dtype_of(w);
  py::array G = output(out, fn, "out", dt, shape_of(w), {&w, &X, &y}, true);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *wp = cptr<T>(w), *xp = cptr<T>(X), *yp = cptr<T>(y);
    T* g = ptr<T>(G);
    py::gil_scoped_release release;
    mse_gradient<T>(wp, xp, yp, g, n, d);
  });
  return G;
}

}  // namespace

void register_losses(py::module_& m) {
  m.def("softmax", &softmax_py, "Z"_a, py::kw_only(), "out"_a = py::none(), R"pbdoc(
Row-wise softmax of logits Z (n, c) or (c,), shifted by the row max: stable for any logits.
)pbdoc");
  m.def("softmax_cross_entropy", &softmax_cross_entropy_py, "logits"_a, "labels"_a, py::kw_only(),
        "out"_a = py::none(), R"pbdoc(
Mean softmax cross-entropy on logits (n, c) and its gradient, in one pass per row.

labels: integer class indices (n,) of any integer dtype in [0, c), or probabilities (n, c) of the
logits' dtype. Returns ``(loss: float, dlogits)`` with ``dlogits = (softmax * sum(t) - t) / n``.
)pbdoc");
  m.def("bce_with_logits", &bce_with_logits_py, "logits"_a, "targets"_a, py::kw_only(),
        "out"_a = py::none(), R"pbdoc(
Mean binary cross-entropy on logits, stable for any |logits|; targets of the logits' shape
(float of the same dtype, or integer/bool 0/1). Returns ``(loss: float, (sigmoid(z) - t) / N)``.
)pbdoc");
  m.def("mse", &mse_py, "pred"_a, "target"_a, py::kw_only(), "out"_a = py::none(), R"pbdoc(
Mean squared error over all elements and its gradient: ``(mean((p - t)**2), 2 (p - t) / N)``.
)pbdoc");
  m.def("mse_gradient", &mse_gradient_py, "weights"_a, "features"_a, "targets"_a, py::kw_only(),
        "out"_a = py::none(), R"pbdoc(
Average MSE gradient of the linear model ``features @ weights[1:] + weights[0]`` in one pass.

weights: (d+1,) bias first; features: (n, d) or (n,) for one feature; targets: (n,).
Returns the gradient, shape of weights: ``(2/n) [sum(r), features.T @ r]`` with residuals r.
)pbdoc");
}

}  // namespace fastgd
