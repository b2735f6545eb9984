#!/usr/bin/env bash
# Cross-compiles the C core and its C tests (tests/c) for aarch64 Linux — the portable kernels only (no x86
# dispatch), the FMA instruction in the sigmoid — and runs them under qemu-user.
#
#     bash tools/cross_aarch64.sh          (from anywhere; installs the cross compiler and qemu-user if missing)
#
# Exit status 0 only if both test programs build and report no failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CC=aarch64-linux-gnu-gcc
if ! command -v "$CC" >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu \
        libc6-dev-arm64-cross qemu-user >/dev/null
fi

build="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-arm.XXXXXX")"
trap 'rm -rf "$build"' EXIT

source tools/c_core.sh
FLAGS=(-std=c11 -O2 -Wall -Wextra -Werror -ffp-contract=off -fno-math-errno -fno-trapping-math)
status=0
compile_core "$build" "$CC" "${FLAGS[@]}"
[ "$status" -eq 0 ] || exit 1
for t in test_kernels test_net; do
    echo "==> $CC tests/c/$t.c (static), then qemu-aarch64 $t"
    # qemu-user aborts when a forked child of a threaded process starts threads: that one check is left out here.
    "$CC" "${FLAGS[@]}" -DMLP_TEST_NO_FORK "tests/c/$t.c" "${objs[@]}" -static -lm -pthread -o "$build/$t"
    run_c_test qemu-aarch64 "$build/$t"
done
exit "$status"
