#!/usr/bin/env bash
# mlpext is built against NumPy 2 and promises to run on every NumPy from the one pyproject.toml's dependencies
# name (numpy>=1.25). This checks that promise where it can break: the C API the binding uses (NPY_TARGET_VERSION
# in setup.py) and the numbers the tests compare with NumPy's.
#   1. builds a wheel of this checkout as pip builds one (an isolated build environment, so NumPy 2);
#   2. in a fresh virtual environment, installs the oldest NumPy that has a wheel for this Python (1.25 on Python
#      3.10 and 3.11, 1.26 on 3.12, ...), pytest and hypothesis, and the wheel without its dependencies;
#   3. runs the tests of the core against it: tests/lecture, tests/network and tests/binding (what needs another
#      package, such as mpi4py, skips and says why).
#
#     bash tools/check_oldest_numpy.sh      (PYTHON=python3.X picks the interpreter)
#
# Exits non-zero if any step fails, if the NumPy installed is not the one asked for, or if pytest collects no tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
PYTHON="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }

oldest="$(sed -n 's/^dependencies = \["numpy>=\([0-9.]*\)"\]$/\1/p' pyproject.toml)"
[ -n "$oldest" ] || { echo "FAILED: no 'dependencies = [\"numpy>=X.Y\"]' line in pyproject.toml" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-oldest-numpy.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step "building a wheel of $root (isolated build environment)"
"$PYTHON" -m venv "$work/venv"
# shellcheck disable=SC1091
source "$work/venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip wheel --quiet --no-deps --wheel-dir "$work/wheel" .

step "the oldest NumPy from $oldest with a wheel for $(python --version)"
# NumPy's releases from the oldest allowed on; the first whose wheel installs (each NumPy has wheels for the
# Pythons of its time only, and building one from source is not what a user gets).
installed=""
for version in "$oldest" 1.25 1.26 2.0 2.1 2.2 2.3 2.4; do
    # (releases before the oldest allowed are skipped: sort -V puts the older of two first)
    [ "$(printf '%s\n%s\n' "$oldest" "$version" | sort -V | head -n 1)" = "$oldest" ] || continue
    if python -m pip install --quiet --only-binary=numpy "numpy==$version.*" 2>/dev/null; then
        installed="$version"
        break
    fi
done
[ -n "$installed" ] || { echo "FAILED: no NumPy from $oldest on has a wheel for this Python" >&2; exit 1; }
got="$(python -c 'import numpy; print(numpy.__version__)')"
case "$got" in
    "$oldest".*) echo "NumPy $got" ;;
    "$installed".*) echo "NumPy $got (NumPy $oldest, the oldest allowed, has no wheel for this Python)" ;;
    *) echo "FAILED: asked for NumPy $installed.*, got $got" >&2; exit 1 ;;
esac
python -m pip install --quiet pytest hypothesis
python -m pip install --quiet --no-deps "$work"/wheel/*.whl
got_after="$(python -c 'import numpy; print(numpy.__version__)')"
[ "$got_after" = "$got" ] || { echo "FAILED: installing the test tools replaced NumPy $got by $got_after" >&2; exit 1; }

step "the core's tests, against the installed wheel on NumPy $got"
# From outside the checkout, so that `import mlpext` finds the installed wheel, not the source directory.
cd "$work"
status=0
python - <<'EOF' || status=$?
import mlpext, numpy, sys
where = mlpext.__file__
print(f"mlpext from {where}; NumPy {numpy.__version__}")
sys.exit(0 if "site-packages" in where else 1)
EOF
[ "$status" -eq 0 ] || { echo "FAILED: mlpext was not imported from the installed wheel" >&2; exit 1; }
python -m pytest -q -p no:cacheprovider --rootdir "$root" "$root/tests/lecture" "$root/tests/network" \
    "$root/tests/binding" || status=$?
if [ "$status" -eq 5 ]; then
    echo "FAILED: pytest collected no tests (exit code 5)" >&2
    exit 5
elif [ "$status" -ne 0 ]; then
    echo "FAILED: the core's tests on NumPy $got (exit code $status)" >&2
    exit "$status"
fi
step "OK: the wheel built against NumPy 2 passes the core's tests on NumPy $got"
