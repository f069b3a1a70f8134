// A CSR operand from its three NumPy arrays (indptr, indices, data), checked: shared by the sparse
// kernels (register_sparse.cpp) and the engine's sparse entry points (register_engine.cpp).
#pragma once

#include "pybind.hpp"
#include "sparse.hpp"

namespace fastgd::bind {

struct CsrArrays {
  py::array indptr, indices, data;  // C-contiguous and aligned (copied once when not)
  bool wide;                        // int64 indices
  int64_t rows, nnz;
  template <typename T> CsrRef<T> ref() const {
    return {indptr.data(), indices.data(), wide, static_cast<const T*>(data.data()), rows};
  }
};

// TypeError unless indptr and indices are int32/int64 arrays of one dtype and data float32/64;
// ValueError unless all are 1-D, len(indptr) >= 1, len(data) == len(indices), and the structure
// is valid for `cols` columns (csr_check: indptr non-decreasing, indices in [0, cols)).
CsrArrays csr_arrays(py::handle indptr, py::handle indices, py::handle data, const char* fn, int64_t cols);

}  // namespace fastgd::bind
