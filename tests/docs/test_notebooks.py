"""Every notebook in notebooks/ and notebooks/ko/ (the Korean edition) runs from top to bottom without an error,
in a fresh kernel.

Each notebook ends with a cell that asserts that the NumPy and mlpext numbers agree, so this also checks the
notebooks' claims against the current build. Skipped unless the `notebooks` extra is installed (nbclient,
nbformat, ipykernel, matplotlib).

The lecture's `Epoch: e, Loss: l` lines that the notebooks print (the lecture's loop, mlpext.train, MLP.fit's
verbose) are deterministic, unlike the timings: each code cell must print the same ones as its committed outputs, so
that a change of what the code prints fails here until the notebooks are re-executed (notebooks/execute.py). On
the fused (FMA) kernels only, which wrote them.

The kernel is started from this interpreter (sys.executable), and the directory that this process imports mlpext
from is put first on its PYTHONPATH, so the kernel imports the same mlpext as the tests (the installed package, or
the checkout's in-place build). A cell appended to each notebook (in memory; the files are not written) checks that.
"""
import json
import os
import pathlib
import re
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

# The lecture's line, `Epoch: e, Loss: l`, as a line of its own: the only printed lines compared with the committed
# outputs. Timings, and the last-bit agreement of NumPy and mlpext (BLAS and CPU dependent), are not.
EPOCH_LINE = re.compile(r"Epoch: \d+, Loss: \S+")
# They are compared where the kernels are those that wrote them, the fused (FMA) ones: the portable kernels (Apple
# silicon, MSVC, MLPEXT_SIMD=generic) round each product, and a long float32 training drifts apart from those bits.
FUSED = mlpext._core.build_info()["simd"].startswith(("avx2", "avx512f"))


def epoch_lines(nb):
    """{code cell index: its `Epoch: e, Loss: l` lines on stdout}, for the cells that print any. The cell's
    stdout is joined first: the kernel cuts a printout into stream outputs wherever its output was flushed."""
    lines = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        stdout = "".join(out.text for out in cell.get("outputs", [])
                         if out.output_type == "stream" and out.name == "stdout")
        found = [line for line in stdout.splitlines() if EPOCH_LINE.fullmatch(line)]
        if found:
            lines[index] = found
    return lines


def test_the_notebooks_commit_epoch_lines():
    # Without committed Epoch lines, the comparison in test_notebook_runs would compare nothing.
    committed = {path.relative_to(NOTEBOOKS).as_posix() for path in PATHS
                 if epoch_lines(nbformat.read(path, as_version=4))}
    assert {"02_xor_training.ipynb", "06_digits.ipynb", "ko/02_xor_training.ipynb"} <= committed


def test_there_are_korean_notebooks():
    assert len(list(NOTEBOOKS.glob("ko/*.ipynb"))) >= 4


@pytest.mark.parametrize("path", PATHS, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_notebook_runs(path, kernel_specs):
    nb = nbformat.read(path, as_version=4)
    committed = epoch_lines(nb)  # before the execution replaces the outputs
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
    if not FUSED:  # the committed outputs come from the fused kernels; the portable ones train other bits
        return
    printed = epoch_lines(nb)
    for index in sorted(committed.keys() | printed.keys()):
        assert committed.get(index, []) == printed.get(index, []), (
            f"{path.relative_to(NOTEBOOKS)}, cell {index}: the committed outputs' Epoch lines (first) are not what "
            f"the cell prints now (second); re-execute the notebook with notebooks/execute.py")
