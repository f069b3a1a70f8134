#include "dense.hpp"

#include <algorithm>

#include "blas.hpp"
#include "parallel.hpp"
#include "simd.hpp"
#include "smallgemm.hpp"

namespace fastgd {

namespace {

// Leading dimension of a row-major operand with logical shape rows × cols.
inline int ld(bool trans, int64_t rows, int64_t cols) {
  return static_cast<int>(std::max<int64_t>(1, trans ? rows : cols));
}

// db = Σ_rows dZ: sums over blocks of 64 rows in T (vectorised along the row), flushed into
// double, so float32 stays accurate for large batches. Columns go in chunks of 256 so that the
// accumulators live on the stack: no allocation per call.
template <typename T>
FASTGD_INLINE void column_sums_t(const T* dZ, T* db, int64_t n, int64_t out) {
  constexpr int64_t kCols = 256, kRows = 64;
  double acc[kCols];
  T blk[kCols];
  for (int64_t j0 = 0; j0 < out; j0 += kCols) {
    const int64_t m = std::min(kCols, out - j0);
    std::fill(acc, acc + m, 0.0);
    for (int64_t i0 = 0; i0 < n; i0 += kRows) {
      const int64_t i1 = std::min(n, i0 + kRows);
      std::fill(blk, blk + m, T(0));
      for (int64_t i = i0; i < i1; ++i) {
        const T* __restrict row = dZ + i * out + j0;
        T* __restrict b = blk;
        for (int64_t j = 0; j < m; ++j) b[j] += row[j];
      }
      for (int64_t j = 0; j < m; ++j) acc[j] += double(blk[j]);
    }
    for (int64_t j = 0; j < m; ++j) db[j0 + j] = static_cast<T>(acc[j]);
  }
}

FASTGD_CLONES void column_sums(const float* dZ, float* db, int64_t n, int64_t out) {
  column_sums_t(dZ, db, n, out);
}
FASTGD_CLONES void column_sums(const double* dZ, double* db, int64_t n, int64_t out) {
  column_sums_t(dZ, db, n, out);
}

// C = op(A)·B + beta·C, B not transposed: the direct loop for tiny products, BLAS otherwise.
FASTGD_CLONES void small_gemm(bool ta, int M, int N, int K, const float* A, int lda, const float* B,
                              float beta, float* C) {
  if (ta) smallgemm::gemm_t<float, true>(M, N, K, 1.f, A, lda, B, N, beta, C, N);
  else smallgemm::gemm_t<float, false>(M, N, K, 1.f, A, lda, B, N, beta, C, N);
}
FASTGD_CLONES void small_gemm(bool ta, int M, int N, int K, const double* A, int lda, const double* B,
                              double beta, double* C) {
  if (ta) smallgemm::gemm_t<double, true>(M, N, K, 1., A, lda, B, N, beta, C, N);
  else smallgemm::gemm_t<double, false>(M, N, K, 1., A, lda, B, N, beta, C, N);
}

// narrow_gemm's direct loops, each a cloned entry point (a lambda inside a cloned function is not
// cloned: the thread split below calls these, not the templates).
FASTGD_CLONES void dot_rows(int M, int K, const float* A, int lda, const float* w, float beta, float* z) {
  smallgemm::dot_rows<float>(M, K, A, lda, w, beta, z);
}
FASTGD_CLONES void dot_rows(int M, int K, const double* A, int lda, const double* w, double beta, double* z) {
  smallgemm::dot_rows<double>(M, K, A, lda, w, beta, z);
}
FASTGD_CLONES void outer(int M, int N, const float* a, int lda, const float* b, float* C) {
  smallgemm::outer<float>(M, N, a, lda, b, C);
}
FASTGD_CLONES void outer(int M, int N, const double* a, int lda, const double* b, double* C) {
  smallgemm::outer<double>(M, N, a, lda, b, C);
}
FASTGD_CLONES void weighted_rows(int M, int K, const float* A, int lda, const float* d, float* c) {
  smallgemm::weighted_rows<float>(M, K, A, lda, d, c);
}
FASTGD_CLONES void weighted_rows(int M, int K, const double* A, int lda, const double* d, double* c) {
  smallgemm::weighted_rows<double>(M, K, A, lda, d, c);
}

// Products with one output column or one inner index, which OpenBLAS runs through its general
// path (packing, thread checks) for a few hundred multiply-adds: digits_tiny's 32 -> 1 layer spent
// a fifth of its step there. Returns false for any other product (BLAS takes it).
//  - N = 1, A not transposed (a layer's forward Z = X·w): dot_rows for every M, so each row's
//    output is the same whatever the batch; rows split over threads when large (each row is summed
//    by one thread, in the same clone: the split changes nothing).
//  - K = 1, beta = 0 (dX = dZ·Wᵀ of a one-output layer): the outer product.
//  - N = 1, A transposed, beta = 0, at most 64k multiply-adds (dW = Xᵀ·dZ of a one-output layer):
//    weighted_rows; larger ones stay with BLAS (its float32 sums over many rows).
template <typename T>
bool narrow_gemm(bool ta, bool tb, int M, int N, int K, const T* A, int lda, const T* B, int ldb,
                 T beta, T* C) {
  const bool b_contiguous = tb || ldb == 1;  // B's K (or N) values one after another
  if (N == 1 && !ta && b_contiguous) {
    if (int64_t(M) * K < (int64_t(1) << 18)) {
      dot_rows(M, K, A, lda, B, beta, C);
    } else {
      const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 17) / std::max(K, 1));
      parallel_chunks(M, grain, [&](int64_t a, int64_t b) {
        dot_rows(int(b - a), K, A + a * lda, lda, B, beta, C + a);
      });
    }
    return true;
  }
  if (K == 1 && beta == T(0) && (!tb || ldb == 1) && int64_t(M) * N <= (int64_t(1) << 18)) {
    outer(M, N, A, ta ? 1 : lda, B, C);
    return true;
  }
  if (N == 1 && ta && b_contiguous && beta == T(0) && int64_t(M) * K <= 65536) {
    weighted_rows(M, K, A, lda, B, C);
    return true;
  }
  return false;
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same loop on 512-bit vectors, for CPUs with AVX-512 (chosen at run time: half the FMAs of
// the AVX2 clone at 10×64×32).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#define FASTGD_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
FASTGD_AVX512 void small_gemm_512(bool ta, int M, int N, int K, const float* A, int lda, const float* B,
                                  float beta, float* C) {
  if (ta) smallgemm::gemm_t<float, true, 64>(M, N, K, 1.f, A, lda, B, N, beta, C, N);
  else smallgemm::gemm_t<float, false, 64>(M, N, K, 1.f, A, lda, B, N, beta, C, N);
}
FASTGD_AVX512 void small_gemm_512(bool ta, int M, int N, int K, const double* A, int lda, const double* B,
                                  double beta, double* C) {
  if (ta) smallgemm::gemm_t<double, true, 64>(M, N, K, 1., A, lda, B, N, beta, C, N);
  else smallgemm::gemm_t<double, false, 64>(M, N, K, 1., A, lda, B, N, beta, C, N);
}
#undef FASTGD_AVX512
#pragma GCC diagnostic pop

bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq");
  return yes;
}
#endif

// C (M×N, C-contiguous) = op(A)·op(B) + beta·C.
template <typename T>
void gemm(bool ta, bool tb, int M, int N, int K, const T* A, int lda, const T* B, int ldb, T beta,
          T* C) {
  if (!tb && ldb == N) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (smallgemm::pays<T, 64>(M, N, K) && has_avx512())
      return small_gemm_512(ta, M, N, K, A, lda, B, beta, C);
#endif
    if (smallgemm::pays<T>(M, N, K)) return small_gemm(ta, M, N, K, A, lda, B, beta, C);
  }
  if ((N == 1 || K == 1) && narrow_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C)) return;
  blas::gemm(ta, tb, M, N, K, T(1), A, lda, B, ldb, beta, C, N);
}

}  // namespace

template <typename T>
void linear_forward(Mat<T> X, Mat<T> W, const T* b, T* Z, int64_t n, int64_t in, int64_t out) {
  if (n == 0 || out == 0) return;
  // Bias fused into the GEMM: C starts as the broadcast bias and beta = 1.
  for (int64_t i = 0; i < n; ++i) {
    T* z = Z + i * out;
    if (b) std::copy(b, b + out, z);
    else std::fill(z, z + out, T(0));
  }
  if (in == 0) return;
  gemm(X.trans, W.trans, int(n), int(out), int(in), X.data, ld(X.trans, n, in), W.data,
       ld(W.trans, in, out), T(1), Z);
}

template <typename T>
void linear_backward(Mat<T> X, Mat<T> W, const T* dZ, T* dX, T* dW, T* db, int64_t n, int64_t in,
                     int64_t out) {
  // dX = dZ·Wᵀ  (n×out · out×in)
  if (dX && n * in > 0) {
    if (out == 0) std::fill(dX, dX + n * in, T(0));
    else
      gemm(false, !W.trans, int(n), int(in), int(out), dZ, int(out), W.data, ld(W.trans, in, out),
           T(0), dX);
  }
  // dW = Xᵀ·dZ  (in×n · n×out)
  if (dW && in * out > 0) {
    if (n == 0) std::fill(dW, dW + in * out, T(0));
    else
      gemm(!X.trans, false, int(in), int(out), int(n), X.data, ld(X.trans, n, in), dZ, int(out),
           T(0), dW);
  }
  if (db && out > 0) column_sums(dZ, db, n, out);
}

template void linear_forward<float>(Mat<float>, Mat<float>, const float*, float*, int64_t, int64_t,
                                    int64_t);
template void linear_forward<double>(Mat<double>, Mat<double>, const double*, double*, int64_t,
                                     int64_t, int64_t);
template void linear_backward<float>(Mat<float>, Mat<float>, const float*, float*, float*, float*,
                                     int64_t, int64_t, int64_t);
template void linear_backward<double>(Mat<double>, Mat<double>, const double*, double*, double*,
                                      double*, int64_t, int64_t, int64_t);

}  // namespace fastgd
