/* vec.h: vectorized elementwise loops: the float addition that both
 * reductions (ring.c, repro.c) do, and the NN_VECTOR_CLONES attribute for
 * the hot loops of other files. */
#ifndef NN_VEC_H
#define NN_VEC_H

#include <stddef.h>

/* Hot elementwise loops are compiled for AVX-512 (x86-64-v4: F, DQ, BW, VL),
 * AVX2 and baseline x86-64, and the best is picked at load time, so one
 * portable binary still runs wide vectors. -ffp-contract=off (CMakeLists.txt)
 * keeps every clone's results bitwise the same: no clone may fuse a multiply
 * and an add. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NN_NO_CLONES)
#define NN_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define NN_VECTOR_CLONES
#endif

/* dst[i] += src[i], one float addition per element (no fusing, so every
 * vector clone gives the same bits). */
void vec_add(float *restrict dst, const float *restrict src, size_t n);

#endif
