/*
 * exhaustive_sigmoid.c — every one of the 2^32 floats through the float sigmoid and tanh loops of each instruction
 * set this CPU has (mlp_activate_f32: AVX2's four lanes, AVX-512's eight), against the scalar functions
 * (mlp_sigmoidf, mlp_tanhf): the same bits, NaN for NaN. tests/c/test_kernels.c samples the same comparison; this
 * proves it for float, whose every input can be tried (about 35 s on two cores).
 *
 *     bash tools/exhaustive_sigmoid.sh [STRIDE] [--accuracy]
 *
 * STRIDE (default 1): check every STRIDE-th float only, from a random start, for a quicker run. Prints each
 * set's count of values checked and differing (and the first), then "N passed, M failed": one check per
 * instruction set and function; a set the CPU lacks is skipped.
 *
 * --accuracy (nine minutes in all on two cores; x87's long double needed, else skipped): also counts the floats
 * whose scalar result (so every loop's) is not the correctly rounded float of σ(z) = 1/(1 + e^−z) or of tanh z,
 * from long double's expl and tanhl (64-bit significands). Where the long double lies within 2^-58 of a point
 * halfway between two floats it cannot decide; those are counted apart. Not counted: σ(z) below FLT_MIN, which
 * mlp_sigmoidf flushes to 0 (docs/design.md, "Exactness"), and NaN inputs (NaN out, checked above). Prints the
 * counts; a result more than one ulp off is a failure.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../csrc/mlp.h"
#include "../csrc/simd.h"
#include "../csrc/vmath.h"

#define CHUNK 65536

/* The scalar functions, compiled here with the FMA instruction where the core has x86 kernels (the portable build
   calls the C library's fma(), the same operation, only slower). */
#ifdef MLP_X86_DISPATCH
#define REFERENCE_TARGET MLP_TARGET("avx2,fma")
#else
#define REFERENCE_TARGET
#endif
REFERENCE_TARGET static void reference(size_t len, const float *z, float *sig, float *th)
{
    for (size_t k = 0; k < len; k++) {
        sig[k] = mlp_sigmoidf(z[k]);
        th[k] = mlp_tanhf(z[k]);
    }
}

typedef struct {
    int accuracy;                            /* also count the scalar results that are not correctly rounded */
    uint64_t wrong[2], undecided[2], far[2]; /* of those: one ulp off, not decidable, further off */
    mlp_isa isa;
    uint64_t start, stride, count;           /* floats start, start + stride, ... (count of them), modulo 2^32 */
    uint64_t checked, differ[2];             /* [0] the sigmoid, [1] tanh */
    uint32_t first[2];                       /* the first differing input's bits */
} job;

static int same(float a, float b) { return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)); }

/* How got stands against the exact value x (long double): 0 the correctly rounded float, 1 one ulp off, 2 more,
   -1 undecidable (x within 2^-58 of a point halfway between two floats). */
static int rounding_of(float got, long double x)
{
    const float lo = (float)(x * (1.0L - 0x1p-58L)), hi = (float)(x * (1.0L + 0x1p-58L));
    if (lo != hi) {
        return -1;
    }
    return got == lo ? 0 : nextafterf(got, lo) == lo ? 1 : 2;
}

/* Counts the scalar results of z[0..len) that are not the correctly rounded ones (job.accuracy). */
static void count_rounding(job *j, size_t len, const float *z, const float *sig, const float *th)
{
    for (size_t k = 0; k < len; k++) {
        if (isnan(z[k])) {
            continue;
        }
        const long double x = z[k];
        long double exact[2];
        exact[0] = x > 20 ? 1.0L : 1.0L / (1.0L + expl(-x));                /* σ(z) rounds to 1 from 17.4 on */
        exact[1] = fabsl(x) > 10 ? (x > 0 ? 1.0L : -1.0L) : tanhl(x);       /* tanh x rounds to ±1 from 9.01 */
        const float got[2] = {sig[k], th[k]};
        for (int f = 0; f < 2; f++) {
            if (f == 0 && exact[0] < FLT_MIN) {
                continue; /* flushed to 0 by design */
            }
            const int r = rounding_of(got[f], exact[f]);
            j->undecided[f] += r < 0;
            j->wrong[f] += r == 1;
            j->far[f] += r == 2;
        }
    }
}

static void *run(void *arg)
{
    job *j = arg;
    float *z = malloc(5 * CHUNK * sizeof *z);
    if (z == NULL) {
        return arg;
    }
    float *sig = z + CHUNK, *th = z + 2 * CHUNK, *want_sig = z + 3 * CHUNK, *want_th = z + 4 * CHUNK;
    for (uint64_t done = 0; done < j->count;) {
        const size_t len = j->count - done < CHUNK ? (size_t)(j->count - done) : CHUNK;
        for (size_t k = 0; k < len; k++) {
            const uint32_t bits = (uint32_t)(j->start + (done + k) * j->stride);
            memcpy(&z[k], &bits, sizeof bits);
        }
        memcpy(sig, z, len * sizeof *z);
        memcpy(th, z, len * sizeof *z);
        mlp_activate_f32(j->isa, MLP_ACT(MLP_SIGMOID), 1, len, sig);
        mlp_activate_f32(j->isa, MLP_ACT(MLP_TANH), 1, len, th);
        reference(len, z, want_sig, want_th);
        if (j->accuracy) {
            count_rounding(j, len, z, want_sig, want_th);
        }
        for (size_t k = 0; k < len; k++) {
            const int bad[2] = {!same(sig[k], want_sig[k]), !same(th[k], want_th[k])};
            for (int f = 0; f < 2; f++) {
                if (bad[f] && j->differ[f]++ == 0) {
                    memcpy(&j->first[f], &z[k], sizeof j->first[f]);
                }
            }
        }
        j->checked += len;
        done += len;
    }
    free(z);
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t stride = 1;
    int accuracy = 0, usage = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--accuracy") == 0) {
            accuracy = 1;
        } else {
            char *end;
            stride = strtoull(argv[a], &end, 10);
            usage |= *end != '\0' || stride < 1 || stride > ((uint64_t)1 << 31);
        }
    }
    if (usage) {
        fprintf(stderr, "usage: %s [STRIDE] [--accuracy], STRIDE from 1 to 2^31\n", argv[0]);
        return 2;
    }
    if (accuracy && LDBL_MANT_DIG < 64) {
        printf("--accuracy: long double has no 64-bit significand here, skipped\n");
        accuracy = 0;
    }
    srand((unsigned)time(NULL));
    const uint64_t start = stride == 1 ? 0 : (uint64_t)rand() % stride;
    const uint64_t total = (((uint64_t)1 << 32) - start + stride - 1) / stride;
    const mlp_isa isas[] = {MLP_ISA_AVX2, MLP_ISA_AVX512};
    const char *names[] = {"avx2", "avx512"};
    int passed = 0, failed = 0, first_set = -1;
    for (int i = 0; i < 2; i++) {
        first_set = first_set < 0 && mlp_isa_available(isas[i]) ? i : first_set;
    }
    for (int i = 0; i < 2; i++) {
        if (!mlp_isa_available(isas[i])) {
            printf("%s: not on this CPU or build, skipped\n", names[i]);
            continue;
        }
        enum { THREADS = 2 };
        job jobs[THREADS];
        pthread_t threads[THREADS];
        for (int t = 0; t < THREADS; t++) {
            const uint64_t lo = total * (uint64_t)t / THREADS, hi = total * (uint64_t)(t + 1) / THREADS;
            /* the rounding is the scalar function's: counted once, with the first set */
            const int count = accuracy && i == first_set;
            jobs[t] = (job){count, {0, 0}, {0, 0}, {0, 0}, isas[i], start + lo * stride, stride, hi - lo, 0, {0, 0},
                            {0, 0}};
            if (pthread_create(&threads[t], NULL, run, &jobs[t]) != 0) {
                run(&jobs[t]);
                threads[t] = pthread_self();
            }
        }
        uint64_t checked = 0, differ[2] = {0, 0}, wrong[2] = {0, 0}, undecided[2] = {0, 0}, far[2] = {0, 0};
        uint32_t first[2] = {0, 0};
        for (int t = 0; t < THREADS; t++) {
            if (!pthread_equal(threads[t], pthread_self())) {
                pthread_join(threads[t], NULL);
            }
            checked += jobs[t].checked;
            for (int f = 0; f < 2; f++) {
                if (jobs[t].differ[f] != 0 && differ[f] == 0) {
                    first[f] = jobs[t].first[f];
                }
                differ[f] += jobs[t].differ[f];
                wrong[f] += jobs[t].wrong[f];
                undecided[f] += jobs[t].undecided[f];
                far[f] += jobs[t].far[f];
            }
        }
        for (int f = 0; f < 2; f++) {
            const char *what = f == 0 ? "sigmoid" : "tanh";
            const int ok = checked == total && differ[f] == 0;
            passed += ok;
            failed += !ok;
            float z;
            memcpy(&z, &first[f], sizeof z);
            printf("%s %s: %llu of %llu floats checked (every %llu-th from %llu), %llu differ%s", names[i], what,
                   (unsigned long long)checked, (unsigned long long)total, (unsigned long long)stride,
                   (unsigned long long)start, (unsigned long long)differ[f], differ[f] ? ", the first at " : "\n");
            if (differ[f]) {
                printf("%a (bits 0x%08x)\n", (double)z, (unsigned)first[f]);
            }
            if (jobs[0].accuracy) {
                passed += far[f] == 0;
                failed += far[f] != 0;
                printf("  the scalar %s (every loop's bits) against the correctly rounded float%s: %llu one ulp off, "
                       "%llu more, %llu undecidable\n", what, f == 0 ? " (where σ ≥ FLT_MIN)" : "",
                       (unsigned long long)wrong[f], (unsigned long long)far[f], (unsigned long long)undecided[f]);
            }
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
