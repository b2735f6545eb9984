#!/usr/bin/env bash
# Cross-compiles the C core and its C tests (tests/c) for 64-bit Windows with mingw-w64 — the Win32 code paths of
# csrc/parallel.c and csrc/compiler.h, mingw-w64's C library — and runs the tests under wine.
#
#     bash tools/cross_windows.sh          (from anywhere; installs mingw-w64 and wine with apt-get if missing)
#
# Exit status 0 only if both test programs build and report no failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CC=x86_64-w64-mingw32-gcc
if ! command -v "$CC" >/dev/null || ! command -v wine >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mingw-w64 wine wine64 >/dev/null
fi

build="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-win.XXXXXX")"
trap 'rm -rf "$build"' EXIT
export WINEPREFIX="$build/wine" WINEDEBUG=-all

KERNELS=(csrc/activations.c csrc/dense.c csrc/kernels.c csrc/lecture.c csrc/net.c csrc/optim.c csrc/parallel.c)
FLAGS=(-std=c11 -O2 -Wall -Wextra -Werror -ffp-contract=off -fno-math-errno -fno-trapping-math)
status=0
echo "==> $CC ${FLAGS[*]}: the kernels"
objs=()
for k in "${KERNELS[@]}"; do
    "$CC" "${FLAGS[@]}" -c "$k" -o "$build/$(basename "$k" .c).o"
    objs+=("$build/$(basename "$k" .c).o")
done
for t in test_kernels test_net; do
    echo "==> $CC tests/c/$t.c (static), then wine $t.exe"
    # the tests themselves use POSIX threads (mingw-w64's winpthreads); the core uses Win32's
    "$CC" "${FLAGS[@]}" "tests/c/$t.c" "${objs[@]}" -static -lpthread -o "$build/$t.exe"
    out="$(wine "$build/$t.exe" 2>&1 | tr -d '\r')" || status=1 # Windows ends its lines with CR LF
    printf '%s\n' "$out" | grep -v '^ok ' | grep -v '^wine: '
    printf '%s\n' "$out" | grep -qE '^[0-9]+ passed, 0 failed$' || status=1
done
exit "$status"
