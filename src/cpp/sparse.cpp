#include "sparse.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "parallel.hpp"
#include "simd.hpp"

namespace fastgd {

namespace {

// Multiply-adds below which a second thread does not pay (waking one costs ~10 µs).
constexpr int64_t kGrain = 1 << 16;

// The rows of W / dW an entry reads are scattered over megabytes: fetch the row of the entry
// kAhead places on while this one is computed (its first 512 bytes; the hardware prefetcher
// follows a longer row).
constexpr int64_t kAhead = 8;
template <typename T, typename I>
FASTGD_INLINE void prefetch_row(const T* M, const I* indices, int64_t q, int64_t end, int64_t stride, int64_t width,
                                int rw) {
  if (q >= end) return;
  const T* row = M + int64_t(indices[q]) * stride;
  const int64_t bytes = std::min<int64_t>(width * int64_t(sizeof(T)), 512);
  for (int64_t o = 0; o < bytes; o += 64) {
    if (rw) __builtin_prefetch(reinterpret_cast<const char*>(row) + o, 1);
    else __builtin_prefetch(reinterpret_cast<const char*>(row) + o, 0);
  }
}

// Z[r0:r1] = X[r0:r1]·W + b: each row starts as b, then gains v·W[col] for each entry (col, v).
template <typename T, typename I>
FASTGD_INLINE void forward_rows_t(const I* indptr, const I* indices, const T* data, const T* W, const T* b,
                                  T* Z, int64_t r0, int64_t r1, int64_t out) {
  const int64_t last = indptr[r1];
  for (int64_t q = indptr[r0]; q < std::min(last, indptr[r0] + kAhead); ++q) prefetch_row(W, indices, q, last, out, out, 0);
  for (int64_t i = r0; i < r1; ++i) {
    T* __restrict z = Z + i * out;
    if (b) std::copy(b, b + out, z);
    else std::fill(z, z + out, T(0));
    int64_t p = indptr[i];
    const int64_t end = indptr[i + 1];
    for (; p + 1 < end; p += 2) {  // two entries per pass: half the loads and stores of z
      prefetch_row(W, indices, p + kAhead, last, out, out, 0);
      prefetch_row(W, indices, p + kAhead + 1, last, out, out, 0);
      const T v0 = data[p], v1 = data[p + 1];
      const T* __restrict w0 = W + int64_t(indices[p]) * out;
      const T* __restrict w1 = W + int64_t(indices[p + 1]) * out;
      for (int64_t j = 0; j < out; ++j) z[j] += v0 * w0[j] + v1 * w1[j];
    }
    if (p < end) {
      prefetch_row(W, indices, p + kAhead, last, out, out, 0);
      const T v = data[p];
      const T* __restrict w = W + int64_t(indices[p]) * out;
      for (int64_t j = 0; j < out; ++j) z[j] += v * w[j];
    }
  }
}

// dW[:, j0:j1] += Σ_i Σ_p data[p] · dZ[i, j0:j1] at row indices[p] of dW (dW zeroed before).
template <typename T, typename I>
FASTGD_INLINE void backward_cols_t(const I* indptr, const I* indices, const T* data, const T* dZ, T* dW,
                                   int64_t rows, int64_t out, int64_t j0, int64_t j1) {
  const int64_t m = j1 - j0, last = indptr[rows];
  for (int64_t q = indptr[0]; q < std::min(last, indptr[0] + kAhead); ++q)
    prefetch_row(dW + j0, indices, q, last, out, m, 1);
  for (int64_t i = 0; i < rows; ++i) {
    const T* __restrict dz = dZ + i * out + j0;
    for (int64_t p = indptr[i], end = indptr[i + 1]; p < end; ++p) {
      prefetch_row(dW + j0, indices, p + kAhead, last, out, m, 1);
      const T v = data[p];
      T* __restrict dw = dW + int64_t(indices[p]) * out + j0;
      for (int64_t j = 0; j < m; ++j) dw[j] += v * dz[j];
    }
  }
}

// The loops compiled per CPU level (simd.hpp), one overload per (dtype, index type).
#define FASTGD_SPARSE_LOOPS(T, I)                                                                          \
  FASTGD_CLONES void forward_rows(const I* indptr, const I* indices, const T* data, const T* W, const T* b, \
                                  T* Z, int64_t r0, int64_t r1, int64_t out) {                             \
    forward_rows_t(indptr, indices, data, W, b, Z, r0, r1, out);                                           \
  }                                                                                                        \
  FASTGD_CLONES void backward_cols(const I* indptr, const I* indices, const T* data, const T* dZ, T* dW,    \
                                   int64_t rows, int64_t out, int64_t j0, int64_t j1) {                    \
    backward_cols_t(indptr, indices, data, dZ, dW, rows, out, j0, j1);                                     \
  }
FASTGD_SPARSE_LOOPS(float, int32_t)
FASTGD_SPARSE_LOOPS(float, int64_t)
FASTGD_SPARSE_LOOPS(double, int32_t)
FASTGD_SPARSE_LOOPS(double, int64_t)
#undef FASTGD_SPARSE_LOOPS

// db = Σ_rows dZ in double, columns in chunks of 256 (accumulators on the stack).
template <typename T>
void column_sums(const T* dZ, T* db, int64_t n, int64_t out) {
  constexpr int64_t kCols = 256;
  double acc[kCols];
  for (int64_t j0 = 0; j0 < out; j0 += kCols) {
    const int64_t m = std::min(kCols, out - j0);
    std::fill(acc, acc + m, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const T* row = dZ + i * out + j0;
      for (int64_t j = 0; j < m; ++j) acc[j] += double(row[j]);
    }
    for (int64_t j = 0; j < m; ++j) db[j0 + j] = T(acc[j]);
  }
}

template <typename I>
void check_t(const I* indptr, const I* indices, int64_t rows, int64_t nnz, int64_t cols) {
  if (indptr[0] < 0)
    throw std::invalid_argument("indptr must start at an offset >= 0, got indptr[0] = " + std::to_string(indptr[0]));
  for (int64_t i = 0; i < rows; ++i)
    if (indptr[i + 1] < indptr[i])
      throw std::invalid_argument("indptr must be non-decreasing, got indptr[" + std::to_string(i) + "] = " +
                                  std::to_string(indptr[i]) + " > indptr[" + std::to_string(i + 1) +
                                  "] = " + std::to_string(indptr[i + 1]));
  if (int64_t(indptr[rows]) > nnz)
    throw std::invalid_argument("indptr[-1] = " + std::to_string(indptr[rows]) +
                                " must not exceed the length of indices and data (" + std::to_string(nnz) + ")");
  for (int64_t p = indptr[0], end = indptr[rows]; p < end; ++p)
    if (indices[p] < 0 || int64_t(indices[p]) >= cols)
      throw std::invalid_argument("indices must be column numbers in [0, " + std::to_string(cols) + "), got " +
                                  std::to_string(indices[p]) + " at position " + std::to_string(p));
}

// Call f(indptr, indices) with the index arrays typed.
template <typename T, typename F>
void with_index(const CsrRef<T>& X, F&& f) {
  if (X.wide) f(static_cast<const int64_t*>(X.indptr), static_cast<const int64_t*>(X.indices));
  else f(static_cast<const int32_t*>(X.indptr), static_cast<const int32_t*>(X.indices));
}

}  // namespace

template <typename T>
void csr_check(const CsrRef<T>& X, int64_t nnz, int64_t cols) {
  with_index(X, [&](auto ip, auto ix) { check_t(ip, ix, X.rows, nnz, cols); });
}

template <typename T>
void csr_linear_forward(const CsrRef<T>& X, const T* W, const T* b, T* Z, int64_t in, int64_t out) {
  (void)in;
  const int64_t n = X.rows;
  if (n == 0 || out == 0) return;
  with_index(X, [&](auto ip, auto ix) {
    const int64_t first = ip[0], nnz = ip[n] - first;
    const int tasks = parallel_tasks(nnz * out + n * out, kGrain);
    if (tasks < 2) return forward_rows(ip, ix, X.data, W, b, Z, 0, n, out);
    // Task t takes the rows whose entries start in its share of [first, first + nnz).
    const auto row_at = [&](int t) -> int64_t {
      if (t >= tasks) return n;
      const int64_t target = first + nnz * t / tasks;
      return std::lower_bound(ip, ip + n, target) - ip;
    };
    parallel_for(tasks, [&](int t) {
      const int64_t r0 = row_at(t), r1 = row_at(t + 1);
      if (r0 < r1) forward_rows(ip, ix, X.data, W, b, Z, r0, r1, out);
    });
  });
}

template <typename T>
void csr_linear_backward(const CsrRef<T>& X, const T* dZ, T* dW, T* db, int64_t in, int64_t out) {
  const int64_t n = X.rows;
  if (db && out > 0) column_sums(dZ, db, n, out);
  if (in * out == 0) return;
  // dW is mostly untouched by a batch's entries but must be all zeros: memset in parallel chunks.
  parallel_chunks(in * out, kGrain * 4, [&](int64_t lo, int64_t hi) {
    std::memset(dW + lo, 0, size_t(hi - lo) * sizeof(T));
  });
  if (n == 0) return;
  with_index(X, [&](auto ip, auto ix) {
    const int64_t nnz = ip[n] - ip[0];
    // Column blocks of whole cache lines (64 bytes), so threads share no line of dW.
    constexpr int64_t line = 64 / sizeof(T);
    const int64_t blocks = (out + line - 1) / line;
    const int tasks = int(std::min<int64_t>(blocks, parallel_tasks(nnz * out, kGrain)));
    if (tasks < 2) return backward_cols(ip, ix, X.data, dZ, dW, n, out, 0, out);
    parallel_for(tasks, [&](int t) {
      const int64_t j0 = std::min(out, blocks * t / tasks * line);
      const int64_t j1 = std::min(out, blocks * (t + 1) / tasks * line);
      if (j0 < j1) backward_cols(ip, ix, X.data, dZ, dW, n, out, j0, j1);
    });
  });
}

template void csr_check<float>(const CsrRef<float>&, int64_t, int64_t);
template void csr_check<double>(const CsrRef<double>&, int64_t, int64_t);
template void csr_linear_forward<float>(const CsrRef<float>&, const float*, const float*, float*, int64_t, int64_t);
template void csr_linear_forward<double>(const CsrRef<double>&, const double*, const double*, double*, int64_t,
                                         int64_t);
template void csr_linear_backward<float>(const CsrRef<float>&, const float*, float*, float*, int64_t, int64_t);
template void csr_linear_backward<double>(const CsrRef<double>&, const double*, double*, double*, int64_t,
                                          int64_t);

}  // namespace fastgd
