#!/usr/bin/env bash
# Builds and runs the C unit tests of mlpext's kernels (tests/c/test_kernels.c, tests/c/test_net.c): no Python.
#
#     bash tests/c/run.sh            (from anywhere)
#
# Checks that every typed kernel is named in full in its source file (names, below), then runs the tests five
# ways (the kernels are compiled once per set of flags, and linked into the programs):
#   1. -O2, the flags of the project's reference command line (below), natively;
#   2. that same binary under valgrind memcheck (--error-exitcode=1 --leak-check=full): invalid reads/writes,
#      uses of uninitialized values, leaks (valgrind has no AVX-512, so the AVX2 path runs there);
#   3. -O3, the flags setup.py ships with;
#   4. -O1 with AddressSanitizer and UndefinedBehaviorSanitizer, aborting on the first report;
#   5. both at -O1 with ThreadSanitizer (test_kernels splits products among threads and shares a team of
#      helpers, test_net optimizer steps): data races in parallel.c or in the parts of a product or a step.
# Each run prints "k passed, m failed"; the last line of this script sums them: "N passed, M failed".
# A run that crashes or that valgrind/ASan flags counts as one more failure. Exit status 0 only if M is 0.
#
# Environment: CC (default cc), VALGRIND=0 to skip the valgrind run, SANITIZE=0 to skip the sanitizer builds,
# MLPEXT_C_SEED (test data), BUILD_DIR (default: a fresh temporary directory, removed afterwards).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

CC="${CC:-cc}"
source tools/c_core.sh # KERNELS, the core's sources
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

# kernels MODE FLAGS...: compiles the kernels once per set of flags, into $build/MODE/ (two at a time: the
# template-heavy dense.c dominates); both test programs link them. A failed build is one failure.
kernels() {
    local mode="$1"
    shift
    mkdir -p "$build/$mode"
    printf '\n==> building the kernels %s: %s %s\n' "$mode" "$CC" "$*"
    local pids=() k status=0
    for k in "${KERNELS[@]}"; do
        "$CC" "${COMMON[@]}" "$@" -c "$k" -o "$build/$mode/$(basename "$k" .c).o" &
        pids+=($!)
        if [ "${#pids[@]}" -ge 2 ]; then
            wait "${pids[0]}" || status=1
            pids=("${pids[@]:1}")
        fi
    done
    for k in "${pids[@]}"; do
        wait "$k" || status=1
    done
    if [ "$status" -ne 0 ]; then
        echo "FAILED: build of the kernels $mode"
        total_failed=$((total_failed + 1))
        return 1
    fi
}

# build MODE TEST FLAGS...: compiles tests/c/TEST.c with FLAGS and links it with the kernels of MODE into
# $build/TEST_MODE; a failed build is one failure.
build() {
    local mode="$1" test="$2"
    shift 2
    printf '\n==> building %s %s\n' "$test" "$mode"
    if ! "$CC" "${COMMON[@]}" "$@" "tests/c/$test.c" "$build/$mode"/*.o -lm -pthread -o "$build/${test}_$mode"; then
        echo "FAILED: build $test $mode"
        total_failed=$((total_failed + 1))
        return 1
    fi
}

# names MODE: every typed kernel an object of MODE exports (a global function whose name ends in _f64 or _f32,
# which its template spells MLP_FN(name)) is spelled out in full in its .c file, where grep finds it. One failure
# per name missing, else one pass.
names() {
    local mode="$1" k sym missing=0
    printf '\n==> the typed kernels, each named in full in its csrc/*.c\n'
    for k in "${KERNELS[@]}"; do
        for sym in $(nm -g "$build/$mode/$(basename "$k" .c).o" | awk '$2 == "T" {sub(/^_/, "", $3); print $3}' |
            grep -E '_f(32|64)$'); do
            if ! grep -qw "$sym" "$k"; then
                echo "FAILED: $k defines $sym but does not spell it out (add it to its list of public kernels)"
                missing=$((missing + 1))
            fi
        done
    done
    if [ "$missing" -eq 0 ]; then
        echo "ok"
        total_passed=$((total_passed + 1))
    fi
    total_failed=$((total_failed + missing))
}

# -g1: line tables for the reports' stack traces, without the variable tracking of -g, which made the instrumented
# dense.c take about a fifth longer to compile (docs/reliability.md, "CI")
SAN_FLAGS=(-O1 -g1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all)

# 1. the reference command line's flags, and the same binaries under valgrind
if kernels O2 -O2; then
    names O2
    for t in "${TESTS[@]}"; do
        if build O2 "$t" -O2; then
            run "$t -O2" "$build/${t}_O2"
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
    done
fi

# 2. the shipped optimization level
if kernels O3 -O3; then
    for t in "${TESTS[@]}"; do
        if build O3 "$t" -O3; then
            run "$t -O3" "$build/${t}_O3"
        fi
    done
fi

# 3. sanitizers
if [ "${SANITIZE:-1}" != 0 ] && kernels san "${SAN_FLAGS[@]}"; then
    for t in "${TESTS[@]}"; do
        if build san "$t" "${SAN_FLAGS[@]}"; then
            ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0" \
                UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" run "$t ASan+UBSan" "$build/${t}_san"
        fi
    done
fi

# 4. threads
TSAN_FLAGS=(-O1 -g1 -fno-omit-frame-pointer -fsanitize=thread)
if [ "${SANITIZE:-1}" != 0 ] && kernels tsan "${TSAN_FLAGS[@]}"; then
    for test in "${TESTS[@]}"; do
        if build tsan "$test" "${TSAN_FLAGS[@]}"; then
            TSAN_OPTIONS="halt_on_error=1:exitcode=66" run "$test ThreadSanitizer" "$build/${test}_tsan"
        fi
    done
fi

printf '\n%d passed, %d failed\n' "$total_passed" "$total_failed"
[ "$total_failed" -eq 0 ]
