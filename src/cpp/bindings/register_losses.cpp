#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include "losses.hpp"

#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>

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

// A loss's rows: n samples along the first axis, k = the other axes' product (a 0-d array is one).
std::pair<int64_t, int64_t> rows_of(const py::array& a) {
  if (a.ndim() == 0) return {1, 1};
  int64_t k = 1;
  for (py::ssize_t d = 1; d < a.ndim(); ++d) k *= a.shape(d);
  return {a.shape(0), k};
}

py::object sample_weights(py::handle sw, const char* fn, const py::array& like, const char* like_arg, int64_t n) {
  return loss_weights(sw, fn, "sample_weight", like, like_arg, n,
                      "(n_samples,) = (" + std::to_string(n) + ",)");
}

template <typename T> const T* opt_ptr(const py::object& a) {
  return a.is_none() ? nullptr : static_cast<const T*>(py::reinterpret_borrow<py::array>(a).data());
}

// out may not overlap a weight array (they are read while the gradient is written).
void no_overlap_opt(const char* fn, const py::array& D, const char* arg, const py::object& w) {
  if (!w.is_none()) no_overlap(fn, "out", D, arg, py::reinterpret_borrow<py::array>(w));
}

double check_scalar(const char* fn, const char* arg, double v, bool ok, const char* expected) {
  if (!ok || v != v)
    throw py::value_error(std::string(fn) + ": " + arg + " must be " + expected + ", got " +
                          py::str(py::float_(v)).cast<std::string>());
  return v;
}

py::tuple softmax_cross_entropy_py(py::handle L_, py::handle y_, py::handle weight_, double smoothing,
                                   py::handle sw_, py::handle out) {
  const char* fn = "softmax_cross_entropy";
  py::array L = float_array(L_, fn, "logits");
  require_ndim(fn, "logits", L, {2}, "2-D (n_samples, classes)");
  check_scalar(fn, "label_smoothing", smoothing, smoothing >= 0 && smoothing <= 1, "in [0, 1]");
  if (!py::isinstance<py::array>(y_))
    throw py::type_error(std::string(fn) + ": labels must be a numpy.ndarray of integer class indices (n,) "
                         "or probabilities (n, classes), got " + describe(y_));
  auto y = py::reinterpret_borrow<py::array>(y_);
  const int64_t n = L.shape(0), c = L.shape(1);
  L = c_contiguous(L);
  const DType dt = dtype_of(L);
  py::object cw = loss_weights(weight_, fn, "weight", L, "logits", c, "(classes,) = (" + std::to_string(c) + ",)");
  py::object sw = sample_weights(sw_, fn, L, "logits", n);
  if (y.ndim() == 1) {
    if (y.shape(0) != n)
      throw py::value_error(std::string(fn) + ": labels must have shape (n_samples,) = (" + std::to_string(n) +
                            ",) to match logits " + shape_str(L) + ", got shape " + shape_str(y));
    py::array_t<int64_t> labels = class_labels(y, fn, c);
    py::array D = output(out, fn, "out", dt, shape_of(L), {&L}, true);
    no_overlap_opt(fn, D, "weight", cw);
    no_overlap_opt(fn, D, "sample_weight", sw);
    double loss = 0;
    dispatch(dt, [&](auto tag) {
      using T = decltype(tag);
      const T *l = cptr<T>(L), *w = opt_ptr<T>(cw), *s = opt_ptr<T>(sw);
      const int64_t* yl = labels.data();
      T* d = ptr<T>(D);
      py::gil_scoped_release release;
      loss = softmax_cross_entropy<T>(l, yl, d, n, c, w, T(smoothing), s);
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
  no_overlap_opt(fn, D, "weight", cw);
  no_overlap_opt(fn, D, "sample_weight", sw);
  double loss = 0;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *l = cptr<T>(L), *tp = cptr<T>(t), *w = opt_ptr<T>(cw), *s = opt_ptr<T>(sw);
    T* d = ptr<T>(D);
    py::gil_scoped_release release;
    loss = softmax_cross_entropy_probs<T>(l, tp, d, n, c, w, T(smoothing), s);
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

// pos_weight of BCE: (last dim,) as torch broadcasts it, or (1,); tiled to the row length k.
py::object pos_weights(py::handle pw_, const char* fn, const py::array& L, int64_t k) {
  if (pw_.is_none()) return py::none();
  const int64_t last = L.ndim() >= 2 ? L.shape(L.ndim() - 1) : 1;
  const bool one = py::isinstance<py::array>(pw_) && py::reinterpret_borrow<py::array>(pw_).ndim() == 1 &&
                   py::reinterpret_borrow<py::array>(pw_).shape(0) == 1;
  const std::string expected = last == 1 ? std::string("(1,)")
                                         : "(" + std::to_string(last) + ",) (the last axis) or (1,)";
  py::object pw = loss_weights(pw_, fn, "pos_weight", L, "logits", one ? 1 : last, expected);
  const int64_t len = one ? 1 : last;
  if (len == k) return pw;
  py::array src = py::reinterpret_borrow<py::array>(pw), full(src.dtype(), std::vector<py::ssize_t>{k});
  const size_t item = size_t(src.itemsize());
  const char* s = static_cast<const char*>(src.data());
  char* f = static_cast<char*>(full.mutable_data());
  for (int64_t j = 0; j < k; ++j) std::memcpy(f + size_t(j) * item, s + size_t(j % len) * item, item);
  return std::move(full);
}

py::tuple bce_with_logits_py(py::handle L_, py::handle t_, py::handle pw_, py::handle sw_, py::handle out) {
  const char* fn = "bce_with_logits";
  py::array L = float_array(L_, fn, "logits");
  py::array t = bce_targets(t_, L, fn);
  require_shape(fn, "targets", t, L, "logits");
  L = c_contiguous(L);
  t = c_contiguous(t);
  const DType dt = dtype_of(L);
  const auto [n, k] = rows_of(L);
  py::object pw = pos_weights(pw_, fn, L, k);
  py::object sw = sample_weights(sw_, fn, L, "logits", n);
  py::array D = output(out, fn, "out", dt, shape_of(L), {&L, &t}, true);
  no_overlap_opt(fn, D, "pos_weight", pw);
  no_overlap_opt(fn, D, "sample_weight", sw);
  double loss = 0;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *l = cptr<T>(L), *tp = cptr<T>(t), *w = opt_ptr<T>(pw), *s = opt_ptr<T>(sw);
    T* d = ptr<T>(D);
    py::gil_scoped_release release;
    loss = bce_with_logits<T>(l, tp, d, n, k, w, s);
  });
  return py::make_tuple(loss, D);
}

// The regression losses: pred and target of one shape and dtype, rows along the first axis.
// kernel(p, t, d, n, k, sw) runs without the GIL.
template <typename K>
py::tuple pointwise_loss(const char* fn, py::handle p_, py::handle t_, py::handle sw_, py::handle out, K&& kernel) {
  py::array P = float_array(p_, fn, "pred"), t = float_array(t_, fn, "target");
  same_dtype(fn, "pred", P, "target", t);
  require_shape(fn, "target", t, P, "pred");
  P = c_contiguous(P);
  t = c_contiguous(t);
  const DType dt = dtype_of(P);
  const auto [n, k] = rows_of(P);
  py::object sw = sample_weights(sw_, fn, P, "pred", n);
  py::array D = output(out, fn, "out", dt, shape_of(P), {&P, &t}, true);
  no_overlap_opt(fn, D, "sample_weight", sw);
  double loss = 0;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *p = cptr<T>(P), *tp = cptr<T>(t), *s = opt_ptr<T>(sw);
    T* d = ptr<T>(D);
    py::gil_scoped_release release;
    loss = kernel(p, tp, d, n, k, s);
  });
  return py::make_tuple(loss, D);
}

py::tuple mse_py(py::handle p_, py::handle t_, py::handle sw_, py::handle out) {
  return pointwise_loss("mse", p_, t_, sw_, out, [](auto p, auto t, auto d, int64_t n, int64_t k, auto s) {
    return mse(p, t, d, n, k, s);
  });
}

py::tuple l1_py(py::handle p_, py::handle t_, py::handle sw_, py::handle out) {
  return pointwise_loss("l1", p_, t_, sw_, out, [](auto p, auto t, auto d, int64_t n, int64_t k, auto s) {
    return l1(p, t, d, n, k, s);
  });
}

py::tuple huber_py(py::handle p_, py::handle t_, double delta, py::handle sw_, py::handle out) {
  check_scalar("huber", "delta", delta, delta > 0, "> 0");
  return pointwise_loss("huber", p_, t_, sw_, out, [delta](auto p, auto t, auto d, int64_t n, int64_t k, auto s) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(p)>>;
    return huber(p, t, d, n, k, T(delta), s);
  });
}

py::tuple smooth_l1_py(py::handle p_, py::handle t_, double beta, py::handle sw_, py::handle out) {
  check_scalar("smooth_l1", "beta", beta, beta >= 0, ">= 0");
  return pointwise_loss("smooth_l1", p_, t_, sw_, out, [beta](auto p, auto t, auto d, int64_t n, int64_t k, auto s) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(p)>>;
    return smooth_l1(p, t, d, n, k, T(beta), s);
  });
}

py::tuple poisson_nll_py(py::handle p_, py::handle t_, bool log_input, bool full, double eps, py::handle sw_,
                         py::handle out) {
  check_scalar("poisson_nll", "eps", eps, eps >= 0 && eps < INFINITY, "finite and >= 0");
  return pointwise_loss("poisson_nll", p_, t_, sw_, out,
                        [=](auto p, auto t, auto d, int64_t n, int64_t k, auto s) {
                          using T = std::remove_cv_t<std::remove_pointer_t<decltype(p)>>;
                          return poisson_nll(p, t, d, n, k, log_input, full, T(eps), s);
                        });
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
        "weight"_a = py::none(), "label_smoothing"_a = 0.0, "sample_weight"_a = py::none(),
        "out"_a = py::none(), R"pbdoc(
Mean softmax cross-entropy on logits (n, c) and its gradient, in one pass per row.

labels: integer class indices (n,) of any integer dtype in [0, c), or probabilities (n, c) of the
logits' dtype. Returns ``(loss: float, dlogits)`` with ``dlogits = (softmax * sum(t) - t) / n``.
weight (c,) and label_smoothing in [0, 1] as in ``torch.nn.CrossEntropyLoss`` (with labels the
mean is divided by the sum of the labels' weights); sample_weight (n,) >= 0: the loss is
``sum(s_i l_i) / sum(s_i weight[y_i])`` (probabilities: ``/ sum(s_i)``), 0 when that is 0.
)pbdoc");
  m.def("bce_with_logits", &bce_with_logits_py, "logits"_a, "targets"_a, py::kw_only(),
        "pos_weight"_a = py::none(), "sample_weight"_a = py::none(), "out"_a = py::none(), R"pbdoc(
Mean binary cross-entropy on logits, stable for any |logits|; targets of the logits' shape
(float of the same dtype, or integer/bool 0/1). Returns ``(loss: float, (sigmoid(z) - t) / N)``.
pos_weight (last axis,) or (1,) as in ``torch.nn.BCEWithLogitsLoss``; sample_weight (n,) >= 0
weights the rows: ``sum(s_i l_i) / sum(s_i)`` with l_i the mean over row i.
)pbdoc");
  m.def("mse", &mse_py, "pred"_a, "target"_a, py::kw_only(), "sample_weight"_a = py::none(),
        "out"_a = py::none(), R"pbdoc(
Mean squared error over all elements and its gradient: ``(mean((p - t)**2), 2 (p - t) / N)``.
sample_weight (n,) >= 0 weights the rows (first axis): ``sum(s_i l_i) / sum(s_i)``, l_i the row's mean.
)pbdoc");
  m.def("l1", &l1_py, "pred"_a, "target"_a, py::kw_only(), "sample_weight"_a = py::none(),
        "out"_a = py::none(), R"pbdoc(
Mean absolute error and its gradient ``sign(p - t) / N`` (``torch.nn.L1Loss``); sample_weight as for mse.
)pbdoc");
  m.def("huber", &huber_py, "pred"_a, "target"_a, "delta"_a = 1.0, py::kw_only(),
        "sample_weight"_a = py::none(), "out"_a = py::none(), R"pbdoc(
Mean Huber loss (``torch.nn.HuberLoss``): ``0.5 r**2`` where ``|r| < delta`` else
``delta (|r| - 0.5 delta)``, r = p - t, delta > 0; gradient ``clip(r, -delta, delta) / N``.
sample_weight as for mse.
)pbdoc");
  m.def("smooth_l1", &smooth_l1_py, "pred"_a, "target"_a, "beta"_a = 1.0, py::kw_only(),
        "sample_weight"_a = py::none(), "out"_a = py::none(), R"pbdoc(
Mean smooth L1 loss (``torch.nn.SmoothL1Loss``): ``0.5 r**2 / beta`` where ``|r| < beta`` else
``|r| - 0.5 beta``, beta >= 0 (0: L1); gradient ``clip(r / beta, -1, 1) / N``. sample_weight as for mse.
)pbdoc");
  m.def("poisson_nll", &poisson_nll_py, "pred"_a, "target"_a, py::kw_only(), "log_input"_a = true,
        "full"_a = false, "eps"_a = 1e-8, "sample_weight"_a = py::none(), "out"_a = py::none(), R"pbdoc(
Mean Poisson negative log-likelihood (``torch.nn.PoissonNLLLoss``): ``exp(p) - t p`` (log_input)
or ``p - t log(p + eps)``; full adds Stirling's ``t log t - t + 0.5 log(2 pi t)`` where t > 1.
sample_weight as for mse.
)pbdoc");
  m.def("mse_gradient", &mse_gradient_py, "weights"_a, "features"_a, "targets"_a, py::kw_only(),
        "out"_a = py::none(), R"pbdoc(
Average MSE gradient of the linear model ``features @ weights[1:] + weights[0]`` in one pass.

weights: (d+1,) bias first; features: (n, d) or (n,) for one feature; targets: (n,).
Returns the gradient, shape of weights: ``(2/n) [sum(r), features.T @ r]`` with residuals r.
)pbdoc");
}

}  // namespace fastgd
