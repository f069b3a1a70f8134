// Hot elementwise loops are compiled three times, for x86-64-v4 (AVX-512), x86-64-v3 (AVX2+FMA)
// and the baseline, and the CPU features pick one at load time (GCC function multi-versioning):
// portable wheels, no -march=native. The v4 clone makes the transcendental kernels (sigmoid, tanh,
// softmax, BCE) 1.4-1.7x faster than v3 on an AVX-512 Xeon; memory-bound ones are unchanged.
// (Not "arch=haswell": that clone is chosen only on Intel Haswell itself.)
#pragma once

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(FASTGD_NO_CLONES)
#define FASTGD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTGD_CLONES
#endif
#define FASTGD_INLINE inline __attribute__((always_inline))
