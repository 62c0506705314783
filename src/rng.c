/* rng.c: xoshiro256** (Blackman and Vigna), splitmix64 seeding, Fisher-Yates. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64_(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl_(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rng_seed(nn_rng *rng, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull);
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64_(&x);
    rng->spare = 0.0;
    rng->has_spare = 0;
}

uint64_t rng_next(nn_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl_(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl_(s[3], 45);
    return result;
}

uint32_t rng_below(nn_rng *rng, uint32_t n)
{
    /* Rejection on the low end of a 32-bit draw (Lemire): exact and portable. */
    uint64_t m = (uint64_t)(uint32_t)(rng_next(rng) >> 32) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)(rng_next(rng) >> 32) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double rng_uniform(nn_rng *rng) { return (double)(rng_next(rng) >> 11) * 0x1.0p-53; }

double rng_normal(nn_rng *rng)
{
    /* Box-Muller: two uniforms give two independent normals. */
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u1 = 1.0 - rng_uniform(rng); /* (0, 1]: log is finite */
    double u2 = rng_uniform(rng);
    double radius = sqrt(-2.0 * log(u1)), angle = 2.0 * 3.14159265358979323846 * u2;
    rng->spare = radius * sin(angle);
    rng->has_spare = 1;
    return radius * cos(angle);
}

void rng_permutation(nn_rng *rng, int *perm, int n)
{
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(rng, (uint32_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
