#include "pybind.hpp"
// (pybind.hpp first: it sets the py alias used below)
#include <cmath>

#include "dropout.hpp"

namespace fastgd {

using namespace bind;

namespace {

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

double drop_probability(const char* fn, double p) {
  if (!(p >= 0.0 && p < 1.0))
    throw py::value_error(std::string(fn) + ": p must be a probability in [0, 1), got " + std::to_string(p));
  return p;
}

// A Python int in [0, 2**bits) as uint64 (seed: 64 bits, counter: 63), else TypeError/ValueError.
uint64_t unsigned_int(py::handle obj, const char* fn, const char* arg, int bits) {
  const std::string range = std::string("[0, 2**") + std::to_string(bits) + ")";
  static const py::handle integer = py::object(py::module_::import("numbers").attr("Integral")).release();
  if (PyBool_Check(obj.ptr()) || !py::isinstance(obj, integer))
    throw py::type_error(std::string(fn) + ": " + arg + " must be an int in " + range + ", got " + describe(obj));
  py::int_ v(py::reinterpret_borrow<py::object>(obj));
  const unsigned long long r = PyLong_AsUnsignedLongLong(v.ptr());  // OverflowError: < 0 or ≥ 2**64
  const bool overflow = r == ~0ull && PyErr_Occurred();
  if (overflow) PyErr_Clear();
  if (overflow || (bits < 64 && (r >> bits) != 0))
    throw py::value_error(std::string(fn) + ": " + arg + " must be an int in " + range + ", got " +
                          py::str(obj).cast<std::string>());
  return r;
}

// A boolean mask (True: kept) of dA's shape, as C-contiguous bytes.
py::array bool_mask(py::handle obj, const char* fn, const py::array& like, const char* like_arg) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(fn) + ": mask must be a numpy.ndarray of bool, got " + describe(obj));
  auto m = py::reinterpret_borrow<py::array>(obj);
  if (m.dtype().kind() != 'b')
    throw py::type_error(std::string(fn) + ": mask must be a bool array (the mask dropout returned), got " +
                         describe(m));
  require_shape(fn, "mask", m, like, like_arg);
  return py::array::ensure(m, py::array::c_style);
}

py::tuple dropout_py(py::handle X_, double p, py::handle seed_, py::handle counter_, py::handle out) {
  const char* fn = "dropout";
  drop_probability(fn, p);
  const uint64_t seed = unsigned_int(seed_, fn, "seed", 64), counter = unsigned_int(counter_, fn, "counter", 63);
  py::array X = c_contiguous(float_array(X_, fn, "X"));
  const DType dt = dtype_of(X);
  py::array A = output(out, fn, "out", dt, shape_of(X), {&X}, true);
  py::array mask(py::dtype("bool"), shape_of(X));
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* x = cptr<T>(X);
    T* a = ptr<T>(A);
    auto* mk = static_cast<uint8_t*>(mask.mutable_data());
    const int64_t n = X.size();
    py::gil_scoped_release release;
    dropout<T>(x, a, mk, n, p, seed, counter);
  });
  return py::make_tuple(A, mask);
}

py::array dropout_backward_py(py::handle mask_, py::handle dA_, double p, py::handle out) {
  const char* fn = "dropout_backward";
  drop_probability(fn, p);
  py::array dA = c_contiguous(float_array(dA_, fn, "dA"));
  py::array mask = bool_mask(mask_, fn, dA, "dA");
  const DType dt = dtype_of(dA);
  py::array dX = output(out, fn, "out", dt, shape_of(dA), {&dA, &mask}, true);
  no_overlap(fn, "out", dX, "mask", mask);
  dispatch(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* da = cptr<T>(dA);
    const auto* mk = static_cast<const uint8_t*>(mask.data());
    T* dx = ptr<T>(dX);
    const int64_t n = dA.size();
    py::gil_scoped_release release;
    dropout_backward<T>(mk, da, dx, n, p);
  });
  return dX;
}

}  // namespace

void register_dropout(py::module_& m) {
  m.def("dropout", &dropout_py, "X"_a, "p"_a, "seed"_a, "counter"_a, py::kw_only(), "out"_a = py::none(),
        R"pbdoc(
Inverted dropout, train mode: ``A = X * mask / (1 - p)``; returns ``(A, mask)``.

The mask is a pure function of ``(seed, counter, element index)`` (a splitmix64 hash, see
``fastgd.reference.dropout``): the same arguments always give the same mask, here, in the NumPy
twin and in the fused training step. Each element is kept with probability ``1 - p``.

Args:
    X: float32/float64, any shape. p: drop probability in [0, 1). seed: int in [0, 2**64).
    counter: int in [0, 2**63), the layer's call number. out: optional array for A (may be X).
Returns:
    (A, mask): A of X's shape and dtype; mask a bool array (True: kept).
)pbdoc");
  m.def("dropout_backward", &dropout_backward_py, "mask"_a, "dA"_a, "p"_a, py::kw_only(), "out"_a = py::none(),
        "Dropout backward: ``dX = dA * mask / (1 - p)`` with the bool mask dropout returned.");
}

}  // namespace fastgd
