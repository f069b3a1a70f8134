// Hot elementwise loops are compiled twice, for AVX2+FMA and for the baseline, and the right one is
// picked at load time (GCC function multi-versioning): portable wheels, no -march=native.
#pragma once

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(FASTGD_NO_CLONES)
#define FASTGD_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define FASTGD_CLONES
#endif
#define FASTGD_INLINE inline __attribute__((always_inline))
