// Normalisation layers over an (n × c) row-major batch, as torch's batch_norm / layer_norm:
// BatchNorm1d normalises each column (feature) over the rows, LayerNorm each row over the columns.
// Statistics are the mean and the *biased* variance, accumulated in double (two passes);
// invstd = 1/sqrt(var + eps). weight/bias may be nullptr (1 and 0).
#pragma once

#include <cstdint>

namespace fastgd {

// Per-column mean and biased variance of X (n ≥ 1 rows).
template <typename T> void batchnorm_stats(const T* X, int64_t n, int64_t c, T* mean, T* var);

// Y = (X − mean)·invstd·weight + bias with per-column mean/var (batch or running statistics).
template <typename T>
void batchnorm_apply(const T* X, const T* mean, const T* var, const T* weight, const T* bias, T* Y,
                     int64_t n, int64_t c, double eps);

// dweight = Σ_rows dY·x̂, dbias = Σ_rows dY (x̂ = (X − mean)·invstd), and dX (skipped when nullptr):
// batch_stats (mean/var are this batch's, so the gradient flows through them):
//   dX = weight·invstd·(dY − dbias/n − x̂·dweight/n);
// otherwise (running statistics, constants): dX = dY·weight·invstd.
template <typename T>
void batchnorm_backward(const T* X, const T* mean, const T* var, const T* weight, const T* dY, T* dX,
                        T* dweight, T* dbias, int64_t n, int64_t c, double eps, bool batch_stats);

// Per-row mean and biased variance over the c columns (c ≥ 1), then
// Y = (X − mean)·invstd·weight + bias with per-column weight/bias.
template <typename T>
void layernorm_forward(const T* X, const T* weight, const T* bias, T* Y, T* mean, T* var, int64_t n,
                       int64_t c, double eps);

// With ĝ = dY·weight per row: dX = invstd·(ĝ − mean_j ĝ − x̂·mean_j(ĝ·x̂));
// dweight = Σ_rows dY·x̂, dbias = Σ_rows dY (skipped when nullptr).
template <typename T>
void layernorm_backward(const T* X, const T* weight, const T* mean, const T* var, const T* dY, T* dX,
                        T* dweight, T* dbias, int64_t n, int64_t c, double eps);

}  // namespace fastgd
