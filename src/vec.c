/* vec.c: see vec.h. */
#include "vec.h"

#include "nn_check.h"

NN_VECTOR_CLONES void vec_add(float *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}
