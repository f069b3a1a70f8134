// Sparse (CSR) input of a dense layer: Z = X·W + b, dW = Xᵀ·dZ, db = Σ dZ with X in compressed
// sparse rows, never densified. (No dX: a sparse X is the data, the first layer's input.)
#pragma once

#include <cstdint>

namespace fastgd {

// A CSR matrix of `rows` rows as scipy.sparse holds it: row i's entries are
// data[indptr[i]:indptr[i+1]] in the columns indices[indptr[i]:indptr[i+1]] (in any order;
// repeated columns add up, as in scipy). indptr and indices are int32 or int64 (wide), both alike.
// indptr[0] need not be 0: a row range of a larger matrix is its indptr sliced.
template <typename T>
struct CsrRef {
  const void* indptr;
  const void* indices;
  bool wide;  // int64 indices (else int32)
  const T* data;
  int64_t rows;
};

// Throws std::invalid_argument naming indptr or indices unless X is well formed: indptr[0] >= 0,
// non-decreasing, indptr[rows] <= nnz (the length of indices and data), and every column index
// of the rows in [0, cols).
template <typename T>
void csr_check(const CsrRef<T>& X, int64_t nnz, int64_t cols);

// Z (rows×out, C-contiguous) = X (rows×in) · W (in×out, C-contiguous) + b (out, or nullptr).
// Threaded over rows (balanced by their entries).
template <typename T>
void csr_linear_forward(const CsrRef<T>& X, const T* W, const T* b, T* Z, int64_t in, int64_t out);

// dW (in×out) = Xᵀ·dZ, db (out) = Σ_rows dZ (skipped when nullptr; summed in double), dZ
// (rows×out), all C-contiguous. Threaded over column blocks of dW (no two threads write one
// element, so no partial copies of dW).
template <typename T>
void csr_linear_backward(const CsrRef<T>& X, const T* dZ, T* dW, T* db, int64_t in, int64_t out);

}  // namespace fastgd
