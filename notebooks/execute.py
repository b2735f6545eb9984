"""Re-executes mlpext's notebooks and saves them with their outputs (the committed notebooks carry outputs, so
that they render on a code host).

    pip install -e ".[notebooks]"                   # from the repository root: mlpext built in place, and Jupyter
    python notebooks/execute.py                     # every notebooks/*.ipynb, in place
    python notebooks/execute.py notebooks/02_xor_training.ipynb ...

Needs the `notebooks` extra. Each notebook runs in a fresh kernel started from this interpreter, in the
notebooks/ folder, with the repository root first on its PYTHONPATH: the kernel imports the mlpext of this
checkout (built in place). Prints each notebook's run time.

The README's picture, docs/xor_loss.png, is drawn by docs/xor_loss.py, not from a notebook's output.
"""
import os
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
CELL_TIMEOUT = 300  # seconds


def kernel_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return env


def execute(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(HERE)}})
    t0 = time.perf_counter()
    client.execute(env=kernel_env())
    elapsed = time.perf_counter() - t0
    nbformat.write(nb, path)
    return elapsed


def main(argv):
    default = sorted(HERE.glob("*.ipynb")) + sorted(HERE.glob("ko/*.ipynb"))
    paths = [pathlib.Path(p).resolve() for p in argv] or default
    for path in paths:
        elapsed = execute(path)
        size = path.stat().st_size / 1024
        print(f"{path.name:<32} {elapsed:6.1f} s  {size:6.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
