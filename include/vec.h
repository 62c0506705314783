/* vec.h: the elementwise float addition that both reductions (ring.c, repro.c)
 * do, vectorized once. */
#ifndef NN_VEC_H
#define NN_VEC_H

#include <stddef.h>

/* dst[i] += src[i], one float addition per element (no fusing, so every
 * vector clone gives the same bits). */
void vec_add(float *restrict dst, const float *restrict src, size_t n);

#endif
