#!/usr/bin/env bash
# The portable path as standard C11 with no GNU extension: the core (csrc/ but the binding) built with
# MLP_PLAIN_C (compiler.h then spells nothing compiler-specific: no attributes, builtins, target-specific code
# or asm; the software fma) under -std=c11 -pedantic-errors -Wall -Wextra -Werror -Wvla, and its C tests run
# against that build. Also fails if a compiler-specific spelling appears in csrc/ outside compiler.h.
#
#     bash tools/pedantic.sh          (from anywhere; CC defaults to cc)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CC="${CC:-cc}"
status=0
echo "==> compiler-specific spellings outside csrc/compiler.h"
if grep -nE '__attribute__|__builtin|__asm|vector_size|__atomic_|__declspec|__forceinline|__assume|__int128' \
    csrc/*.c csrc/*.h | grep -v '^csrc/compiler.h:'; then
    echo "FAILED: the lines above belong in csrc/compiler.h"
    status=1
fi

build="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-pedantic.XXXXXX")"
trap 'rm -rf "$build"' EXIT
source tools/c_core.sh
STRICT=(-std=c11 -pedantic-errors -Wall -Wextra -Werror -Wvla -DMLP_PLAIN_C -O2 -ffp-contract=off)
compile_core "$build" "$CC" "${STRICT[@]}"
[ "$status" -eq 0 ] || exit 1
# The tests are not held to -pedantic (their own x86 helpers use GCC's attributes); they check the plain build.
for t in test_kernels test_net; do
    echo "==> tests/c/$t.c against that build"
    "$CC" -std=c11 -O2 -Wall -Wextra -Werror -DMLP_PLAIN_C -ffp-contract=off "tests/c/$t.c" "${objs[@]}" -lm \
        -pthread -o "$build/$t"
    run_c_test "$build/$t"
done
exit "$status"
