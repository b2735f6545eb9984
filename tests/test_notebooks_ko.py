"""Every Korean notebook in notebooks/ko/ runs from top to bottom without an error, in a fresh kernel.

The same run as tests/test_notebooks.py (whose glob covers notebooks/*.ipynb only), with its kernelspec fixture and
kernel environment: the kernel is this interpreter and imports the same mlpext as the tests, which a cell appended
in memory checks. Each Korean notebook, like its English original, ends with a cell that asserts that the NumPy
and mlpext numbers agree. Skipped unless the `notebooks` extra is installed.
"""
import pathlib

import pytest

pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

import nbclient  # noqa: E402
import nbformat  # noqa: E402
from jupyter_client import KernelManager  # noqa: E402
from test_notebooks import CELL_TIMEOUT, KERNEL_NAME, kernel_env, kernel_specs  # noqa: E402, F401  (a fixture)

import mlpext  # noqa: E402

NOTEBOOKS_KO = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "ko"


def test_there_are_korean_notebooks():
    assert len(list(NOTEBOOKS_KO.glob("*.ipynb"))) >= 4


@pytest.mark.parametrize("path", sorted(NOTEBOOKS_KO.glob("*.ipynb")), ids=lambda p: p.name)
def test_korean_notebook_runs(path, kernel_specs):  # noqa: F811  (the fixture imported above)
    nb = nbformat.read(path, as_version=4)
    expected = str(pathlib.Path(mlpext.__file__).resolve())
    nb.cells.append(nbformat.v4.new_code_cell(
        "import pathlib as _pathlib, mlpext as _mlpext\n"
        f"assert str(_pathlib.Path(_mlpext.__file__).resolve()) == {expected!r}, _mlpext.__file__"))
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs)
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                                     resources={"metadata": {"path": str(NOTEBOOKS_KO)}})
    try:
        client.execute(env=kernel_env())  # raises CellExecutionError, naming the cell, on any error
    finally:  # the client does not stop a kernel that it was handed: stop it here
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
