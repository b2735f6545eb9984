#!/usr/bin/env bash
# Runs mlpext's whole pytest suite against a build of the extension with AddressSanitizer and
# UndefinedBehaviorSanitizer.
#
#     bash tools/sanitize.sh [pytest arguments...]      (from anywhere; PYTHON=... to pick the interpreter)
#
# The checkout is copied to a temporary directory and built there, so the working tree never gets a sanitized
# .so (and a concurrent `setup.py build_ext --inplace` in the working tree cannot disturb the run); the copy is
# removed at the end. The build uses setup.py's hooks for extra flags:
#     MLPEXT_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
#     MLPEXT_LDFLAGS="-fsanitize=address,undefined"
# -O1 comes after setup.py's -O3: it is the level the sanitizers' documentation advises, and the instrumented
# csrc/dense.c compiles in less time (docs/reliability.md, "CI"). The build runs in place with `setup.py build_ext`
# when the interpreter's setuptools can read pyproject.toml (>= 77), else with `pip install --target` (pip builds
# in an isolated environment with a recent setuptools).
#
# Python itself is not instrumented, so the ASan runtime is preloaded: LD_PRELOAD=$(gcc -print-file-name=libasan.so)
# (and libstdc++, see below).
#   ASAN_OPTIONS  halt_on_error=1        the first error fails the run
#                 detect_leaks=0         CPython keeps memory alive until exit by design; leaks are
#                                        tests/binding/test_leaks.py's job
#                 allocator_may_return_null=1
#                                        an impossible allocation returns NULL (-> MemoryError), as malloc does,
#                                        instead of ASan aborting: the out-of-memory tests need it
#   UBSAN_OPTIONS halt_on_error=1:print_stacktrace=1
# MLPEXT_LEAK_CALLS defaults to 2000 here (the leak tests' counts mean little under ASan's allocator; they still
# run every error path). Extra arguments go to pytest (default: the whole suite, -q).
# Exit status: pytest's (non-zero on any test failure or sanitizer report).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ] && [ "$PYTHON" = python3 ]; then
    PYTHON="$VIRTUAL_ENV/bin/python"
fi
CC="${CC:-gcc}"

libasan="$("$CC" -print-file-name=libasan.so)"
if [ ! -e "$libasan" ]; then
    echo "sanitize.sh: $CC has no libasan.so ($libasan)" >&2
    exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-sanitize.XXXXXX")"
trap 'rm -rf "$work"' EXIT
src="$work/src"
mkdir -p "$src"

echo "==> copying $root to $src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked and untracked files, without what .gitignore excludes (build products, .so, caches)
    (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r sh -c '
        for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh | tar --null -cf - -T -) | tar -xf - -C "$src"
else
    cp -a "$root/." "$src/"
    rm -rf "$src/build" "$src"/mlpext/*.so
fi

export MLPEXT_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
export MLPEXT_LDFLAGS="-fsanitize=address,undefined"

if "$PYTHON" -c 'import sys, setuptools; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' 2>/dev/null; then
    echo "==> building in place with setup.py ($("$PYTHON" -c 'import setuptools; print("setuptools", setuptools.__version__)'))"
    (cd "$src" && "$PYTHON" setup.py -q build_ext --inplace)
    site="$src"
else
    echo "==> building with pip (isolated build environment)"
    site="$work/site"
    "$PYTHON" -m pip install -q --no-deps --no-compile --target "$site" "$src"
    rm -rf "$src/mlpext" # the sources' package would shadow the built one (python -m puts the cwd first)
fi
unset MLPEXT_CFLAGS MLPEXT_LDFLAGS

so="$(ls "$site"/mlpext/_core*.so)"
if ! readelf -d "$so" | grep -q 'libasan'; then
    echo "sanitize.sh: $so is not linked with ASan" >&2
    exit 2
fi

# libstdc++ too: Python is not C++, so without it ASan's __cxa_throw interceptor finds no real __cxa_throw when a
# C++ extension loaded later (matplotlib's ft2font, in the notebooks' tests) throws, and ASan aborts the process.
libstdcxx="$("$CC" -print-file-name=libstdc++.so)"
if [ -e "$libstdcxx" ]; then
    libasan="$libasan:$libstdcxx"
fi
export LD_PRELOAD="$libasan${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=0:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
export MLPEXT_LEAK_CALLS="${MLPEXT_LEAK_CALLS:-2000}"

loaded="$(cd "$src" && "$PYTHON" -c 'import mlpext._core as c; print(c.__file__)')"
case "$loaded" in
"$site"/*) echo "==> testing $loaded" ;;
*)
    echo "sanitize.sh: Python imports $loaded, not the sanitized build in $site" >&2
    exit 2
    ;;
esac

cd "$src"
if [ "$#" -eq 0 ]; then
    set -- -q tests
fi
echo "==> pytest $* (ASan + UBSan)"
"$PYTHON" -m pytest -p no:cacheprovider "$@"
