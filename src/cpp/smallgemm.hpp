// Direct GEMM for tiny products, C = alpha·op(A)·B + beta·C (row-major, B not transposed): at
// 10×64×32 OpenBLAS spends most of its time packing, and a register-blocked loop (4 rows × up to
// two 256-bit vectors of accumulators) is 1.5–2× faster. Used by dense.cpp only where it wins
// (see small_gemm_pays); everything else goes to BLAS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "simd.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"  // 256/512-bit vectors in always-inline helpers only

namespace fastgd::smallgemm {

// A vector of Bytes bytes of T (GCC vector extension). 32 bytes: AVX2 in the x86-64-v3 clone, SSE
// pairs otherwise; 64 bytes: one AVX-512 register in the avx512 entry of dense.cpp.
template <typename T, int Bytes = 32>
struct Vec {
  typedef T type __attribute__((vector_size(Bytes)));
  static constexpr int width = Bytes / int(sizeof(T));
};

template <typename V, typename T>
FASTGD_INLINE V load(const T* p) {  // unaligned
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V, typename T>
FASTGD_INLINE void store(T* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

// Where the direct loop beats OpenBLAS (measured on AVX2 and AVX-512, one thread, f32 and f64):
// at most 64k multiply-adds and N a whole number of vectors (with a scalar remainder column it
// loses).
template <typename T, int Bytes = 32>
inline bool pays(int64_t M, int64_t N, int64_t K) {
  return N % Vec<T, Bytes>::width == 0 && M * N * K <= 65536;
}

// C[i..i+MR, j..j+NV·W] = alpha · Σ_k a(i+r, k) B[k, j..] + beta · C  (beta == 0: C is not read)
template <typename T, int Bytes, bool TA, int MR, int NV>
FASTGD_INLINE void block(int K, T alpha, const T* A, int lda, const T* B, int ldb, T beta, T* C,
                         int ldc, int i, int j) {
  using V = typename Vec<T, Bytes>::type;
  constexpr int W = Vec<T, Bytes>::width;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int k = 0; k < K; ++k) {
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = load<V>(B + size_t(k) * ldb + j + v * W);
    for (int r = 0; r < MR; ++r) {
      const T a = TA ? A[size_t(k) * lda + i + r] : A[size_t(i + r) * lda + k];
      for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) {
      T* c = C + size_t(i + r) * ldc + j + v * W;
      V out = alpha * acc[r][v];
      if (beta != T(0)) out += beta * load<V>(c);
      store(c, out);
    }
}

template <typename T, int Bytes, bool TA, int MR>
FASTGD_INLINE void rows(int N, int K, T alpha, const T* A, int lda, const T* B, int ldb, T beta,
                        T* C, int ldc, int i) {
  constexpr int W = Vec<T, Bytes>::width;
  int j = 0;
  for (; j + 2 * W <= N; j += 2 * W) block<T, Bytes, TA, MR, 2>(K, alpha, A, lda, B, ldb, beta, C, ldc, i, j);
  for (; j + W <= N; j += W) block<T, Bytes, TA, MR, 1>(K, alpha, A, lda, B, ldb, beta, C, ldc, i, j);
  for (; j < N; ++j)
    for (int r = 0; r < MR; ++r) {
      T s = T(0);
      for (int k = 0; k < K; ++k)
        s += (TA ? A[size_t(k) * lda + i + r] : A[size_t(i + r) * lda + k]) * B[size_t(k) * ldb + j];
      T* c = C + size_t(i + r) * ldc + j;
      *c = beta != T(0) ? alpha * s + beta * *c : alpha * s;
    }
}

// C (M×N, ldc) = alpha · op(A) · B + beta · C; op(A) = A (M×K, lda) or, with TA, Aᵀ (A: K×M).
template <typename T, bool TA, int Bytes = 32>
FASTGD_INLINE void gemm_t(int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb,
                          T beta, T* C, int ldc) {
  int i = 0;
  for (; i + 4 <= M; i += 4) rows<T, Bytes, TA, 4>(N, K, alpha, A, lda, B, ldb, beta, C, ldc, i);
  switch (M - i) {
    case 3: rows<T, Bytes, TA, 3>(N, K, alpha, A, lda, B, ldb, beta, C, ldc, i); break;
    case 2: rows<T, Bytes, TA, 2>(N, K, alpha, A, lda, B, ldb, beta, C, ldc, i); break;
    case 1: rows<T, Bytes, TA, 1>(N, K, alpha, A, lda, B, ldb, beta, C, ldc, i); break;
    default: break;
  }
}

// One output column: z[i] = Σ_k A[i, k]·w[k] + beta·z[i] for every row i. Each row's sum has
// the same order for any M (four vector partial sums over k, then a fixed reduction), so a row's
// output does not depend on how many rows come with it: this takes every N = 1 forward product,
// whatever the batch (OpenBLAS sums it in another order and would differ by batch size).
template <typename T, int Bytes = 32>
FASTGD_INLINE void dot_rows(int M, int K, const T* A, int lda, const T* w, T beta, T* z) {
  using V = typename Vec<T, Bytes>::type;
  constexpr int W = Vec<T, Bytes>::width;
  for (int i = 0; i < M; ++i) {
    const T* a = A + size_t(i) * lda;
    V acc[4] = {V{}, V{}, V{}, V{}};
    int k = 0;
    for (; k + 4 * W <= K; k += 4 * W)
      for (int u = 0; u < 4; ++u) acc[u] += load<V>(a + k + u * W) * load<V>(w + k + u * W);
    for (; k + W <= K; k += W) acc[0] += load<V>(a + k) * load<V>(w + k);
    const V v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    T s = T(0);
    for (int l = 0; l < W; ++l) s += v[l];
    for (; k < K; ++k) s += a[k] * w[k];
    z[i] = beta != T(0) ? s + beta * z[i] : s;
  }
}

// One inner dimension (K = 1) with beta = 0: the outer product C[i, j] = a[i]·b[j] (a with
// stride lda, b contiguous): one multiplication per element, the same bits in any order.
template <typename T>
FASTGD_INLINE void outer(int M, int N, const T* a, int lda, const T* b, T* C) {
  for (int i = 0; i < M; ++i) {
    const T s = a[size_t(i) * lda];
    T* __restrict c = C + size_t(i) * N;
    for (int j = 0; j < N; ++j) c[j] = s * b[j];
  }
}

// Aᵀ·d for one output column, beta = 0: c[m] = Σ_k d[k]·A[k, m] (A: K×M, lda), rows of A
// added in order, vectorised along m (dW = Xᵀ·dZ of a layer with one output).
template <typename T>
FASTGD_INLINE void weighted_rows(int M, int K, const T* A, int lda, const T* d, T* c) {
  for (int m = 0; m < M; ++m) c[m] = T(0);
  for (int k = 0; k < K; ++k) {
    const T s = d[k];
    const T* __restrict a = A + size_t(k) * lda;
    T* __restrict out = c;
    for (int m = 0; m < M; ++m) out[m] += s * a[m];
  }
}

}  // namespace fastgd::smallgemm

#pragma GCC diagnostic pop
