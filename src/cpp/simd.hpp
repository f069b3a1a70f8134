// Hot elementwise loops are compiled twice, for x86-64-v3 (AVX2+FMA) and for the baseline, and the
// CPU features pick one at load time (GCC function multi-versioning): portable wheels, no
// -march=native. (Not "arch=haswell": that clone is chosen only on Intel Haswell itself.)
#pragma once

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(FASTGD_NO_CLONES)
#define FASTGD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FASTGD_CLONES
#endif
#define FASTGD_INLINE inline __attribute__((always_inline))
