#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include "activations.hpp"

namespace fastgd {

using namespace bind;

namespace {

// A = f(Z), any shape; out may be Z itself (in place).
template <void (*F32)(const float*, float*, int64_t), void (*F64)(const double*, double*, int64_t)>
py::array unary(const char* fn, py::handle Z_, py::handle out) {
  py::array Z = c_contiguous(float_array(Z_, fn, "Z"));
  const DType dt = dtype_of(Z);
  std::vector<py::ssize_t> shape(Z.shape(), Z.shape() + Z.ndim());
  py::array A = output(out, fn, "out", dt, shape, {&Z}, true);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* z = cptr<T>(Z);
    T* a = ptr<T>(A);
    const int64_t n = Z.size();
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, float>) F32(z, a, n);
    else F64(z, a, n);
  });
  return A;
}

// dZ = f(X, dA) elementwise, X (Z or A) and dA of one shape and dtype; out may alias either.
template <void (*F32)(const float*, const float*, float*, int64_t),
          void (*F64)(const double*, const double*, double*, int64_t)>
py::array binary(const char* fn, const char* xname, py::handle X_, py::handle dA_, py::handle out) {
  py::array X = float_array(X_, fn, xname), dA = float_array(dA_, fn, "dA");
  same_dtype(fn, xname, X, "dA", dA);
  require_shape(fn, "dA", dA, X, xname);
  X = c_contiguous(X);
  dA = c_contiguous(dA);
  const DType dt = dtype_of(X);
  std::vector<py::ssize_t> shape(X.shape(), X.shape() + X.ndim());
  py::array dZ = output(out, fn, "out", dt, shape, {&X, &dA}, true);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *x = cptr<T>(X), *da = cptr<T>(dA);
    T* dz = ptr<T>(dZ);
    const int64_t n = X.size();
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, float>) F32(x, da, dz, n);
    else F64(x, da, dz, n);
  });
  return dZ;
}

double check_slope(const char* fn, double slope) {
  if (!(slope == slope)) throw py::value_error(std::string(fn) + ": slope must be a number, got nan");
  return slope;
}

py::array leaky_relu_py(py::handle Z_, double slope, py::handle out) {
  const char* fn = "leaky_relu";
  check_slope(fn, slope);
  py::array Z = c_contiguous(float_array(Z_, fn, "Z"));
  const DType dt = dtype_of(Z);
  std::vector<py::ssize_t> shape(Z.shape(), Z.shape() + Z.ndim());
  py::array A = output(out, fn, "out", dt, shape, {&Z}, true);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* z = cptr<T>(Z);
    T* a = ptr<T>(A);
    const int64_t n = Z.size();
    py::gil_scoped_release release;
    leaky_relu<T>(z, a, n, T(slope));
  });
  return A;
}

py::array leaky_relu_backward_py(py::handle Z_, py::handle dA_, double slope, py::handle out) {
  const char* fn = "leaky_relu_backward";
  check_slope(fn, slope);
  py::array Z = float_array(Z_, fn, "Z"), dA = float_array(dA_, fn, "dA");
  same_dtype(fn, "Z", Z, "dA", dA);
  require_shape(fn, "dA", dA, Z, "Z");
  Z = c_contiguous(Z);
  dA = c_contiguous(dA);
  const DType dt = dtype_of(Z);
  std::vector<py::ssize_t> shape(Z.shape(), Z.shape() + Z.ndim());
  py::array dZ = output(out, fn, "out", dt, shape, {&Z, &dA}, true);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *z = cptr<T>(Z), *da = cptr<T>(dA);
    T* dz = ptr<T>(dZ);
    const int64_t n = Z.size();
    py::gil_scoped_release release;
    leaky_relu_backward<T>(z, da, dz, n, T(slope));
  });
  return dZ;
}

}  // namespace

void register_activations(py::module_& m) {
  m.def("relu", [](py::handle Z, py::handle out) { return unary<relu<float>, relu<double>>("relu", Z, out); },
        "Z"_a, py::kw_only(), "out"_a = py::none(),
        "ReLU ``max(Z, 0)`` elementwise (NaN stays NaN). Any shape; out may be Z (in place).");
  m.def("relu_backward",
        [](py::handle Z, py::handle dA, py::handle out) {
          return binary<relu_backward<float>, relu_backward<double>>("relu_backward", "Z", Z, dA, out);
        },
        "Z"_a, "dA"_a, py::kw_only(), "out"_a = py::none(),
        "ReLU backward from the layer *input* Z: ``dZ = dA where Z > 0 else 0``.");
  m.def("leaky_relu", &leaky_relu_py, "Z"_a, "slope"_a = 0.01, py::kw_only(), "out"_a = py::none(),
        "Leaky ReLU: ``Z where Z > 0 else slope * Z``.");
  m.def("leaky_relu_backward", &leaky_relu_backward_py, "Z"_a, "dA"_a, "slope"_a = 0.01, py::kw_only(),
        "out"_a = py::none(), "Leaky ReLU backward from the input Z: ``dA where Z > 0 else slope * dA``.");
  m.def("sigmoid",
        [](py::handle Z, py::handle out) { return unary<sigmoid<float>, sigmoid<double>>("sigmoid", Z, out); },
        "Z"_a, py::kw_only(), "out"_a = py::none(),
        "Logistic sigmoid, overflow-free for any finite Z (``e = exp(-|z|)``). Any shape.");
  m.def("sigmoid_backward",
        [](py::handle A, py::handle dA, py::handle out) {
          return binary<sigmoid_backward<float>, sigmoid_backward<double>>("sigmoid_backward", "A", A, dA, out);
        },
        "A"_a, "dA"_a, py::kw_only(), "out"_a = py::none(),
        "Sigmoid backward from the *output* A: ``dZ = dA * A * (1 - A)``.");
  m.def("tanh", [](py::handle Z, py::handle out) { return unary<tanh<float>, tanh<double>>("tanh", Z, out); },
        "Z"_a, py::kw_only(), "out"_a = py::none(), "Hyperbolic tangent elementwise. Any shape.");
  m.def("tanh_backward",
        [](py::handle A, py::handle dA, py::handle out) {
          return binary<tanh_backward<float>, tanh_backward<double>>("tanh_backward", "A", A, dA, out);
        },
        "A"_a, "dA"_a, py::kw_only(), "out"_a = py::none(),
        "Tanh backward from the *output* A: ``dZ = dA * (1 - A**2)``.");
}

}  // namespace fastgd
