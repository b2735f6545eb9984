"""Imports that cannot work say what to do: mlpext from a source tree without a built C core, mlpext.sklearn
without scikit-learn.

Each case runs a fresh interpreter, so that nothing this process has imported hides the failure.
"""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import mlpext
from mlp_helpers import subprocess_env

PACKAGE = pathlib.Path(mlpext.__file__).resolve().parent


def source_copy(root, project_file=True, stale_extension=False):
    """A copy of the package's Python files under root/mlpext, with no built extension; with project_file, a
    pyproject.toml beside it, as in a checkout."""
    package = root / "mlpext"
    package.mkdir(parents=True)
    for path in PACKAGE.glob("*.py"):
        shutil.copy(path, package / path.name)
    if project_file:
        (root / "pyproject.toml").write_text('[project]\nname = "mlpext"\n')
    if stale_extension:  # an extension built for a Python that is not this one
        (package / "_core.cpython-399-fakeplatform.so").write_bytes(b"")
    return root


# Drops the finder of an editable install of mlpext (pip install -e), if the tests run from one: it would supply
# mlpext._core from that checkout to the copy under test, which has none.
IMPORT = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
import mlpext"""


def import_mlpext(cwd):
    """`import mlpext` in a fresh interpreter in cwd, as a user in that directory would run it (cwd first on
    sys.path)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", IMPORT], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def last_line(stderr):
    return stderr.strip().splitlines()[-1]


def test_import_from_a_source_tree_without_the_extension_says_what_to_do(tmp_path):
    root = source_copy(tmp_path / "checkout")
    done = import_mlpext(root)
    assert done.returncode != 0
    error = last_line(done.stderr)
    assert error.startswith("ImportError: You are importing mlpext from its source directory, ")
    assert str(root) in error and "is not built there" in error
    assert "run `pip install -e .` in it" in error and "change to another directory" in error
    assert "ModuleNotFoundError" not in done.stderr  # the bare error is not shown (raised from None)


def test_import_from_a_source_tree_with_an_extension_for_another_python(tmp_path):
    root = source_copy(tmp_path / "checkout", stale_extension=True)
    error = last_line(import_mlpext(root).stderr)
    assert "(_core.cpython-399-fakeplatform.so) was built for another Python or platform" in error
    assert "`pip install -e .`" in error


def test_an_installation_without_the_extension_is_called_incomplete(tmp_path):
    root = source_copy(tmp_path / "site", project_file=False)
    error = last_line(import_mlpext(root).stderr)
    assert error.startswith("ImportError: mlpext's C extension, mlpext._core, is missing from ")
    assert "Reinstall mlpext" in error


def test_other_import_errors_are_not_disguised(tmp_path):
    """Only a missing mlpext._core gets the hint: a module that the core itself fails to import keeps its error."""
    root = source_copy(tmp_path / "checkout")
    (root / "mlpext" / "_core.py").write_text("import mlpext_no_such_dependency\n")
    error = last_line(import_mlpext(root).stderr)
    assert error == "ModuleNotFoundError: No module named 'mlpext_no_such_dependency'"


@pytest.mark.parametrize("blocked", ["sklearn", "sklearn.base"])
def test_mlpext_sklearn_without_scikit_learn_says_how_to_install_it(blocked, tmp_path):
    """scikit-learn made unimportable (None in sys.modules) in a fresh interpreter that imports the mlpext under
    test; `import mlpext` itself keeps working."""
    code = (f"import sys\nsys.modules[{blocked!r}] = None\nimport mlpext\n"
            "try:\n    import mlpext.sklearn\nexcept ImportError as e:\n"
            "    print(type(e).__name__); print(e)\nelse:\n    print('imported')")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    kind, message = done.stdout.split("\n", 1)
    assert kind == "ImportError"
    assert "mlpext.sklearn needs scikit-learn" in message
    assert "pip install scikit-learn" in message and 'pip install ".[sklearn]"' in message
