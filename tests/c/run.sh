#!/usr/bin/env bash
# Builds and runs the C unit tests of mlpext's kernels (tests/c/test_kernels.c, tests/c/test_net.c): no Python.
#
#     bash tests/c/run.sh            (from anywhere)
#
# Runs the tests four ways:
#   1. -O2, the flags of the project's reference command line (below), natively;
#   2. that same binary under valgrind memcheck (--error-exitcode=1 --leak-check=full): invalid reads/writes,
#      uses of uninitialized values, leaks (valgrind has no AVX-512, so the AVX2 path runs there);
#   3. -O3, the flags setup.py ships with;
#   4. -O1 with AddressSanitizer and UndefinedBehaviorSanitizer, aborting on the first report.
# Each run prints "k passed, m failed"; the last line of this script sums them: "N passed, M failed".
# A run that crashes or that valgrind/ASan flags counts as one more failure. Exit status 0 only if M is 0.
#
# Environment: CC (default cc), VALGRIND=0 to skip the valgrind run, SANITIZE=0 to skip the sanitizer build,
# MLPEXT_C_SEED (test data), BUILD_DIR (default: a fresh temporary directory, removed afterwards).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

CC="${CC:-cc}"
KERNELS=(csrc/activations.c csrc/dense.c csrc/lecture.c csrc/net.c csrc/optim.c csrc/parallel.c)
TESTS=(test_kernels test_net) # tests/c/NAME.c, each its own program
COMMON=(-std=c11 -Wall -Wextra -Werror -ffp-contract=off -fno-math-errno -fno-trapping-math)

if [ -n "${BUILD_DIR:-}" ]; then
    build="$BUILD_DIR"
    mkdir -p "$build"
else
    build="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-ctest.XXXXXX")"
    trap 'rm -rf "$build"' EXIT
fi

total_passed=0
total_failed=0

# run LABEL COMMAND...: runs a test binary, adds up its "k passed, m failed" line; a non-zero exit without
# failed tests (a crash, a valgrind or sanitizer error) is one more failure.
run() {
    local label="$1"
    shift
    printf '\n==> %s\n' "$label"
    local out status
    out="$("$@" 2>&1)"
    status=$?
    printf '%s\n' "$out" | grep -v '^ok ' # the failures, the measurements and any tool report
    local counts passed=0 failed=0
    counts="$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)"
    if [ -n "$counts" ]; then
        passed="${counts%% passed*}"
        failed="${counts##*, }"
        failed="${failed%% failed}"
    fi
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        echo "FAILED: $label exited with status $status"
        failed=1
    fi
    if [ -z "$counts" ] && [ "$status" -eq 0 ]; then
        echo "FAILED: $label printed no summary line"
        failed=1
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
}

# build LABEL TEST OUTPUT FLAGS...: compiles the kernels with tests/c/TEST.c; a failed build is one failure.
build() {
    local label="$1" test="$2" output="$3"
    shift 3
    printf '\n==> building %s %s: %s %s\n' "$test" "$label" "$CC" "$*"
    if ! "$CC" "${COMMON[@]}" "$@" "${KERNELS[@]}" "tests/c/$test.c" -lm -pthread -o "$output"; then
        echo "FAILED: build $label"
        total_failed=$((total_failed + 1))
        return 1
    fi
}

for t in "${TESTS[@]}"; do
    # 1. the reference command line's flags
    if build "-O2" "$t" "$build/${t}_O2" -O2; then
        run "$t -O2" "$build/${t}_O2"
        # 2. valgrind
        if [ "${VALGRIND:-1}" != 0 ]; then
            if command -v valgrind >/dev/null 2>&1; then
                run "$t -O2 under valgrind" valgrind --error-exitcode=1 --leak-check=full \
                    --errors-for-leak-kinds=all --show-leak-kinds=all -q "$build/${t}_O2"
            else
                echo "FAILED: valgrind is not installed (VALGRIND=0 skips this run)"
                total_failed=$((total_failed + 1))
            fi
        fi
    fi

    # 3. the shipped optimization level
    if build "-O3" "$t" "$build/${t}_O3" -O3; then
        run "$t -O3" "$build/${t}_O3"
    fi

    # 4. sanitizers
    if [ "${SANITIZE:-1}" != 0 ]; then
        if build "ASan+UBSan" "$t" "$build/${t}_san" -O1 -g -fno-omit-frame-pointer \
            -fsanitize=address,undefined -fno-sanitize-recover=all; then
            ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0" \
                UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" run "$t ASan+UBSan" "$build/${t}_san"
        fi
    fi
done

printf '\n%d passed, %d failed\n' "$total_passed" "$total_failed"
[ "$total_failed" -eq 0 ]
