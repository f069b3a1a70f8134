#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include <optional>

#include "dense.hpp"

namespace fastgd {

using namespace bind;

namespace {

constexpr const char* kX = "2-D (n_samples, in_features)";

py::array linear_forward_py(py::handle X_, py::handle W_, py::handle b_, py::handle out) {
  const char* fn = "linear_forward";
  py::array X = float_array(X_, fn, "X"), W = float_array(W_, fn, "W");
  same_dtype(fn, "X", X, "W", W);
  require_ndim(fn, "X", X, {2}, kX);
  require_ndim(fn, "W", W, {2}, "2-D (in_features, out_features)");
  if (W.shape(0) != X.shape(1))
    throw py::value_error(std::string(fn) + ": W must have shape (in_features, out_features) = (" +
                          std::to_string(X.shape(1)) + ", *) to match X " + shape_str(X) +
                          ", got shape " + shape_str(W));
  require_blas_size(fn, "X", X);
  require_blas_size(fn, "W", W);
  std::optional<py::array> b;  // (a default py::array is an empty array, not "none")
  if (!b_.is_none()) {
    b = float_array(b_, fn, "b");
    same_dtype(fn, "X", X, "b", *b);
    if (b->ndim() != 1 || b->shape(0) != W.shape(1))
      throw py::value_error(std::string(fn) + ": b must have shape (out_features,) = (" +
                            std::to_string(W.shape(1)) + ",) to match W " + shape_str(W) +
                            ", got shape " + shape_str(*b));
    b = c_contiguous(*b);
  }
  const DType dt = dtype_of(X);
  const int64_t n = X.shape(0), in = X.shape(1), nout = W.shape(1);
  py::array Z = output(out, fn, "out", dt, {n, nout}, {&X, &W, b ? &*b : nullptr}, false);
  Matrix mx = matrix(X), mw = matrix(W);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* bp = b ? cptr<T>(*b) : nullptr;
    T* z = ptr<T>(Z);
    py::gil_scoped_release release;
    linear_forward<T>({mx.data<T>(), mx.trans}, {mw.data<T>(), mw.trans}, bp, z, n, in, nout);
  });
  return Z;
}

py::tuple linear_backward_py(py::handle X_, py::handle W_, py::handle dZ_, bool need_dx,
                             py::handle out) {
  const char* fn = "linear_backward";
  py::array X = float_array(X_, fn, "X"), W = float_array(W_, fn, "W"),
            dZ = float_array(dZ_, fn, "dZ");
  same_dtype(fn, "X", X, "W", W);
  same_dtype(fn, "X", X, "dZ", dZ);
  require_ndim(fn, "X", X, {2}, kX);
  require_ndim(fn, "W", W, {2}, "2-D (in_features, out_features)");
  require_ndim(fn, "dZ", dZ, {2}, "2-D (n_samples, out_features)");
  if (W.shape(0) != X.shape(1))
    throw py::value_error(std::string(fn) + ": W must have shape (in_features, out_features) = (" +
                          std::to_string(X.shape(1)) + ", *) to match X " + shape_str(X) +
                          ", got shape " + shape_str(W));
  if (dZ.shape(0) != X.shape(0) || dZ.shape(1) != W.shape(1))
    throw py::value_error(std::string(fn) + ": dZ must have shape (n_samples, out_features) = (" +
                          std::to_string(X.shape(0)) + ", " + std::to_string(W.shape(1)) +
                          ") to match X " + shape_str(X) + " and W " + shape_str(W) +
                          ", got shape " + shape_str(dZ));
  require_blas_size(fn, "X", X);
  require_blas_size(fn, "W", W);
  require_blas_size(fn, "dZ", dZ);
  const DType dt = dtype_of(X);
  const int64_t n = X.shape(0), in = X.shape(1), nout = W.shape(1);
  py::object o_dx = py::none(), o_dw = py::none(), o_db = py::none();
  if (!out.is_none()) {
    if (!py::isinstance<py::tuple>(out) || py::len(out) != 3)
      throw py::type_error(std::string(fn) + ": out must be a tuple (dX, dW, db) of arrays or None, got " +
                           describe(out));
    auto t = py::reinterpret_borrow<py::tuple>(out);
    o_dx = t[0], o_dw = t[1], o_db = t[2];
  }
  py::array dZc = c_contiguous(dZ);
  std::initializer_list<const py::array*> ins = {&X, &W, &dZ};
  py::object dX = py::none();
  py::array dXa;
  if (need_dx) dX = dXa = output(o_dx, fn, "out[0] (dX)", dt, {n, in}, ins, false);
  py::array dW = output(o_dw, fn, "out[1] (dW)", dt, {in, nout}, ins, false);
  py::array db = output(o_db, fn, "out[2] (db)", dt, {nout}, ins, false);
  if (need_dx) {
    no_overlap(fn, "out[0] (dX)", dXa, "out[1] (dW)", dW);
    no_overlap(fn, "out[0] (dX)", dXa, "out[2] (db)", db);
  }
  no_overlap(fn, "out[1] (dW)", dW, "out[2] (db)", db);
  Matrix mx = matrix(X), mw = matrix(W);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    T* dxp = need_dx ? ptr<T>(dXa) : nullptr;
    T *dwp = ptr<T>(dW), *dbp = ptr<T>(db);
    const T* dzp = cptr<T>(dZc);
    py::gil_scoped_release release;
    linear_backward<T>({mx.data<T>(), mx.trans}, {mw.data<T>(), mw.trans}, dzp, dxp, dwp, dbp, n, in,
                       nout);
  });
  return py::make_tuple(dX, dW, db);
}

}  // namespace

void register_dense(py::module_& m) {
  m.def("linear_forward", &linear_forward_py, "X"_a, "W"_a, "b"_a = py::none(), py::kw_only(),
        "out"_a = py::none(), R"pbdoc(
Dense layer forward: ``Z = X @ W + b`` (one GEMM, the bias fused in as its C operand).

Args:
    X: (n, in) float32/float64. W: (in, out), same dtype. b: (out,) or None.
    out: optional C-contiguous (n, out) array to write into.
Returns:
    Z: (n, out), the dtype of X.

Example:
    >>> Z = fastgd.ops.linear_forward(X, W, b)
)pbdoc");
  m.def("linear_backward", &linear_backward_py, "X"_a, "W"_a, "dZ"_a, py::kw_only(),
        "need_dx"_a = true, "out"_a = py::none(), R"pbdoc(
Dense layer backward for ``Z = X @ W + b``: ``dX = dZ @ W.T``, ``dW = X.T @ dZ``, ``db = dZ.sum(0)``.

Args:
    X: (n, in). W: (in, out). dZ: (n, out). All one float dtype.
    need_dx: False skips dX (returned as None), e.g. for a first layer.
    out: optional tuple (dX, dW, db) of arrays (entries may be None) to write into.
Returns:
    (dX, dW, db) with shapes (n, in), (in, out), (out,). db is summed in double precision.
)pbdoc");
}

}  // namespace fastgd
