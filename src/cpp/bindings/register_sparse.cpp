#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include <stdexcept>
#include <string>

#include "csr_input.hpp"
#include "sparse.hpp"

namespace fastgd {

using namespace bind;

namespace {

py::array index_array(py::handle obj, const char* fn, const char* arg) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(fn) + ": " + arg + " must be an int32 or int64 numpy.ndarray, got " +
                         describe(obj));
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().equal(py::dtype::of<int32_t>()) && !a.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error(std::string(fn) + ": " + arg + " must be int32 or int64 (as scipy.sparse keeps it), got " +
                         describe(a));
  require_ndim(fn, arg, a, {1}, "1-D");
  return c_contiguous(a);
}

// W as the kernels read it: C-contiguous (in×out); other layouts are copied once.
py::array weights(py::handle W_, const char* fn, const py::array& data) {
  py::array W = float_array(W_, fn, "W");
  same_dtype(fn, "data", data, "W", W);
  require_ndim(fn, "W", W, {2}, "2-D (in_features, out_features)");
  return c_contiguous(W);
}

py::array csr_linear_forward_py(py::handle indptr, py::handle indices, py::handle data, py::handle W_,
                                py::handle b_, py::handle out) {
  const char* fn = "csr_linear_forward";
  py::array d = float_array(data, fn, "data");
  py::array W = weights(W_, fn, d);
  const CsrArrays X = csr_arrays(indptr, indices, data, fn, W.shape(0));
  const int64_t in = W.shape(0), nout = W.shape(1), n = X.rows;
  py::array b;
  const bool has_b = !b_.is_none();
  if (has_b) {
    b = float_array(b_, fn, "b");
    same_dtype(fn, "data", d, "b", b);
    if (b.ndim() != 1 || b.shape(0) != nout)
      throw py::value_error(std::string(fn) + ": b must have shape (out_features,) = (" + std::to_string(nout) +
                            ",) to match W " + shape_str(W) + ", got shape " + shape_str(b));
    b = c_contiguous(b);
  }
  const DType dt = dtype_of(d);
  py::array Z = output(out, fn, "out", dt, {n, nout}, {&X.data, &W, has_b ? &b : nullptr}, false);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const CsrRef<T> x = X.ref<T>();
    const T *w = cptr<T>(W), *bp = has_b ? cptr<T>(b) : nullptr;
    T* z = ptr<T>(Z);
    py::gil_scoped_release release;
    csr_linear_forward<T>(x, w, bp, z, in, nout);
  });
  return Z;
}

py::tuple csr_linear_backward_py(py::handle indptr, py::handle indices, py::handle data, py::handle dZ_,
                                 int64_t n_features, py::handle out) {
  const char* fn = "csr_linear_backward";
  if (n_features < 0)
    throw py::value_error(std::string(fn) + ": n_features must be >= 0, got " + std::to_string(n_features));
  py::array d = float_array(data, fn, "data");
  py::array dZ = float_array(dZ_, fn, "dZ");
  same_dtype(fn, "data", d, "dZ", dZ);
  require_ndim(fn, "dZ", dZ, {2}, "2-D (n_samples, out_features)");
  const CsrArrays X = csr_arrays(indptr, indices, data, fn, n_features);
  if (dZ.shape(0) != X.rows)
    throw py::value_error(std::string(fn) + ": dZ must have shape (n_samples, out_features) = (" +
                          std::to_string(X.rows) + ", *) to match len(indptr) - 1 = " + std::to_string(X.rows) +
                          ", got shape " + shape_str(dZ));
  dZ = c_contiguous(dZ);
  const int64_t nout = dZ.shape(1);
  py::object o_dw = py::none(), o_db = py::none();
  if (!out.is_none()) {
    if (!py::isinstance<py::tuple>(out) || py::len(out) != 2)
      throw py::type_error(std::string(fn) + ": out must be a tuple (dW, db) of arrays or None, got " +
                           describe(out));
    auto t = py::reinterpret_borrow<py::tuple>(out);
    o_dw = t[0], o_db = t[1];
  }
  const DType dt = dtype_of(d);
  std::initializer_list<const py::array*> ins = {&X.data, &dZ};
  py::array dW = output(o_dw, fn, "out[0] (dW)", dt, {n_features, nout}, ins, false);
  py::array db = output(o_db, fn, "out[1] (db)", dt, {nout}, ins, false);
  no_overlap(fn, "out[0] (dW)", dW, "out[1] (db)", db);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const CsrRef<T> x = X.ref<T>();
    const T* dz = cptr<T>(dZ);
    T *dw = ptr<T>(dW), *dbp = ptr<T>(db);
    py::gil_scoped_release release;
    csr_linear_backward<T>(x, dz, dw, dbp, n_features, nout);
  });
  return py::make_tuple(dW, db);
}

}  // namespace

namespace bind {

CsrArrays csr_arrays(py::handle indptr_, py::handle indices_, py::handle data_, const char* fn, int64_t cols) {
  CsrArrays X;
  X.indptr = index_array(indptr_, fn, "indptr");
  X.indices = index_array(indices_, fn, "indices");
  if (!X.indptr.dtype().equal(X.indices.dtype()))
    throw py::type_error(std::string(fn) + ": indptr and indices must have the same dtype, got indptr " +
                         describe(X.indptr) + " and indices " + describe(X.indices));
  py::array d = float_array(data_, fn, "data");
  require_ndim(fn, "data", d, {1}, "1-D (nnz,)");
  X.data = c_contiguous(d);
  if (X.indptr.shape(0) < 1)
    throw py::value_error(std::string(fn) + ": indptr must have n_samples + 1 >= 1 entries, got shape " +
                          shape_str(X.indptr));
  if (X.data.shape(0) != X.indices.shape(0))
    throw py::value_error(std::string(fn) + ": data must have the shape of indices " + shape_str(X.indices) +
                          ", got shape " + shape_str(X.data));
  X.wide = X.indptr.dtype().equal(py::dtype::of<int64_t>());
  X.rows = X.indptr.shape(0) - 1;
  X.nnz = X.indices.shape(0);
  try {
    dispatch(dtype_of(X.data), [&](auto tag) { csr_check(X.ref<decltype(tag)>(), X.nnz, cols); });
  } catch (const std::invalid_argument& e) {
    throw py::value_error(std::string(fn) + ": " + e.what());
  }
  return X;
}

}  // namespace bind

void register_sparse(py::module_& m) {
  m.def("csr_linear_forward", &csr_linear_forward_py, "indptr"_a, "indices"_a, "data"_a, "W"_a,
        "b"_a = py::none(), py::kw_only(), "out"_a = py::none(), R"pbdoc(
Dense layer forward on a CSR input: ``Z = X @ W + b`` with ``X`` given by its CSR arrays
(``X.indptr, X.indices, X.data`` of a scipy.sparse CSR matrix), never densified.

Args:
    indptr: (n + 1,) int32/int64, non-decreasing (need not start at 0: a row range of a larger
        matrix is its indptr sliced). indices: (nnz,) column numbers in [0, in), indptr's dtype,
        any order within a row (repeats add up). data: (nnz,) float32/float64.
    W: (in, out), data's dtype (read C-contiguous; other layouts are copied once). b: (out,) or None.
    out: optional C-contiguous (n, out) array to write into.
Returns:
    Z: (n, out), data's dtype.

Example:
    >>> Z = fastgd.ops.csr_linear_forward(X.indptr, X.indices, X.data, W, b)
)pbdoc");
  m.def("csr_linear_backward", &csr_linear_backward_py, "indptr"_a, "indices"_a, "data"_a, "dZ"_a,
        "n_features"_a, py::kw_only(), "out"_a = py::none(), R"pbdoc(
Dense layer backward for ``Z = X @ W + b`` with a CSR ``X``: ``dW = X.T @ dZ``, ``db = dZ.sum(0)``
(no dX: a sparse X is the data itself).

Args:
    indptr, indices, data: the CSR arrays of X, as in csr_linear_forward. dZ: (n, out), data's dtype.
    n_features: in, the number of columns of X (the rows of dW).
    out: optional tuple (dW, db) of C-contiguous arrays to write into.
Returns:
    (dW, db) with shapes (n_features, out), (out,). db is summed in double precision.
)pbdoc");
}

}  // namespace fastgd
