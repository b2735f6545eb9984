/*
 * simd.h — runtime dispatch between builds of one loop for the x86-64 baseline (SSE2), AVX2 and AVX-512.
 *
 * A kernel body is an always-inline function; a template on MLP_ISA (each_isa.h) compiles it into a function per
 * instruction set, with that set's target attribute, and the caller picks one (MLP_SIMD_CALL) with
 * MLP_CPU_SUPPORTS (compiler.h: a load and a test, no state of ours), capped by the call's mlp_isa (mlp.h: MLPEXT_SIMD in the binding). The bodies are compiled with
 * -ffp-contract=off, so no multiply and add is fused behind their back; the fused multiply-adds they do write (the
 * sigmoid's, vmath.h) round once on every build, so all three give the same bits. The AVX2 build has the fma
 * target and runs where the CPU has both. Elsewhere than x86 with GCC/Clang (MSVC, aarch64, ...), only the
 * portable build exists.
 *
 * The dense layer's products (dense.c) dispatch with the same tests to their own kernels, which use FMA on
 * large layers (target("avx2,fma") / target("avx512f")): see dense_simd_impl.h.
 */
#ifndef MLPEXT_SIMD_H
#define MLPEXT_SIMD_H

#include "compiler.h"

/* The instruction sets a template body is built for (each_isa.h), and the names of what a build defines:
   MLP_FI(name) = name_<set>; in a precision's body (each_precision.h) MLP_FK(name) = name_<precision>_<set>, and
   MLP_FKI(name, set) names another set's build of it. */
#define MLP_SET_GENERIC 1
#define MLP_SET_AVX2 2
#define MLP_SET_AVX512 4
#define MLP_SET_AVX512VL 8
#define MLP_PASTE_SET(a, b) MLP_PASTE_SET_(a, b)
#define MLP_PASTE_SET_(a, b) a##_##b
#define MLP_FI(name) MLP_PASTE_SET(name, MLP_ISA)
#define MLP_FKI(name, set) MLP_PASTE_SET(MLP_FN(name), set)
#define MLP_FK(name) MLP_FKI(name, MLP_ISA)

/* Whether a call capped at `isa` may use the kernels of `level` (before asking the CPU). */
#define MLP_ISA_ALLOWS(isa, level) ((isa) == MLP_ISA_BEST || (isa) >= (level))

#if defined(MLP_HAS_TARGET) && (defined(__x86_64__) || defined(__i386__))
#define MLP_X86_DISPATCH 1
#define MLP_CPU_AVX512() MLP_CPU_SUPPORTS("avx512f")
#define MLP_CPU_AVX512VL() (MLP_CPU_SUPPORTS("avx512f") && MLP_CPU_SUPPORTS("avx512vl"))
/* AVX2 with FMA3: the dense layer's fused multiply-add kernels (every AVX-512 CPU has FMA). */
#define MLP_CPU_AVX2_FMA() (MLP_CPU_SUPPORTS("avx2") && MLP_CPU_SUPPORTS("fma"))
/* The same, for a call capped at `isa`. */
#define MLP_HAS_AVX512(isa) (MLP_ISA_ALLOWS(isa, MLP_ISA_AVX512) && MLP_CPU_AVX512())
#define MLP_HAS_AVX512VL(isa) (MLP_ISA_ALLOWS(isa, MLP_ISA_AVX512) && MLP_CPU_AVX512VL())
#define MLP_HAS_AVX2_FMA(isa) (MLP_ISA_ALLOWS(isa, MLP_ISA_AVX2) && MLP_CPU_AVX2_FMA())
/* Calls the AVX-512 build of NAME (each_isa.h: MLP_FKI(NAME, avx512)) when size >= MIN512 and the CPU has AVX-512
   (and isa allows it), else its AVX2 build when size >= MIN2 and the CPU has AVX2 and FMA (and isa allows it),
   else its generic one. */
#define MLP_SIMD_CALL(NAME, isa, size, MIN2, MIN512, ARGS)                                                       \
    do {                                                                                                         \
        if ((size) >= (MIN512) && MLP_HAS_AVX512(isa)) {                                                         \
            MLP_FKI(NAME, avx512) ARGS;                                                                          \
        } else if ((size) >= (MIN2) && MLP_HAS_AVX2_FMA(isa)) {                                                  \
            MLP_FKI(NAME, avx2) ARGS;                                                                            \
        } else {                                                                                                 \
            MLP_FKI(NAME, generic) ARGS;                                                                         \
        }                                                                                                        \
    } while (0)
#else
#define MLP_SIMD_CALL(NAME, isa, size, MIN2, MIN512, ARGS) ((void)(isa), MLP_FKI(NAME, generic) ARGS)
#endif

/* Element loops (an activation, its gradient, an update, a join) on fewer values than this run the generic build:
   dispatch would cost more than the wider vectors bring. */
#define MLP_ELEMENT_SIMD_MIN 64

#endif /* MLPEXT_SIMD_H */
