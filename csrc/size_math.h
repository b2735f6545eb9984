/* size_math.h — size arithmetic that notices overflow: the result, with *ok cleared if it did not fit. */
#ifndef MLPEXT_SIZE_MATH_H
#define MLPEXT_SIZE_MATH_H

#include <stddef.h>

static inline size_t mlp_size_mul(size_t a, size_t b, int *ok)
{
    if (a != 0 && b > (size_t)-1 / a) {
        *ok = 0;
    }
    return a * b;
}

static inline size_t mlp_size_add(size_t a, size_t b, int *ok)
{
    if (b > (size_t)-1 - a) {
        *ok = 0;
    }
    return a + b;
}

#endif /* MLPEXT_SIZE_MATH_H */
