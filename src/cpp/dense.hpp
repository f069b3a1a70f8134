// Dense (fully connected) layer: Z = X·W + b, W stored (in, out) as in SPEC.md.
#pragma once

#include <cstdint>

namespace fastgd {

// A row-major matrix operand that may be read transposed (a Fortran-ordered array is the
// transpose of a C-ordered one, so BLAS reads it with a flag instead of a copy).
template <typename T>
struct Mat {
  const T* data;
  bool trans;  // true: the memory holds the (cols × rows) transpose in row-major order
};

// Z (n×out, C-contiguous) = X (n×in) · W (in×out) + b (out, or nullptr).
template <typename T>
void linear_forward(Mat<T> X, Mat<T> W, const T* b, T* Z, int64_t n, int64_t in, int64_t out);

// dX = dZ·Wᵀ (skipped when dX is nullptr), dW = Xᵀ·dZ, db = Σ_rows dZ (skipped when nullptr).
// dZ, dX, dW, db are C-contiguous.
template <typename T>
void linear_backward(Mat<T> X, Mat<T> W, const T* dZ, T* dX, T* dW, T* db, int64_t n, int64_t in,
                     int64_t out);

}  // namespace fastgd
