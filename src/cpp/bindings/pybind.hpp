// Include-first header of the bindings: the py alias, and the argument checks every kernel shares.
// Each check raises TypeError/ValueError naming the function, the argument, and what was expected
// and received, before any compute starts.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <climits>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;
using namespace pybind11::literals;

namespace fastgd::bind {

enum class DType { f32, f64 };

// NumPy's "aligned" flag: a kernel reads and writes T* directly, so every array it touches must be
// aligned to its dtype (views into byte buffers at odd offsets are not). Inputs are copied, outputs
// and in-place buffers refused.
constexpr int npy_aligned = py::detail::npy_api::NPY_ARRAY_ALIGNED_;
inline bool is_aligned(const py::array& a) { return (a.flags() & npy_aligned) != 0; }

std::string shape_str(const py::array& a);
std::string describe(py::handle obj);  // "float32 array of shape (3, 4)" or "list"

// The object as a float32/float64 ndarray (no conversion: anything else is a TypeError).
py::array float_array(py::handle obj, const char* fn, const char* arg);
DType dtype_of(const py::array& a);
const char* dtype_name(DType dt);

// TypeError naming both dtypes unless b has a's dtype.
void same_dtype(const char* fn, const char* arg_a, const py::array& a, const char* arg_b,
                const py::array& b);
void require_ndim(const char* fn, const char* arg, const py::array& a, std::initializer_list<int> ndims,
                  const char* expected);
void require_shape(const char* fn, const char* arg, const py::array& a, const py::array& like,
                   const char* like_arg);
void require_blas_size(const char* fn, const char* arg, const py::array& a);

// A C-contiguous, aligned version of a (the array itself when it already is, else one copy).
py::array c_contiguous(const py::array& a);

// A 2-D operand for BLAS: C-ordered as is, Fortran-ordered read transposed, anything else
// (strided, unaligned) copied.
struct Matrix {
  py::array keep;
  bool trans;
  template <typename T> const T* data() const { return static_cast<const T*>(keep.data()); }
};
Matrix matrix(const py::array& a);

// The output array: a new C-contiguous array, or `out` after checking its type, dtype, shape,
// layout, alignment, writability and that it overlaps no input (except exactly, where in-place is allowed).
py::array output(py::handle out, const char* fn, const char* arg, DType dt,
                 const std::vector<py::ssize_t>& shape, std::initializer_list<const py::array*> inputs,
                 bool in_place_ok);

// ValueError when out shares memory with in (for a kernel that may not run in place on it).
void no_overlap(const char* fn, const char* arg, const py::array& out, const char* in_arg,
                const py::array& in);

// Integer class labels as C-contiguous int64, checked to lie in [0, classes).
py::array_t<int64_t> class_labels(const py::array& labels, const char* fn, py::ssize_t classes);

// Optional weights of a loss (sample_weight, a class weight, pos_weight): None gives None, else
// a 1-D float array of like's dtype with len entries (`expected` spells that length out, e.g.
// "(n_samples,) = (3,)"), each finite and >= 0; returned C-contiguous and aligned.
py::object loss_weights(py::handle w, const char* fn, const char* arg, const py::array& like,
                        const char* like_arg, py::ssize_t len, const std::string& expected);

// Call f with a float or double tag (f(float{}) / f(double{})) by dtype.
template <typename F>
decltype(auto) dispatch(DType dt, F&& f) {
  if (dt == DType::f32) return f(float{});
  return f(double{});
}

template <typename T> T* ptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }
template <typename T> const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }

}  // namespace fastgd::bind
