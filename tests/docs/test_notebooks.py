"""Every notebook in notebooks/ and notebooks/ko/ (the Korean edition) runs from top to bottom without an error,
in a fresh kernel.

Each notebook ends with a cell that asserts that the NumPy and mlpext numbers agree, so this also checks the
notebooks' claims against the current build. Skipped unless the `notebooks` extra is installed (nbclient,
nbformat, ipykernel, matplotlib).

The kernel is started from this interpreter (sys.executable), and the directory that this process imports mlpext
from is put first on its PYTHONPATH, so the kernel imports the same mlpext as the tests (the installed package, or
the checkout's in-place build). A cell appended to each notebook (in memory; the files are not written) checks that.
"""
import json
import os
import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
from jupyter_client import KernelManager  # noqa: E402  (installed with nbclient)
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402

import mlpext  # noqa: E402

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"  # this file is tests/docs/*.py
CELL_TIMEOUT = 300  # seconds; every notebook runs in well under a minute
KERNEL_NAME = "mlpext-test-python"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A kernelspec that runs ipykernel in this very interpreter, whatever kernels are installed elsewhere."""
    kernels = tmp_path_factory.mktemp("kernels")
    spec = kernels / KERNEL_NAME
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (mlpext tests)",
        "language": "python",
    }))
    return KernelSpecManager(kernel_dirs=[str(kernels)])


def kernel_env():
    package_parent = str(pathlib.Path(mlpext.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop("MPLBACKEND", None)  # the kernel's own default: matplotlib-inline
    return env


PATHS = sorted(NOTEBOOKS.glob("*.ipynb")) + sorted(NOTEBOOKS.glob("ko/*.ipynb"))


def test_there_are_korean_notebooks():
    assert len(list(NOTEBOOKS.glob("ko/*.ipynb"))) >= 4


@pytest.mark.parametrize("path", PATHS, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_notebook_runs(path, kernel_specs):
    nb = nbformat.read(path, as_version=4)
    expected = str(pathlib.Path(mlpext.__file__).resolve())
    nb.cells.append(nbformat.v4.new_code_cell(
        "import pathlib as _pathlib, mlpext as _mlpext\n"
        f"assert str(_pathlib.Path(_mlpext.__file__).resolve()) == {expected!r}, _mlpext.__file__"))
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs)
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                                     resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute(env=kernel_env())  # raises CellExecutionError, naming the cell, on any error
    finally:  # the client does not stop a kernel that it was handed: stop it here
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
