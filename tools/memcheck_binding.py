"""Every entry point of the installed mlpext once under valgrind memcheck: fails on any error in mlpext's code.

    python tools/memcheck_binding.py            (valgrind on PATH; .ci/run runs it)

The C unit tests (tests/c/run.sh) run the kernels under valgrind, and tools/sanitize.sh runs the whole suite
under ASan + UBSan; neither sees the binding reading memory it never wrote (ASan does not track that). This runs a
driver that calls every function of the module with valid arguments (both dtypes; out=, networks with every
optimizer of the core's table, gelu layers, and both kinds of targets) and with a few invalid ones, under memcheck, and reports each error whose
stack has a frame in mlpext's extension (a file of csrc/, or the extension module itself). PYTHONMALLOC=malloc
lets memcheck follow Python's own allocations; CPython and NumPy then report memcheck errors of their own, which
are not counted.

Exit status: 0 if no error touches mlpext, 1 otherwise (the errors are printed), 2 if valgrind is missing.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DRIVER = r'''
import numpy as np
import mlpext
import mlpext._core
import mlpext.network

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])  # integers, as in the lecture: converted by the binding
y = np.array([[0], [1], [1], [0]])
rng = np.random.default_rng(0)
base = [rng.standard_normal((2, 3)), np.zeros(3), rng.standard_normal((3, 1)), np.zeros(1)]

def rejected(f, *args, **kwargs):
    try:
        f(*args, **kwargs)
    except (TypeError, ValueError):
        return
    raise AssertionError(f"{f.__name__} accepted bad arguments")

for dt in (np.float64, np.float32):
    W1, b1, W2, b2 = p = [a.astype(dt) for a in base]
    A1, P = mlpext.forward(X, *p)
    A1, P = mlpext.forward(X, *p)  # the recycled results
    D2, D1 = mlpext.backward(y, A1, P, W2)
    mlpext.backward(y.astype(dt), A1, P, W2, out=(np.empty_like(P), np.empty_like(A1)))
    mlpext.update(X, A1, D2, D1, *p, 0.5)
    mlpext.update(X.T.copy().T, A1, D2, D1, *p, 0.5)  # a strided input
    mlpext.train_step(X, y, *p, 0.5)
    mlpext.train(X, y, *p, 0.5, 5)
    mlpext.predict(X, *p)
    mlpext.trace_step(X, y, *p, 0.5)
    rejected(mlpext.forward, X, W1, b1, W2.astype(np.float16), b2)
    rejected(mlpext.backward, y, A1, P[:2], W2)
    rejected(mlpext.update, X, A1, D2, D1, W1, b1, W2, b2.reshape(1, 1), 0.5)
    rejected(mlpext.update, X, A1, D2, D1, W1, W1[0], W2, b2, 0.5)  # b1 shares W1's memory
    rejected(mlpext.train, X[:, :1], y, *p, 0.5, 2)
    rejected(mlpext.train_step, X, y, W1, b1, W2, W2[0], 0.5)

digits_like = rng.standard_normal((40, 6))
labels = rng.integers(0, 3, 40)
for dt in (np.float64, np.float32):
    for k, optimizer in enumerate(mlpext.network.OPTIMIZERS):  # every row of the optimizer table
        mlpext._core.optimizer_state(optimizer, 0.5)
        net = mlpext.MLP([6, 8, 3], activation=("relu", "gelu")[k % 2], output_activation="softmax",
                         loss="cross_entropy", optimizer=optimizer, dtype=dt, seed=0)
        net.forward(digits_like)
        net.loss(digits_like, labels)
        net.gradients(digits_like, labels)
        net.step(digits_like, labels)
        net.fit(digits_like, labels, 2, batch_size=16)
        net.fit(digits_like, np.eye(3)[labels], 1, batch_size=16, shuffle=False)
        net.predict(digits_like)
        # the entry points of fit(comm=...): a gradient into flat buffers, the optimizer step, a shuffle
        grads = [np.zeros_like(a) for pair in net.params for a in pair]  # W1, b1, W2, b2, ...
        net._net_loss(digits_like[:16], labels[:16], grads)
        mlpext._core.net_apply(net._weights(), net._biases(), grads, net.optimizer, net._hyper(),
                               net._optimizer_state())
        mlpext._core.net_shuffle(40, net._rng)
        rejected(mlpext._core.net_shuffle, -1, net._rng)
        rejected(net.fit, digits_like, labels + 5, 1)
        rejected(net.forward, digits_like[:, :5])
    bce = mlpext.MLP([6, 4, 1], activation="tanh", output_activation="sigmoid", loss="bce", dtype=dt, seed=1)
    bce.fit(digits_like, rng.random((40, 1)), 2, batch_size=8)
    mae = mlpext.MLP([6, 5, 4, 2], activation="gelu", loss="mae", optimizer="rmsprop", dtype=dt, seed=2)
    mae.fit(digits_like, rng.random((40, 2)), 2, batch_size=8)
mlpext._core.build_info()
assert mlpext.release_memory() > 0  # the block kept by the last call that needed one
assert mlpext.release_memory() == 0
print("driver done")
'''

ERROR_START = re.compile(r"^==\d+== (Invalid |Conditional jump|Use of uninitialised|Syscall param|Mismatched|"
                         r"Source and destination overlap|Argument )")


def ours(block, csrc_files):
    """Whether an error block has a frame in mlpext's code."""
    for line in block:
        if "_core.cpython" in line or "mlpext/_core" in line:
            return True
        m = re.search(r"\(([\w.]+):\d+\)\s*$", line)
        if m and m.group(1) in csrc_files:
            return True
    return False


def main():
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("FAILED: valgrind is not installed", file=sys.stderr)
        return 2
    csrc_files = set(os.listdir(os.path.join(ROOT, "csrc")))
    with tempfile.TemporaryDirectory() as tmp:
        driver = os.path.join(tmp, "driver.py")
        with open(driver, "w") as f:
            f.write(DRIVER)
        env = dict(os.environ, PYTHONMALLOC="malloc", OPENBLAS_NUM_THREADS="1")
        run = subprocess.run([valgrind, "--tool=memcheck", "--error-limit=no", "--track-origins=yes",
                              sys.executable, driver], cwd=tmp, env=env, capture_output=True, text=True)
    if run.returncode != 0 or "driver done" not in run.stdout:
        print(run.stdout[-3000:], run.stderr[-6000:], sep="\n", file=sys.stderr)
        print(f"FAILED: the driver did not finish (exit code {run.returncode})", file=sys.stderr)
        return 1
    blocks, block = [], None
    for line in run.stderr.splitlines():
        if ERROR_START.match(line):
            block = [line]
            blocks.append(block)
        elif block is not None and re.match(r"^==\d+==\s+\S", line):  # its frames, up to a blank line
            block.append(line)
        else:
            block = None
    found = [b for b in blocks if ours(b, csrc_files)]
    print(f"memcheck: {len(blocks)} error contexts reported in the process, {len(found)} in mlpext's code")
    for b in found:
        print("\n".join(b), "\n")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
