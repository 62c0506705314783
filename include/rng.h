/*
 * rng.h: the random numbers nnmpi uses, the same on every platform.
 * xoshiro256** seeded through splitmix64; integers only, except
 * rng_normal() (Box-Muller in double, both values of each pair used).
 */
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
    double spare;     /* Box-Muller's second normal value, when has_spare */
    int has_spare;
} nn_rng;

/* Seeds the generator from a 64-bit seed and a stream number (e.g. the epoch). */
void rng_seed(nn_rng *rng, uint64_t seed, uint64_t stream);
uint64_t rng_next(nn_rng *rng);
/* Uniform integer in [0, n), without modulo bias. */
uint32_t rng_below(nn_rng *rng, uint32_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double rng_uniform(nn_rng *rng);
/* Standard normal N(0, 1). */
double rng_normal(nn_rng *rng);
/* Fills perm[0..n) with a uniformly random permutation of 0..n-1 (Fisher-Yates). */
void rng_permutation(nn_rng *rng, int *perm, int n);

#endif
