#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include "activations.hpp"

#include <cmath>
#include <type_traits>

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

// A = f(Z) for a kernel with hyper-parameters: kernel(z, a, n) is a generic lambda over T.
template <typename K>
py::array unary_with(const char* fn, py::handle Z_, py::handle out, K&& kernel) {
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
    kernel(z, a, n);
  });
  return A;
}

// dZ = f(Z, dA) for a kernel with hyper-parameters: kernel(z, da, dz, n).
template <typename K>
py::array binary_with(const char* fn, const char* xname, py::handle X_, py::handle dA_, py::handle out,
                      K&& kernel) {
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
    kernel(x, da, dz, n);
  });
  return dZ;
}

// A hyper-parameter that must be a finite number (ValueError naming it otherwise).
double finite(const char* fn, const char* name, double v) {
  if (!std::isfinite(v))
    throw py::value_error(std::string(fn) + ": " + name + " must be a finite number, got " + std::to_string(v));
  return v;
}

// GELU's approximate: "none" (erf) or "tanh", as torch.nn.GELU.
bool gelu_mode(const char* fn, const std::string& approximate) {
  if (approximate == "none") return false;
  if (approximate == "tanh") return true;
  throw py::value_error(std::string(fn) + ": approximate must be 'none' or 'tanh', got '" + approximate + "'");
}

double softplus_beta(const char* fn, double beta) {
  if (finite(fn, "beta", beta) == 0) throw py::value_error(std::string(fn) + ": beta must be non-zero, got 0");
  return beta;
}

py::array softmax_backward_py(py::handle P_, py::handle dA_, py::handle out) {
  const char* fn = "softmax_backward";
  py::array P = float_array(P_, fn, "P"), dA = float_array(dA_, fn, "dA");
  same_dtype(fn, "P", P, "dA", dA);
  require_ndim(fn, "P", P, {1, 2}, "1-D (classes,) or 2-D (n_samples, classes)");
  require_shape(fn, "dA", dA, P, "P");
  P = c_contiguous(P);
  dA = c_contiguous(dA);
  const DType dt = dtype_of(P);
  std::vector<py::ssize_t> shape(P.shape(), P.shape() + P.ndim());
  py::array dZ = output(out, fn, "out", dt, shape, {&P, &dA}, true);
  const int64_t c = P.shape(P.ndim() - 1), n = P.ndim() == 2 ? P.shape(0) : 1;
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *p = cptr<T>(P), *da = cptr<T>(dA);
    T* dz = ptr<T>(dZ);
    py::gil_scoped_release release;
    softmax_backward<T>(p, da, dz, n, c);
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
  m.def("gelu",
        [](py::handle Z, const std::string& approximate, py::handle out) {
          const bool ap = gelu_mode("gelu", approximate);
          return unary_with("gelu", Z, out, [ap](auto z, auto a, int64_t n) { gelu(z, a, n, ap); });
        },
        "Z"_a, "approximate"_a = "none", py::kw_only(), "out"_a = py::none(),
        "GELU as torch: ``z/2 * (1 + erf(z/sqrt(2)))``, or with approximate='tanh' "
        "``z/2 * (1 + tanh(sqrt(2/pi) * (z + 0.044715 z**3)))``. Any shape.");
  m.def("gelu_backward",
        [](py::handle Z, py::handle dA, const std::string& approximate, py::handle out) {
          const bool ap = gelu_mode("gelu_backward", approximate);
          return binary_with("gelu_backward", "Z", Z, dA, out,
                             [ap](auto z, auto da, auto dz, int64_t n) { gelu_backward(z, da, dz, n, ap); });
        },
        "Z"_a, "dA"_a, "approximate"_a = "none", py::kw_only(), "out"_a = py::none(),
        "GELU backward from the input Z: ``dZ = dA * (Phi(z) + z * phi(z))`` (tanh form: torch's derivative).");
  m.def("silu",
        [](py::handle Z, py::handle out) {
          return unary_with("silu", Z, out, [](auto z, auto a, int64_t n) { silu(z, a, n); });
        },
        "Z"_a, py::kw_only(), "out"_a = py::none(), "SiLU ``z * sigmoid(z)``, overflow-free. Any shape.");
  m.def("silu_backward",
        [](py::handle Z, py::handle dA, py::handle out) {
          return binary_with("silu_backward", "Z", Z, dA, out,
                             [](auto z, auto da, auto dz, int64_t n) { silu_backward(z, da, dz, n); });
        },
        "Z"_a, "dA"_a, py::kw_only(), "out"_a = py::none(),
        "SiLU backward from the input Z: ``dZ = dA * s * (1 + z * (1 - s))``, s = sigmoid(z).");
  m.def("elu",
        [](py::handle Z, double alpha, py::handle out) {
          finite("elu", "alpha", alpha);
          return unary_with("elu", Z, out, [alpha](auto z, auto a, int64_t n) {
            using T = std::remove_cv_t<std::remove_pointer_t<decltype(z)>>;
            elu(z, a, n, T(alpha));
          });
        },
        "Z"_a, "alpha"_a = 1.0, py::kw_only(), "out"_a = py::none(),
        "ELU as torch: ``z if z > 0 else alpha * (exp(z) - 1)``. Any shape.");
  m.def("elu_backward",
        [](py::handle Z, py::handle dA, double alpha, py::handle out) {
          finite("elu_backward", "alpha", alpha);
          return binary_with("elu_backward", "Z", Z, dA, out, [alpha](auto z, auto da, auto dz, int64_t n) {
            using T = std::remove_cv_t<std::remove_pointer_t<decltype(z)>>;
            elu_backward(z, da, dz, n, T(alpha));
          });
        },
        "Z"_a, "dA"_a, "alpha"_a = 1.0, py::kw_only(), "out"_a = py::none(),
        "ELU backward from the input Z: ``dZ = dA if z > 0 else dA * alpha * exp(z)``.");
  m.def("softplus",
        [](py::handle Z, double beta, double threshold, py::handle out) {
          softplus_beta("softplus", beta);
          finite("softplus", "threshold", threshold);
          return unary_with("softplus", Z, out, [beta, threshold](auto z, auto a, int64_t n) {
            using T = std::remove_cv_t<std::remove_pointer_t<decltype(z)>>;
            softplus(z, a, n, T(beta), T(threshold));
          });
        },
        "Z"_a, "beta"_a = 1.0, "threshold"_a = 20.0, py::kw_only(), "out"_a = py::none(),
        "Softplus as torch: ``log(1 + exp(beta * z)) / beta``, ``z`` where ``beta * z > threshold``; "
        "overflow-free. Any shape.");
  m.def("softplus_backward",
        [](py::handle Z, py::handle dA, double beta, double threshold, py::handle out) {
          softplus_beta("softplus_backward", beta);
          finite("softplus_backward", "threshold", threshold);
          return binary_with("softplus_backward", "Z", Z, dA, out,
                             [beta, threshold](auto z, auto da, auto dz, int64_t n) {
                               using T = std::remove_cv_t<std::remove_pointer_t<decltype(z)>>;
                               softplus_backward(z, da, dz, n, T(beta), T(threshold));
                             });
        },
        "Z"_a, "dA"_a, "beta"_a = 1.0, "threshold"_a = 20.0, py::kw_only(), "out"_a = py::none(),
        "Softplus backward from the input Z: ``dZ = dA * sigmoid(beta * z)``, ``dA`` where ``beta * z > threshold``.");
  m.def("softmax_backward", &softmax_backward_py, "P"_a, "dA"_a, py::kw_only(), "out"_a = py::none(),
        "Row-wise softmax backward from the *output* P (c,) or (n, c): ``dZ = P * (dA - sum(dA * P, -1))``.");
}

}  // namespace fastgd
