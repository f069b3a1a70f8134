#include "pybind.hpp"

#include <limits>
#include <sstream>

namespace fastgd::bind {

namespace {

[[noreturn]] void type_error(const std::string& msg) { throw py::type_error(msg); }
[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }

std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

std::pair<const char*, const char*> byte_range(const py::array& a) {
  const char* lo = static_cast<const char*>(a.data());
  if (a.size() == 0) return {lo, lo};
  // Span of all elements, whatever the strides.
  const char* first = lo;
  const char* last = lo;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    const py::ssize_t step = a.strides(d) * (a.shape(d) - 1);
    if (step < 0) first += step;
    else last += step;
  }
  return {first, last + a.itemsize()};
}

}  // namespace

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << '(';
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s << (d ? ", " : "") << a.shape(d);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}

std::string describe(py::handle obj) {
  if (py::isinstance<py::array>(obj)) {
    auto a = py::reinterpret_borrow<py::array>(obj);
    return dtype_str(a) + " array of shape " + shape_str(a);
  }
  return std::string(Py_TYPE(obj.ptr())->tp_name);
}

py::array float_array(py::handle obj, const char* fn, const char* arg) {
  // A NumPy scalar (np.float32(1.5)) is taken as a 0-d array of its own dtype.
  static const py::handle generic = py::object(py::module_::import("numpy").attr("generic")).release();
  if (!py::isinstance<py::array>(obj) && py::isinstance(obj, generic)) {
    py::array a = py::array::ensure(obj);
    if (a && (a.dtype().equal(py::dtype::of<float>()) || a.dtype().equal(py::dtype::of<double>()))) return a;
  }
  if (!py::isinstance<py::array>(obj))
    type_error(std::string(fn) + ": " + arg + " must be a float32 or float64 numpy.ndarray, got " +
               describe(obj) + (obj.is_none() ? "" : " (convert with np.asarray(..., dtype=np.float32))"));
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().equal(py::dtype::of<float>()) && !a.dtype().equal(py::dtype::of<double>()))
    type_error(std::string(fn) + ": " + arg + " must be float32 or float64, got " + dtype_str(a) +
               " array of shape " + shape_str(a));
  return a;
}

DType dtype_of(const py::array& a) {
  return a.dtype().equal(py::dtype::of<float>()) ? DType::f32 : DType::f64;
}

const char* dtype_name(DType dt) { return dt == DType::f32 ? "float32" : "float64"; }

void same_dtype(const char* fn, const char* arg_a, const py::array& a, const char* arg_b,
                const py::array& b) {
  if (dtype_of(a) != dtype_of(b))
    type_error(std::string(fn) + ": " + arg_a + " and " + arg_b +
               " must have the same dtype, got " + arg_a + " " + dtype_name(dtype_of(a)) + " and " +
               arg_b + " " + dtype_name(dtype_of(b)) + " (cast one with .astype())");
}

void require_ndim(const char* fn, const char* arg, const py::array& a, std::initializer_list<int> ndims,
                  const char* expected) {
  for (int d : ndims)
    if (a.ndim() == d) return;
  value_error(std::string(fn) + ": " + arg + " must be " + expected + ", got shape " + shape_str(a));
}

void require_shape(const char* fn, const char* arg, const py::array& a, const py::array& like,
                   const char* like_arg) {
  bool same = a.ndim() == like.ndim();
  for (py::ssize_t d = 0; same && d < a.ndim(); ++d) same = a.shape(d) == like.shape(d);
  if (!same)
    value_error(std::string(fn) + ": " + arg + " must have the shape of " + like_arg + " " +
                shape_str(like) + ", got shape " + shape_str(a));
}

void require_blas_size(const char* fn, const char* arg, const py::array& a) {
  for (py::ssize_t d = 0; d < a.ndim(); ++d)
    if (a.shape(d) > INT_MAX)
      value_error(std::string(fn) + ": " + arg + " dimension " + std::to_string(d) + " is " +
                  std::to_string(a.shape(d)) + ", larger than the 32-bit BLAS limit " +
                  std::to_string(INT_MAX));
}

py::array c_contiguous(const py::array& a) {
  if ((a.flags() & py::array::c_style) && is_aligned(a)) return a;
  return py::array::ensure(a, py::array::c_style | npy_aligned);
}

Matrix matrix(const py::array& a) {
  if (is_aligned(a)) {
    if (a.flags() & py::array::c_style) return {a, false};
    if (a.flags() & py::array::f_style) return {a, true};
  }
  return {c_contiguous(a), false};
}

py::array output(py::handle out, const char* fn, const char* arg, DType dt,
                 const std::vector<py::ssize_t>& shape, std::initializer_list<const py::array*> inputs,
                 bool in_place_ok) {
  const py::dtype want = dt == DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>();
  if (out.is_none()) return py::array(want, shape);
  if (!py::isinstance<py::array>(out))
    type_error(std::string(fn) + ": " + arg + " must be a numpy.ndarray, got " + describe(out));
  auto o = py::reinterpret_borrow<py::array>(out);
  if (!o.dtype().equal(want))
    type_error(std::string(fn) + ": " + arg + " must be " + dtype_name(dt) + ", got " + dtype_str(o));
  bool same = o.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t d = 0; same && d < shape.size(); ++d) same = o.shape(d) == shape[d];
  if (!same) {
    py::array like(want, shape);
    value_error(std::string(fn) + ": " + arg + " must have shape " + shape_str(like) + ", got " +
                shape_str(o));
  }
  if (!(o.flags() & py::array::c_style))
    value_error(std::string(fn) + ": " + arg + " must be C-contiguous (it is written in place)");
  if (!is_aligned(o))
    value_error(std::string(fn) + ": " + arg + " is not aligned to its dtype " + dtype_name(dt) +
                " (a view at an odd byte offset); pass a freshly allocated array");
  if (!o.writeable()) value_error(std::string(fn) + ": " + arg + " is read-only");
  const auto [olo, ohi] = byte_range(o);
  for (const py::array* in : inputs) {
    if (!in || in->size() == 0 || o.size() == 0) continue;
    const auto [ilo, ihi] = byte_range(*in);
    const bool exact = ilo == olo && ihi == ohi && (in->flags() & py::array::c_style);
    if (olo < ihi && ilo < ohi && !(in_place_ok && exact))
      value_error(std::string(fn) + ": " + arg + " overlaps an input array" +
                  (in_place_ok ? " (only an exact in-place alias is allowed)" : ""));
  }
  return o;
}

void no_overlap(const char* fn, const char* arg, const py::array& out, const char* in_arg,
                const py::array& in) {
  if (out.size() == 0 || in.size() == 0) return;
  const auto [olo, ohi] = byte_range(out);
  const auto [ilo, ihi] = byte_range(in);
  if (olo < ihi && ilo < ohi)
    value_error(std::string(fn) + ": " + arg + " must not share memory with " + in_arg);
}

py::array_t<int64_t> class_labels(const py::array& labels, const char* fn, py::ssize_t classes) {
  const char kind = labels.dtype().kind();
  if (kind != 'i' && kind != 'u')
    type_error(std::string(fn) + ": labels of shape " + shape_str(labels) +
               " must be integer class indices (any integer dtype), got " + dtype_str(labels) +
               (kind == 'f' ? "; use labels.astype(int), or pass (n, classes) probabilities" : ""));
  auto y = py::array_t<int64_t, py::array::c_style | py::array::forcecast | npy_aligned>::ensure(labels);
  if (!y) throw py::error_already_set();
  const int64_t* p = y.data();
  for (py::ssize_t i = 0; i < y.size(); ++i) {
    // uint64 values above INT64_MAX wrap to negative here and are reported as out of range.
    if (p[i] < 0 || p[i] >= classes) {
      const std::string shown = kind == 'u' && p[i] < 0 ? std::to_string(uint64_t(p[i])) : std::to_string(p[i]);
      value_error(std::string(fn) + ": labels must be class indices in [0, " + std::to_string(classes) +
                  ") for logits with " + std::to_string(classes) + " columns, got " + shown +
                  " at index " + std::to_string(i));
    }
  }
  return y;
}

py::object loss_weights(py::handle w, const char* fn, const char* arg, const py::array& like,
                        const char* like_arg, py::ssize_t len, const std::string& expected) {
  if (w.is_none()) return py::none();
  py::array a = float_array(w, fn, arg);
  same_dtype(fn, like_arg, like, arg, a);
  if (a.ndim() != 1 || a.shape(0) != len)
    value_error(std::string(fn) + ": " + arg + " must have shape " + expected + " to match " + like_arg + " " +
                shape_str(like) + ", got shape " + shape_str(a));
  a = c_contiguous(a);
  const auto first_bad = [&](auto tag) -> std::pair<py::ssize_t, double> {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(a.data());
    for (py::ssize_t i = 0; i < len; ++i)
      if (!(p[i] >= T(0) && p[i] <= std::numeric_limits<T>::max())) return {i, double(p[i])};  // NaN, < 0, inf
    return {-1, 0.0};
  };
  const auto [i, v] = dtype_of(a) == DType::f32 ? first_bad(float{}) : first_bad(double{});
  if (i >= 0)
    value_error(std::string(fn) + ": " + arg + " must be finite and >= 0, got " +
                py::str(py::float_(v)).cast<std::string>() + " at index " + std::to_string(i));
  return std::move(a);
}

}  // namespace fastgd::bind
