#!/usr/bin/env bash
# Every float through the float sigmoid and tanh loops of each instruction set this CPU has, against the scalar
# functions (tools/exhaustive_sigmoid.c): the core built with setup.py's flags, then the check on two threads.
#
#     bash tools/exhaustive_sigmoid.sh [STRIDE] [--accuracy]   (from anywhere; CC defaults to cc; options: the .c file)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CC="${CC:-cc}"
status=0
build="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-exhaustive.XXXXXX")"
trap 'rm -rf "$build"' EXIT
source tools/c_core.sh
FLAGS=(-std=c11 -O3 -Wall -Wextra -Werror -ffp-contract=off -fno-math-errno -fno-trapping-math)
compile_core "$build" "$CC" "${FLAGS[@]}"
[ "$status" -eq 0 ] || exit 1
"$CC" "${FLAGS[@]}" tools/exhaustive_sigmoid.c "${objs[@]}" -lm -pthread -o "$build/exhaustive_sigmoid"
echo "==> the floats, against the scalar functions${*:+ ($*)}"
run_c_test "$build/exhaustive_sigmoid" "$@"
exit "$status"
