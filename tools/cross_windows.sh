#!/usr/bin/env bash
# Cross-compiles the C core and its C tests (tests/c) for 64-bit Windows — the Win32 code paths of csrc/parallel.c
# and csrc/compiler.h, mingw-w64's C library — and runs the tests under wine. The core is built twice: by mingw-w64's
# GCC, and by Clang for Windows, which compiles it as clang-cl does for the Windows wheels (the same compiler and
# preprocessor branches: csrc/ tests _WIN32 and the compiler, never the C library); the tests link with mingw-w64.
#
#     bash tools/cross_windows.sh          (from anywhere; installs mingw-w64, wine and clang with apt-get if missing)
#
# Exit status 0 only if every test program builds and reports no failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LINK=x86_64-w64-mingw32-gcc
if ! command -v "$LINK" >/dev/null || ! command -v wine >/dev/null || ! command -v clang >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mingw-w64 wine wine64 clang \
        >/dev/null
fi

build="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-win.XXXXXX")"
trap 'rm -rf "$build"' EXIT
export WINEPREFIX="$build/wine" WINEDEBUG=-all

source tools/c_core.sh
FLAGS=(-std=c11 -O2 -Wall -Wextra -Werror -ffp-contract=off -fno-math-errno -fno-trapping-math)
status=0
for compiler in gcc clang; do
    if [ "$compiler" = gcc ]; then
        CC=("$LINK")
    else
        CC=(clang --target=x86_64-w64-mingw32)
    fi
    mkdir -p "$build/$compiler"
    compile_core "$build/$compiler" "${CC[@]}" "${FLAGS[@]}"
    [ "$status" -eq 0 ] || exit 1
    for t in test_kernels test_net; do
        echo "==> $LINK tests/c/$t.c (static) with those kernels, then wine $t.exe"
        # the tests themselves use POSIX threads (mingw-w64's winpthreads); the core uses Win32's
        "$LINK" "${FLAGS[@]}" "tests/c/$t.c" "${objs[@]}" -static -lpthread -o "$build/$compiler/$t.exe"
        run_c_test wine "$build/$compiler/$t.exe"
    done
done
exit "$status"
