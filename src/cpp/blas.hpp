// The only file that names scipy_cblas_* / scipy_openblas_*: float and double overloads of the
// few BLAS calls the kernels make, all row-major.
#pragma once

#include <cblas.h>

namespace fastgd::blas {

inline CBLAS_TRANSPOSE flag(bool trans) { return trans ? CblasTrans : CblasNoTrans; }

// C = alpha · op(A) · op(B) + beta · C,  op(A): M×K, op(B): K×N, C: M×N (row-major).
inline void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  scipy_cblas_sgemm(CblasRowMajor, flag(ta), flag(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda,
                 const double* B, int ldb, double beta, double* C, int ldc) {
  scipy_cblas_dgemm(CblasRowMajor, flag(ta), flag(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// y = alpha · op(A) · x + beta · y, A: M×N row-major.
inline void gemv(bool ta, int M, int N, float alpha, const float* A, int lda, const float* x,
                 float beta, float* y) {
  scipy_cblas_sgemv(CblasRowMajor, flag(ta), M, N, alpha, A, lda, x, 1, beta, y, 1);
}
inline void gemv(bool ta, int M, int N, double alpha, const double* A, int lda, const double* x,
                 double beta, double* y) {
  scipy_cblas_dgemv(CblasRowMajor, flag(ta), M, N, alpha, A, lda, x, 1, beta, y, 1);
}

inline int get_num_threads() { return scipy_openblas_get_num_threads(); }
inline void set_num_threads(int n) { scipy_openblas_set_num_threads(n); }
inline const char* config() { return scipy_openblas_get_config(); }
inline const char* corename() { return scipy_openblas_get_corename(); }

}  // namespace fastgd::blas
