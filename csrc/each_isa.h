/*
 * each_isa.h — instantiates a template body once per instruction set, as each_precision.h does once per
 * precision: the one way a kernel gets its builds for the instruction sets it is dispatched among (simd.h).
 *
 * The includer defines MLP_ISA_IMPL, the template's file name, and MLP_ISA_SETS, the sets to build it for (the
 * MLP_SET_* of simd.h, or-ed). The body is compiled once per set, with
 *     MLP_ISA        the set's name, the suffix of what the body defines: MLP_FI(name) = name_avx2, ..., and in a
 *                    precision's body MLP_FK(name) = name_f64_avx2, ... (simd.h)
 *     MLP_ISA_TARGET what compiles a function for the set: MLP_TARGET(MLP_ISA_ATTR), nothing for generic
 *     MLP_ISA_ATTR   the x86 sets' target attribute, for MLP_TARGET and MLP_TARGET_INLINE
 *     MLP_ISA_LEVEL  its mlp_isa's value, as a number for #if: 1 (generic), 2 (AVX2) or 3 (AVX-512)
 *     MLP_ISA_VL     1 where AVX-512VL's instructions on 256-bit vectors may be used, else 0
 *
 *     set                MLP_ISA    MLP_ISA_ATTR                   MLP_ISA_LEVEL   MLP_ISA_VL
 *     MLP_SET_GENERIC    generic    (none: the build's baseline)   1               0
 *     MLP_SET_AVX2       avx2       "avx2,fma"                     2               0
 *     MLP_SET_AVX512     avx512     "avx512f"                      3               0
 *     MLP_SET_AVX512VL   avx512vl   "avx2,fma,avx512f,avx512vl"    3               1
 * The x86 sets are built only where the compiler can target them (x86 with GCC/Clang: MLP_X86_DISPATCH); the
 * generic one everywhere, MSVC included.
 */
#if !defined(MLP_ISA_IMPL) || !defined(MLP_ISA_SETS)
#error "define MLP_ISA_IMPL and MLP_ISA_SETS before including each_isa.h"
#endif

#if (MLP_ISA_SETS) & MLP_SET_GENERIC
#define MLP_ISA generic
#define MLP_ISA_TARGET
#define MLP_ISA_LEVEL 1
#define MLP_ISA_VL 0
#include MLP_ISA_IMPL
#undef MLP_ISA
#undef MLP_ISA_TARGET
#undef MLP_ISA_LEVEL
#undef MLP_ISA_VL
#endif

#ifdef MLP_X86_DISPATCH
#include <immintrin.h>

#if (MLP_ISA_SETS) & MLP_SET_AVX2
#define MLP_ISA avx2
#define MLP_ISA_ATTR "avx2,fma"
#define MLP_ISA_TARGET MLP_TARGET(MLP_ISA_ATTR)
#define MLP_ISA_LEVEL 2
#define MLP_ISA_VL 0
#include MLP_ISA_IMPL
#undef MLP_ISA
#undef MLP_ISA_ATTR
#undef MLP_ISA_TARGET
#undef MLP_ISA_LEVEL
#undef MLP_ISA_VL
#endif

#if (MLP_ISA_SETS) & MLP_SET_AVX512
#define MLP_ISA avx512
#define MLP_ISA_ATTR "avx512f"
#define MLP_ISA_TARGET MLP_TARGET(MLP_ISA_ATTR)
#define MLP_ISA_LEVEL 3
#define MLP_ISA_VL 0
#include MLP_ISA_IMPL
#undef MLP_ISA
#undef MLP_ISA_ATTR
#undef MLP_ISA_TARGET
#undef MLP_ISA_LEVEL
#undef MLP_ISA_VL
#endif

#if (MLP_ISA_SETS) & MLP_SET_AVX512VL
#define MLP_ISA avx512vl
#define MLP_ISA_ATTR "avx2,fma,avx512f,avx512vl"
#define MLP_ISA_TARGET MLP_TARGET(MLP_ISA_ATTR)
#define MLP_ISA_LEVEL 3
#define MLP_ISA_VL 1
#include MLP_ISA_IMPL
#undef MLP_ISA
#undef MLP_ISA_ATTR
#undef MLP_ISA_TARGET
#undef MLP_ISA_LEVEL
#undef MLP_ISA_VL
#endif

#endif /* MLP_X86_DISPATCH */

#undef MLP_ISA_IMPL
#undef MLP_ISA_SETS
