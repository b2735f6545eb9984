"""examples/lecture_numpy.py and examples/lecture_mlpext.py, against the lecture's own script.

The README promises that lecture_numpy.py is the lecture's script (tests/data/lecture_MLP.py, MLP.py as
transcribed from section 6 of the slides) with one added line, np.random.seed(0), and that
`diff <(python examples/lecture_numpy.py) <(python examples/lecture_mlpext.py)` prints nothing. Both are checked
here: the code, statement for statement, and what the three scripts print, line for line.
"""
import ast
import contextlib
import io
import pathlib
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest
from mlp_helpers import subprocess_env

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the repository: this file is tests/<concern>/*.py
LECTURE = ROOT / "tests" / "data" / "lecture_MLP.py"
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.skipif(not (EXAMPLES / "lecture_numpy.py").exists(),
                                reason="examples/ is not next to the tests (an installed mlpext)")


def without_seed(tree):
    """The module with its top-level `np.random.seed(...)` statements taken out."""
    def is_seed(node):
        return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and ast.unparse(node.value.func) == "np.random.seed")
    tree.body = [node for node in tree.body if not is_seed(node)]
    return tree


def run(path, seed=None):
    """Runs a script as __main__; returns (what it printed, its globals)."""
    if seed is not None:
        np.random.seed(seed)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        variables = runpy.run_path(str(path), run_name="__main__")
    return out.getvalue(), variables


def test_lecture_numpy_is_the_lecture_script_plus_a_seed():
    lecture = ast.parse(LECTURE.read_text(encoding="utf-8"))
    example = ast.parse((EXAMPLES / "lecture_numpy.py").read_text(encoding="utf-8"))
    seeds = [ast.unparse(node) for node in example.body if "np.random.seed" in ast.unparse(node)]
    assert seeds == ["np.random.seed(0)"]
    assert ast.dump(without_seed(example)) == ast.dump(lecture)


def test_the_three_scripts_print_the_same():
    lecture_text, lecture_vars = run(LECTURE, seed=0)   # the slides draw without a seed: seed it from outside
    numpy_text, numpy_vars = run(EXAMPLES / "lecture_numpy.py")
    mlpext_text, mlpext_vars = run(EXAMPLES / "lecture_mlpext.py")

    assert numpy_text == lecture_text
    assert mlpext_text == numpy_text
    epochs = [int(line.split()[1].rstrip(",")) for line in numpy_text.splitlines() if line.startswith("Epoch: ")]
    assert epochs == list(range(0, 10000, 1000))                    # the lecture's cadence, nothing vacuous
    assert "--- training done ---" in numpy_text and "predictions:" in numpy_text

    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(numpy_vars[name], lecture_vars[name], err_msg=name)   # the same NumPy code
        np.testing.assert_allclose(mlpext_vars[name], numpy_vars[name], rtol=1e-10, atol=1e-14, err_msg=name)
    np.testing.assert_array_equal(mlpext_vars["predicted_final"].round(), numpy_vars["predicted_final"].round())


def test_the_demo_runs_where_stdout_lacks_its_characters():
    """The README's main command with its output redirected to a file on a Korean Windows: stdout is then encoded in
    the code page cp949, which has no "—" or "µ". The demo printed its first line and stopped with
    UnicodeEncodeError; it now prints their ASCII forms there."""
    done = subprocess.run([sys.executable, str(EXAMPLES / "demo.py")], env=subprocess_env(PYTHONIOENCODING="cp949"),
                          cwd=EXAMPLES, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode("cp949", "replace")
    out = done.stdout.decode("cp949")
    assert out.startswith("mlpext demo - the lecture's NumPy MLP")
    assert "Printed outputs: identical." in out
    assert re.search(r"mlpext\.train \(one call\) +[0-9.]+ (ns|us) ", out)


@pytest.mark.parametrize("encoding, printed", [
    ("utf-8", "a — 1.5 µs, 2× ≥ 학습률"),       # a console, or UTF-8: unchanged
    ("cp949", "a - 1.5 us, 2× ≥ 학습률"),       # Korean Windows: only what cp949 lacks
    ("cp932", "a - 1.5 us, 2× >= ???"),        # Japanese Windows: no hangul either
    ("cp1252", "a — 1.5 µs, 2× >= ???"),       # Western European Windows
    ("ascii", "a - 1.5 us, 2x >= ???"),
])
def test_tolerant_stdout_replaces_only_what_the_encoding_lacks(encoding, printed):
    code = "import demo; demo.tolerant_stdout(); print('a — 1.5 µs, 2× ≥ 학습률')"
    done = subprocess.run([sys.executable, "-c", code], env=subprocess_env(PYTHONIOENCODING=encoding), cwd=EXAMPLES,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(encoding, "replace")
    assert done.stdout.decode(encoding).rstrip("\r\n") == printed
