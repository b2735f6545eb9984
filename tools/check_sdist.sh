#!/usr/bin/env bash
# Checks that the sdist is complete and works on its own:
#   1. builds it (python -m build --sdist, in an isolated build environment);
#   2. compares its files with the repository's: every tracked file is in it except .ci/, .github/ and
#      .gitignore, and nothing else is but the metadata setuptools writes (PKG-INFO, setup.cfg, *.egg-info/);
#      its metadata names the license and carries the license file;
#   3. unpacks it and, in a fresh virtual environment, runs the README's test command there,
#      `pip install ".[test]" && pytest`: a wheel built from the sdist, and the whole suite against it.
#
#     bash tools/check_sdist.sh [OUTDIR]      (default OUTDIR: dist/; PYTHON=python3.X picks the interpreter)
#
# Needs git (step 2 reads `git ls-files`). The sdist is left in OUTDIR. Exits non-zero if any step fails or
# pytest collects no tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
outdir="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"

step() { printf '\n==> %s\n' "$*"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/mlpext-sdist.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step "building the sdist"
"$PYTHON" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --upgrade pip
"$work/tools/bin/python" -m pip install --quiet build
"$work/tools/bin/python" -m build --sdist --outdir "$work/built" .
sdists=("$work"/built/*.tar.gz)
[ "${#sdists[@]}" -eq 1 ] || { echo "FAILED: expected one sdist, got: ${sdists[*]}" >&2; exit 1; }
sdist="${sdists[0]}"
name="$(basename "$sdist" .tar.gz)"

step "$(basename "$sdist"): its files against the repository's"
tar -xzf "$sdist" -C "$work"
(cd "$work/$name" && find . -type f | sed 's|^\./||' | sort) > "$work/in_sdist"
git ls-files | grep -v -E '^(\.ci/|\.github/|\.gitignore$)' | sort > "$work/tracked"
missing="$(comm -23 "$work/tracked" "$work/in_sdist")"
extra="$(comm -13 "$work/tracked" "$work/in_sdist" | grep -v -E '^(PKG-INFO|setup\.cfg|[^/]+\.egg-info/.*)$' || true)"
failed=0
if [ -n "$missing" ]; then
    printf 'FAILED: tracked files missing from the sdist (MANIFEST.in):\n%s\n' "$missing" >&2
    failed=1
fi
if [ -n "$extra" ]; then
    printf 'FAILED: files in the sdist that the repository does not track:\n%s\n' "$extra" >&2
    failed=1
fi
for field in "License-Expression: MIT" "License-File: LICENSE"; do
    if ! grep -q -x -F "$field" "$work/$name/PKG-INFO"; then
        echo "FAILED: PKG-INFO has no '$field'" >&2
        failed=1
    fi
done
[ -f "$work/$name/LICENSE" ] || { echo "FAILED: no LICENSE in the sdist" >&2; failed=1; }
[ "$failed" -eq 0 ] || exit 1
echo "$(wc -l < "$work/in_sdist") files, as the repository has them"

step 'fresh virtual environment, in the unpacked sdist: pip install ".[test]" && pytest'
"$PYTHON" -m venv "$work/venv"
# shellcheck disable=SC1091
source "$work/venv/bin/activate"
python -m pip install --quiet --upgrade pip
cd "$work/$name"
status=0
pip install ".[test]" && pytest || status=$?
if [ "$status" -eq 5 ]; then
    echo "FAILED: pytest collected no tests (exit code 5)" >&2
    exit 5
elif [ "$status" -ne 0 ]; then
    echo "FAILED: the README's test command failed in the unpacked sdist (exit code $status)" >&2
    exit "$status"
fi

cp "$sdist" "$outdir/"
step "OK: $outdir/$(basename "$sdist")"
