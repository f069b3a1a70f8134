// Inverted dropout with a counter-based hash RNG: the mask of element i of call `counter` of a
// layer with `seed` is a pure function of (seed, counter, i), so the C++ kernel, its NumPy twin
// and the fused engine draw the same mask without sharing any generator state.
#pragma once

#include <cstdint>

namespace fastgd {

// splitmix64's finaliser: a bijection of 64-bit words with full avalanche.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;  // splitmix64's increment, 2^64/φ

// The key of one call: mix64(seed ^ mix64(counter + γ)). Element i draws u_i = mix64(key + (i+1)·γ)
// (the splitmix64 stream seeded by key) and is kept when u_i >> 11 (53 uniform bits) ≥ ⌈p·2^53⌉,
// i.e. with probability 1 − p.
constexpr uint64_t dropout_key(uint64_t seed, uint64_t counter) { return mix64(seed ^ mix64(counter + kGolden)); }
uint64_t dropout_threshold(double p);

// A = X·mask/(1 − p) over n contiguous values (written as X·(kept ? 1/(1−p) : 0), so a dropped
// inf/NaN gives NaN, as torch's X·mask·scale); mask[i] = 1 for kept elements. 0 ≤ p < 1.
template <typename T>
void dropout(const T* X, T* A, uint8_t* mask, int64_t n, double p, uint64_t seed, uint64_t counter);

// dX = dA·mask/(1 − p).
template <typename T> void dropout_backward(const uint8_t* mask, const T* dA, T* dX, int64_t n, double p);

}  // namespace fastgd
