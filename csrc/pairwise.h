/* pairwise.h — the order in which a loss sums its terms: NumPy's pairwise summation, as np.add.reduce (and so
   np.mean) sums float64. Why: the lecture prints np.mean(np.abs(y − ŷ)), and a float64 network's loss is then that
   value to the bit (NumPy 2; NumPy 1.x sums in buffers of 8192 values, the same below that); and eight chains of
   additions run at once where one chain in order waits on each addition (a 1024 × 1024 output: 5× faster).

   A range of n terms: below 8, summed in order; up to MLP_PAIRWISE_BLOCK, eight chains (term i into chain i mod 8)
   added ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the n mod 8 last terms in order; above, its first
   mlp_pairwise_split(n) terms and the rest summed alone, then added. The total is 0.0 plus the range's sum. */
#ifndef MLPEXT_PAIRWISE_H
#define MLPEXT_PAIRWISE_H

#include <stddef.h>

#define MLP_PAIRWISE_BLOCK 128

/* The sum of a range of n <= MLP_PAIRWISE_BLOCK terms t[0..n). */
static inline double mlp_pairwise_block(const double *t, size_t n)
{
    if (n < 8) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) {
            s += t[i];
        }
        return s;
    }
    double r[8];
    for (size_t j = 0; j < 8; j++) {
        r[j] = t[j];
    }
    size_t i = 8;
    for (; i < n - n % 8; i += 8) {
        for (size_t j = 0; j < 8; j++) {
            r[j] += t[i + j];
        }
    }
    double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) {
        s += t[i];
    }
    return s;
}

/* Where a range of n > MLP_PAIRWISE_BLOCK terms is cut: half of it, rounded down to a multiple of 8. */
static inline size_t mlp_pairwise_split(size_t n)
{
    const size_t half = n / 2;
    return half - half % 8;
}

/* Writes terms lo .. lo + n − 1 of a sum (n <= MLP_PAIRWISE_BLOCK) into t[0..n), and whatever else its caller
   makes of them (a loss: its gradient's entries). */
typedef void (*mlp_pairwise_terms)(const void *arg, size_t lo, size_t n, double *t);

/* The sum of terms lo .. lo + n − 1. */
static inline double mlp_pairwise_range(mlp_pairwise_terms terms, const void *arg, size_t lo, size_t n)
{
    if (n > MLP_PAIRWISE_BLOCK) {
        const size_t first = mlp_pairwise_split(n);
        return mlp_pairwise_range(terms, arg, lo, first) + mlp_pairwise_range(terms, arg, lo + first, n - first);
    }
    double t[MLP_PAIRWISE_BLOCK];
    terms(arg, lo, n, t);
    return mlp_pairwise_block(t, n);
}

/* The total of n terms: 0.0 plus their sum, as np.add.reduce starts from its identity. */
static inline double mlp_pairwise_sum(mlp_pairwise_terms terms, const void *arg, size_t n)
{
    return 0.0 + mlp_pairwise_range(terms, arg, 0, n);
}

#endif /* MLPEXT_PAIRWISE_H */
