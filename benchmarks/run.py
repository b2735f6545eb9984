"""mlpext's benchmark suite: every workload, mlpext against NumPy, Numba, JAX, PyTorch and scikit-learn, in one run.

    python benchmarks/run.py [--quick] [--repeats N] [--only NAME ...] [--no-write] [--no-callgrind]
                              [--no-memory] [--torch-threads N] [--tiny] [--isa avx2]

Workloads (NAME for --only), each timed per epoch (an epoch of the sigmoid networks is one full-batch step):

    xor      the lecture's XOR: 2-3-1 sigmoid, batch 4, float64, 10000 epochs. mlpext.train (the whole loop in one
             call), a train_step loop (one call per epoch) and the phase-by-phase loop, against the lecture's NumPy
             loop (examples/demo.py), Numba (@njit: the whole loop in one call, and one call per epoch), JAX (jit:
             the whole loop as one lax.fori_loop, and one jitted step per epoch) and PyTorch.
    small    sigmoid 64-32-10, batch 32, float32, 2000 epochs.
    mnist    sigmoid 784-128-10, batch 128, float32 (MNIST-sized, random data), 400 epochs: runs of 60 ms and
             more, since in runs of a few ms after the pause below the scheduler often kept mlpext's helper
             thread waiting behind the caller (benchmarks/bench_run_length.py), and JAX's cost per call weighed.
    wide     sigmoid 1024-1024-1024, batch 1024, float32, 3 epochs.
    deep     sigmoid 1024-1024-1024-1024 (three weight layers), batch 1024, float32, 3 epochs.
             For small, mnist and wide: mlpext.train (and, below 1024 wide, a train_step loop); for deep
             mlpext.MLP(activation="sigmoid", loss="lecture", optimizer="sgd").fit with batch_size=None, the same
             step. Against the lecture's loop written for any depth in NumPy, in JAX (lax.fori_loop over the
             epochs, jitted) and in PyTorch (tensor operations under torch.no_grad()).
    digits   scikit-learn's digits, 64-64-10 relu/softmax, cross-entropy, batch 32, Adam (lr 1e-3), float32,
             mini-batches reshuffled every epoch, 20 epochs: mlpext.MLP.fit (float32, and float64 for reference)
             against mlpext.reference_net.NumpyMLP, scikit-learn's MLPClassifier (float32 data, so it computes in
             float32), PyTorch (nn.Linear, F.cross_entropy, autograd, torch.optim.Adam) and JAX (one jitted
             function per epoch: lax.scan over its mini-batches, jax.grad, Adam as torch.optim.Adam computes it).
             Needs scikit-learn (for the data); skipped without it.

The sigmoid networks all run the lecture's computation: forward through sigmoid layers, δ_L = (y − ŷ)·ŷ(1 − ŷ),
δ_l = (δ_{l+1}·W_{l+1}ᵀ)·A_l(1 − A_l), W_l += lr·A_{l−1}ᵀδ_l, b_l += lr·Σδ_l (gradient descent on ½·Σ(y − ŷ)²),
learning rate 0.5 (XOR), 0.01, or 1e-3 for wide and deep, and each epoch's loss mean|y − ŷ| (the lecture's NumPy
loop: every 1000th). wide and deep sum their gradient over 1024 rows: at 0.01 their outputs saturate in two epochs
and 1-5 % of their deltas fall below the smallest normal float; the peers that keep subnormal numbers (NumPy,
PyTorch) then take microcode assists on Intel cores and ran 5-16x slower there, which measured the
workload, not them. After the timed runs each sigmoid workload prints the share of its deltas (at mlpext's
weights) that are subnormal, with a warning where any is.
Every implementation of a workload starts from the same initial weights. A peer is timed only when importable;
its rows say "not installed" otherwise (`pip install ".[bench]"` installs them all). Numba, JAX and PyTorch get
the XOR's integer X and y as float64 arrays (PyTorch's as tensors), converted before the timing (mlpext converts
them inside each call).

Timing: best of --repeats runs (default 5), time.perf_counter, garbage collector off, the implementations taking
turns in this one process after a warm-up run (which also compiles Numba's and JAX's functions); JAX's results
are waited for (block_until_ready) inside the timed run. Runs of the networks large enough for threads start
0.3 s after the previous one (examples/demo.py's SETTLE). PyTorch gets NumPy's BLAS thread count
(--torch-threads N to change it) and OMP_WAIT_POLICY=PASSIVE unless set.

Each row gives the time per epoch, "best peer ÷ this" (the fastest implementation that is not mlpext, in this
run, over this one: for mlpext's rows, its speed-up over the best peer), the speed-up over the NumPy loop, the
peak memory of one training run and how far its weights end from mlpext's. The project's floors are reported,
never asserted: the exit status is 0 whatever the figures. A floor's verdict compares the best runs, and adds the
lowest and highest of the same ratio taken round by round (each implementation's run in a round against the
peers' runs in the same round): where those straddle the floor, the machine's noise decides the verdict. A
verdict whose mlpext row or peer DISAGREES (below) says so: it compares other work.

Same work: after the warm-up run (the timed run's epochs from the timed run's initial weights) every
implementation's weights are compared with mlpext's: the largest |w − w_mlpext| over the largest |w_mlpext| of each
array, the worst array printed. Beyond the tolerance (float64 1e-9; float32 1e-4; float32 Adam 1e-3, since Adam
divides each gradient by its own scale and so magnifies rounding differences in near-zero gradients) the row says
DISAGREES; so does it, with a gap of inf, where the weights are not of the workload's dtype (mlpext's float64
digits row: float64), since a float64 run where float32 is claimed ends within any tolerance. The digits' weights
are compared after 2 epochs without shuffling (each implementation shuffles with its own generator) and with Adam's
eps at 1e-14 (scikit-learn adds eps elsewhere than torch.optim.Adam and mlpext, which with eps = 1e-8 alone moves
its weights by about 1 %; with eps tiny the computations are the same).

Peak memory (unless --no-memory): each implementation runs again in a child process of its own, which imports
the modules, builds the data and the initial weights, makes one warm-up run (JIT compilation), frees it
(gc.collect, mlpext.release_memory, malloc_trim), resets the kernel's high-water mark of its resident memory
(writing 5 to /proc/self/clear_refs, Linux) and then makes one training run; the figure is VmHWM after it minus
VmRSS before it: the memory the training itself brought in, comparable across implementations. Elsewhere:
"n/a".

Environment: run as a script, this file first removes OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE from the environment
(before NumPy is imported; they would make OpenBLAS take another kernel than the CPU's own) and says so. It
prints the machine (CPU, cores, caches, SIMD flags), the versions, the BLAS libraries as threadpoolctl reports
them and the load average before and after the run.

--isa avx2 holds every implementation to the instruction sets of an AVX2-only CPU (AVX2 and FMA; no AVX-512), to
see on an AVX-512 machine how the workloads stand on AVX2-only machines: it sets, before anything loads,
MLPEXT_SIMD=avx2, OPENBLAS_CORETYPE=Haswell, NPY_DISABLE_CPU_FEATURES (NumPy's AVX-512 ufunc loops),
NUMBA_CPU_NAME=haswell and PyTorch's ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS and ONEDNN_MAX_CPU_ISA; it prints
what the libraries report they run with. JAX is left out: its CPU matrix products follow no such variable (with
XLA_FLAGS=--xla_cpu_max_isa=AVX2 they still ran faster than AVX2's peak allows). The run writes a section of its
own in docs/benchmarks.md (not the plot).

Unless --no-callgrind, the XOR mlpext.train loop is also counted under valgrind's callgrind (instructions per
epoch: the difference of two runs of different lengths, counting only inside the train call), a figure free of
machine noise to guard against regressions. valgrind does not emulate AVX-512, so there the CPU dispatch takes
the AVX2 (or SSE2) kernels; the count is for that path.

Unless --no-write, the results replace the "Benchmark suite" section of docs/benchmarks.md (between its markers)
and docs/speedup.png is redrawn (needs matplotlib). --tiny shrinks every network (a smoke test of the machinery,
tests/docs/test_benchmarks.py; its figures mean nothing).
"""
import os
import sys

# --isa avx2: every implementation held to the instruction sets of an AVX2-only CPU (AVX2 and FMA, no AVX-512),
# through the variables each library reads when it loads. JAX is left out: its CPU matrix products ignored every cap
# tried (XLA_FLAGS=--xla_cpu_max_isa=AVX2 among them) and ran faster than AVX2's peak allows.
ISA_CAPS = {
    "avx2": {
        "MLPEXT_SIMD": "avx2",
        "OPENBLAS_CORETYPE": "Haswell",  # NumPy's and scikit-learn's BLAS
        "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL "
                                    "AVX512_ICL AVX512_SPR X86_V4",  # NumPy's ufuncs (np.exp): 1.x and 2.x names
        "NUMBA_CPU_NAME": "haswell",
        "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own kernels
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # PyTorch's BLAS
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
}
ISA_LEFT_OUT = {"avx2": ("jax",)}


def isa_argument(argv):
    """--isa's value in argv (before argparse, which runs after NumPy is imported); "native" if absent."""
    for k, arg in enumerate(argv):
        if arg == "--isa" and k + 1 < len(argv):
            return argv[k + 1]
        if arg.startswith("--isa="):
            return arg.split("=", 1)[1]
    return "native"


if __name__ == "__main__":
    # Before NumPy loads OpenBLAS: these pick a kernel or cache size other than the CPU's own.
    UNSET = [(name, os.environ.pop(name)) for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
             if name in os.environ]
    CAPPED = sorted(ISA_CAPS.get(isa_argument(sys.argv[1:]), {}).items())
    os.environ.update(CAPPED)
else:
    UNSET = CAPPED = None  # imported (tests): the environment is left alone

import argparse  # noqa: E402
import ctypes  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, os.pardir))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, HERE)

import mlpext  # noqa: E402
from demo import (  # noqa: E402
    LEARNING_RATE, SETTLE, cpu_model, format_time, lecture_arrays, numpy_loop, phases_loop, tolerant_stdout,
    train_loop, train_step_loop,
)

DOC = os.path.join(ROOT, "docs", "benchmarks.md")
PLOT = os.path.join(ROOT, "docs", "speedup.png")
BEGIN = "<!-- benchmark-suite:begin (written by benchmarks/run.py; reruns replace it) -->"
END = "<!-- benchmark-suite:end -->"
# --isa avx2's own section of the doc (its runs leave the native section and speedup.png alone)
MARKERS = {"native": (BEGIN, END, "## Benchmark suite (`python benchmarks/run.py`)"),
           "avx2": ("<!-- benchmark-suite-avx2:begin (written by benchmarks/run.py --isa avx2; reruns replace it) -->",
                    "<!-- benchmark-suite-avx2:end -->",
                    "## Benchmark suite held to AVX2 (`python benchmarks/run.py --isa avx2`)")}

# Tolerances of the weights check (module docstring): largest |w − w_mlpext| / largest |w_mlpext| per array.
TOLERANCE = {"float64": 1e-9, "float32": 1e-4, "adam float32": 1e-3}
DIGITS_CHECK_EPOCHS = 2
CHECK_EPS = 1e-14  # Adam's eps in the digits' weights check (check_weights says why)
DIGITS_LR = 1e-3
BETAS, EPS = (0.9, 0.999), 1e-8


class Workload:
    def __init__(self, name, title, sizes, rows, dtype, epochs, quick_epochs, floors, tiny_sizes=None,
                 tiny_rows=None, lr=0.01, kind="sigmoid", tiny_lr=None):
        self.name, self.title, self.sizes, self.rows, self.dtype = name, title, sizes, rows, np.dtype(dtype)
        self.epochs, self.quick_epochs = epochs, quick_epochs
        self.floors = floors  # {mlpext implementation: (floor, peers it is measured against or None: the best)}
        self.tiny_sizes, self.tiny_rows = tiny_sizes or sizes, tiny_rows or rows
        self.lr, self.kind = lr, kind
        self.tiny_lr = tiny_lr or lr

    def shrink(self):
        """The same workload on a tiny network (--tiny)."""
        tiny = Workload(self.name, self.title + " [tiny]", self.tiny_sizes, self.tiny_rows, self.dtype,
                        min(self.quick_epochs, 50), min(self.quick_epochs, 50), self.floors, lr=self.tiny_lr,
                        kind=self.kind)
        if self.kind == "digits":
            tiny.epochs = tiny.quick_epochs = 1
        return tiny

    def tolerance(self):
        return TOLERANCE["adam float32" if self.kind == "digits" and self.dtype == np.float32 else self.dtype.name]

    def multiply_adds(self):
        """Multiply-adds of one epoch of a sigmoid network: forward n·Σ in·out, the deltas n·Σ in·out but the
        first layer's, the weight gradients n·Σ in·out."""
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        return self.rows * (3 * sum(a * b for a, b in pairs) - pairs[0][0] * pairs[0][1])

    def parameters(self):
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))


WORKLOADS = [
    Workload("xor", "lecture XOR 2-3-1, batch 4, float64", (2, 3, 1), 4, np.float64, 10000, 2000,
             {"train": (2.5, ("numba", "jax")), "train_step": (1.0, ("numba", "jax"))}, lr=LEARNING_RATE),
    Workload("small", "sigmoid 64-32-10, batch 32, float32", (64, 32, 10), 32, np.float32, 2000, 300, {},
             tiny_sizes=(8, 6, 3), tiny_rows=5),
    Workload("mnist", "sigmoid 784-128-10, batch 128, float32", (784, 128, 10), 128, np.float32, 400, 5,
             {"train": (1.5, None)}, tiny_sizes=(12, 8, 4), tiny_rows=6),
    # lr 1e-3: the module docstring says why. Their tiny networks keep 0.01: they do not saturate, and at 1e-3 one
    # epoch of 8 rows moves the weights too little for the weights check to see a 2 % error in the learning rate.
    Workload("wide", "sigmoid 1024-1024-1024, batch 1024, float32", (1024, 1024, 1024), 1024, np.float32, 3, 1,
             {"train": (1.0, None)}, tiny_sizes=(16, 16, 16), tiny_rows=8, lr=1e-3, tiny_lr=0.01),
    Workload("deep", "sigmoid 1024-1024-1024-1024, batch 1024, float32", (1024, 1024, 1024, 1024), 1024,
             np.float32, 3, 1, {"fit": (1.0, None)}, tiny_sizes=(16, 16, 16, 16), tiny_rows=8, lr=1e-3,
             tiny_lr=0.01),
    Workload("digits", "digits 64-64-10, batch 32, Adam, float32", (64, 64, 10), 1797, np.float32, 20, 3,
             {"fit f32": (3.0, None)}, tiny_sizes=(64, 8, 10), kind="digits", lr=DIGITS_LR),
]


# ---------------------------------------------------------------------------------------------------------------
# Peers: each imported only if installed
# ---------------------------------------------------------------------------------------------------------------

PEERS = ("numba", "jax", "torch", "sklearn")


def import_peers(wanted=PEERS, torch_threads=None):
    """{peer: module or None}. JAX runs on the CPU with float64 enabled (the float64 workload needs it; arrays of
    float32 stay float32), set before any JAX array exists."""
    found = {}
    for name in PEERS:
        found[name] = None
        if name not in wanted:
            continue
        try:
            if name == "torch":
                # PyTorch's OpenMP threads otherwise spin after each operation, taking the cores from NumPy's
                # BLAS threads (and the reverse) while the implementations take turns in one process.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                import torch as module
                threads = torch_threads or blas_threads()
                if threads:
                    module.set_num_threads(threads)
            elif name == "jax":
                os.environ.setdefault("JAX_PLATFORMS", "cpu")
                import jax as module
                module.config.update("jax_enable_x64", True)
            elif name == "numba":
                import numba as module
            else:
                import sklearn.neural_network  # noqa: F401
                import sklearn as module
        except ImportError:
            continue
        found[name] = module
    return found


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [i.get("num_threads") for i in threadpool_info() if i.get("user_api") == "blas"]
    return counts[0] if counts else None


# ---------------------------------------------------------------------------------------------------------------
# Implementations. Each: prepare(arrays) -> state (fresh copies of the initial weights, not timed);
# run(state, epochs) trains in the state (timed); weights(state) -> [W1, b1, W2, b2, ...] as NumPy arrays.
# ---------------------------------------------------------------------------------------------------------------

class Impl:
    def __init__(self, key, label, prepare, run, weights=None, mlpext_side=False, family=None, dtype=None):
        self.key, self.label, self.prepare, self.run = key, label, prepare, run
        self.weights = weights or (lambda state: state["params"])
        self.mlpext_side = mlpext_side
        self.family = family or ("mlpext" if mlpext_side else key.split()[0])
        self.dtype = None if dtype is None else np.dtype(dtype)  # its weights' dtype; None: the workload's


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_sigmoid_loop(X, y, params, lr, epochs):
    """The lecture's loop for any depth, in NumPy, in place on params = [W1, b1, W2, b2, ...]."""
    Ws, bs = params[0::2], params[1::2]
    losses = np.empty(epochs)
    for epoch in range(epochs):
        acts = [X]
        for W, b in zip(Ws, bs):
            acts.append(sigmoid(np.dot(acts[-1], W) + b))
        out = acts[-1]
        error = y - out
        delta = error * (out * (1 - out))
        for k in range(len(Ws) - 1, -1, -1):
            below = np.dot(delta, Ws[k].T) * (acts[k] * (1 - acts[k])) if k else None
            Ws[k] += np.dot(acts[k].T, delta) * lr
            bs[k] += np.sum(delta, axis=0) * lr
            delta = below
        losses[epoch] = np.mean(np.abs(error))
    return losses


def subnormal_share(X, y, params):
    """The share of the lecture's deltas δ_L, ..., δ_1 (one full-batch step at params = [W1, b1, ...]) that are
    subnormal: nonzero and below the smallest normal number of the parameters' dtype."""
    Ws, bs = params[0::2], params[1::2]
    tiny = np.finfo(Ws[0].dtype).tiny
    with np.errstate(over="ignore", under="ignore"):
        acts = [np.asarray(X, Ws[0].dtype)]
        for W, b in zip(Ws, bs):
            acts.append(sigmoid(np.dot(acts[-1], W) + b))
        out = acts[-1]
        delta = (np.asarray(y, out.dtype) - out) * (out * (1 - out))
        subnormal, total = 0, 0
        for k in range(len(Ws) - 1, -1, -1):
            subnormal += int(np.count_nonzero((delta != 0) & (np.abs(delta) < tiny)))
            total += delta.size
            if k:
                delta = np.dot(delta, Ws[k].T) * (acts[k] * (1 - acts[k]))
    return subnormal / total


def copies(params):
    return [p.copy() for p in params]


def sigmoid_impls(w, peers):
    """[Impl] for a sigmoid workload, mlpext's first; arrays = (X, y, params)."""
    lr, layers = w.lr, len(w.sizes) - 1
    impls = []

    def mlpext_loop(key, label, loop):
        impls.append(Impl(key, label, lambda a: {"params": copies(a[2])},
                          lambda s, e, a: loop(a[0], a[1], *s["params"], lr, e), mlpext_side=True))

    if layers == 2:
        mlpext_loop("train", "mlpext.train", train_loop)
        if w.name in ("xor", "small", "mnist"):
            mlpext_loop("train_step", "mlpext.train_step loop", train_step_loop)
        if w.name == "xor":
            mlpext_loop("phases", "mlpext forward/backward/update", phases_loop)
    else:
        def prepare_net(a):
            net = mlpext.MLP(list(w.sizes), activation="sigmoid", loss="lecture", optimizer="sgd", learning_rate=lr,
                             dtype=w.dtype, seed=0)
            for (W, b), W0, b0 in zip(net.params, a[2][0::2], a[2][1::2]):
                W[...], b[...] = W0, b0
            return {"net": net}
        impls.append(Impl("fit", "mlpext.MLP.fit", prepare_net,
                          lambda s, e, a: s["net"].fit(a[0], a[1], e, batch_size=None),
                          lambda s: [p for pair in s["net"].params for p in pair], mlpext_side=True))

    if w.name == "xor":
        impls.append(Impl("numpy", "NumPy loop (the lecture's)", lambda a: {"params": copies(a[2])},
                          lambda s, e, a: numpy_loop(a[0], a[1], *s["params"], lr, e)))
    else:
        impls.append(Impl("numpy", "NumPy loop", lambda a: {"params": copies(a[2])},
                          lambda s, e, a: numpy_sigmoid_loop(a[0], a[1], s["params"], lr, e)))
    if w.name == "xor":
        impls += numba_xor_impls(peers["numba"], lr)
    impls += jax_sigmoid_impls(peers["jax"], w)
    impls += torch_sigmoid_impls(peers["torch"], w)
    return impls


def missing(key, label):
    """A row for a peer that is not installed."""
    return Impl(key, label, None, None)


# --- Numba: the XOR loop as plain loops (one call for the whole loop, or one per epoch) ---------------------------

_NUMBA = {}


def numba_functions(numba):
    if _NUMBA:
        return _NUMBA
    njit = numba.njit(cache=False)

    @njit
    def epoch(X, y, W1, b1, W2, b2, lr, A1, A2, D1, D2):
        n, d = X.shape
        h, o = W2.shape
        for i in range(n):
            for j in range(h):
                s = 0.0
                for k in range(d):
                    s += X[i, k] * W1[k, j]
                A1[i, j] = 1.0 / (1.0 + np.exp(-(s + b1[j])))
            for j in range(o):
                s = 0.0
                for k in range(h):
                    s += A1[i, k] * W2[k, j]
                A2[i, j] = 1.0 / (1.0 + np.exp(-(s + b2[j])))
        loss = 0.0
        for i in range(n):
            for j in range(o):
                e = y[i, j] - A2[i, j]
                loss += abs(e)
                D2[i, j] = e * (A2[i, j] * (1.0 - A2[i, j]))
            for j in range(h):
                s = 0.0
                for k in range(o):
                    s += D2[i, k] * W2[j, k]
                D1[i, j] = s * (A1[i, j] * (1.0 - A1[i, j]))
        for j in range(h):
            for k in range(o):
                s = 0.0
                for i in range(n):
                    s += A1[i, j] * D2[i, k]
                W2[j, k] += s * lr
        for k in range(o):
            s = 0.0
            for i in range(n):
                s += D2[i, k]
            b2[k] += s * lr
        for j in range(d):
            for k in range(h):
                s = 0.0
                for i in range(n):
                    s += X[i, j] * D1[i, k]
                W1[j, k] += s * lr
        for k in range(h):
            s = 0.0
            for i in range(n):
                s += D1[i, k]
            b1[k] += s * lr
        return loss / (n * o)

    @njit
    def loop(X, y, W1, b1, W2, b2, lr, epochs):
        n = X.shape[0]
        h, o = W2.shape
        A1, D1 = np.empty((n, h)), np.empty((n, h))
        A2, D2 = np.empty((n, o)), np.empty((n, o))
        losses = np.empty(epochs)
        for e in range(epochs):
            losses[e] = epoch(X, y, W1, b1, W2, b2, lr, A1, A2, D1, D2)
        return losses

    _NUMBA.update(epoch=epoch, loop=loop)
    return _NUMBA


def numba_xor_impls(numba, lr):
    if numba is None:
        return [missing("numba", "Numba @njit whole loop"), missing("numba step", "Numba @njit, one call per epoch")]
    f = numba_functions(numba)

    def prepare(a):
        X, y, params = a
        n, h, o = X.shape[0], params[0].shape[1], params[2].shape[1]
        return {"X": np.asarray(X, np.float64), "y": np.asarray(y, np.float64), "params": copies(params),
                "work": (np.empty((n, h)), np.empty((n, o)), np.empty((n, h)), np.empty((n, o)))}

    def run_loop(s, epochs, a):
        f["loop"](s["X"], s["y"], *s["params"], lr, epochs)

    def run_steps(s, epochs, a):
        X, y, (W1, b1, W2, b2), (A1, A2, D1, D2) = s["X"], s["y"], s["params"], s["work"]
        epoch = f["epoch"]
        for _ in range(epochs):
            epoch(X, y, W1, b1, W2, b2, lr, A1, A2, D1, D2)  # returns the epoch's loss, as train_step does
    return [Impl("numba", "Numba @njit whole loop", prepare, run_loop),
            Impl("numba step", "Numba @njit, one call per epoch", prepare, run_steps)]


# --- JAX: the lecture's loop for any depth, jitted (whole loop in lax.fori_loop; XOR: also one step per call) ---

def jax_sigmoid_impls(jax, w):
    if jax is None:
        rows = [missing("jax", "JAX jit, lax.fori_loop")]
        return rows + ([missing("jax step", "JAX jit, one call per epoch")] if w.name == "xor" else [])
    import jax.numpy as jnp
    from jax import lax

    lr, dtype = w.lr, w.dtype

    def step(params, X, y):
        Ws, bs = params[0::2], params[1::2]
        acts = [X]
        for W, b in zip(Ws, bs):
            acts.append(1 / (1 + jnp.exp(-(acts[-1] @ W + b))))
        out = acts[-1]
        error = y - out
        delta = error * (out * (1 - out))
        new = list(params)
        for k in range(len(Ws) - 1, -1, -1):
            below = (delta @ Ws[k].T) * (acts[k] * (1 - acts[k])) if k else None
            new[2 * k] = Ws[k] + (acts[k].T @ delta) * lr
            new[2 * k + 1] = bs[k] + jnp.sum(delta, axis=0) * lr
            delta = below
        return tuple(new), jnp.mean(jnp.abs(error))

    def whole(params, X, y, epochs):
        def body(e, carry):
            params, losses = carry
            params, loss = step(params, X, y)
            return params, losses.at[e].set(loss)
        return lax.fori_loop(0, epochs, body, (params, jnp.zeros(epochs, dtype)))

    whole_jit = jax.jit(whole, static_argnums=3)
    step_jit = jax.jit(step)

    def prepare(a):
        X, y, params = a
        return {"X": jnp.asarray(np.asarray(X, dtype)), "y": jnp.asarray(np.asarray(y, dtype)),
                "params": tuple(jnp.asarray(p) for p in params)}

    def run_whole(s, epochs, a):
        s["params"], losses = whole_jit(s["params"], s["X"], s["y"], epochs)
        jax.block_until_ready(s["params"])

    def run_steps(s, epochs, a):
        params, X, y = s["params"], s["X"], s["y"]
        for _ in range(epochs):
            params, loss = step_jit(params, X, y)
        s["params"] = jax.block_until_ready(params)

    def weights(s):
        return [np.asarray(p) for p in s["params"]]

    impls = [Impl("jax", "JAX jit, lax.fori_loop", prepare, run_whole, weights)]
    if w.name == "xor":
        impls.append(Impl("jax step", "JAX jit, one call per epoch", prepare, run_steps, weights))
    return impls


# --- PyTorch: the lecture's update with tensor operations, no autograd ------------------------------------------

def torch_sigmoid_impls(torch, w):
    if torch is None:
        return [missing("torch", "PyTorch (no autograd)")]
    lr = w.lr

    def prepare(a):
        X, y, params = a
        params = copies(params)
        return {"X": torch.as_tensor(np.asarray(X, w.dtype)), "y": torch.as_tensor(np.asarray(y, w.dtype)),
                "params": params, "tensors": [torch.from_numpy(p) for p in params]}  # in place on the arrays

    def run(s, epochs, a):
        X, y, tensors = s["X"], s["y"], s["tensors"]
        Ws, bs = tensors[0::2], tensors[1::2]
        losses = torch.empty(epochs, dtype=torch.float64)
        with torch.no_grad():
            for epoch in range(epochs):
                acts = [X]
                for W, b in zip(Ws, bs):
                    acts.append(torch.sigmoid(torch.addmm(b, acts[-1], W)))
                out = acts[-1]
                error = y - out
                delta = error * out * (1 - out)
                for k in range(len(Ws) - 1, -1, -1):
                    below = (delta @ Ws[k].T) * acts[k] * (1 - acts[k]) if k else None
                    Ws[k].add_(acts[k].T @ delta, alpha=lr)
                    bs[k].add_(delta.sum(0), alpha=lr)
                    delta = below
                losses[epoch] = error.abs().mean()
    return [Impl("torch", "PyTorch (no autograd)", prepare, run)]


# --- digits: relu/softmax, cross-entropy, Adam, mini-batches of 32 ----------------------------------------------

DIGITS_BATCH = 32


def digits_arrays(w):
    """(X float32, y int64 labels, initial params [W1, b1, W2, b2] float32: mlpext.MLP's for seed 0)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = np.ascontiguousarray(X / 16.0, dtype=w.dtype)
    net = mlpext.MLP(list(w.sizes), **digits_kwargs(w), dtype=w.dtype, seed=0)
    return X, y.astype(np.int64), [p.copy() for pair in net.params for p in pair]


def digits_kwargs(w, eps=EPS):
    return dict(activation="relu", loss="cross_entropy", optimizer="adam", learning_rate=w.lr, betas=BETAS, eps=eps)


def digits_impls(w, peers):
    impls = []

    def net_impl(key, label, cls, dtype, mlpext_side):
        def prepare(a, shuffle=True, eps=EPS):
            X, y, params = a
            net = cls(list(w.sizes), **digits_kwargs(w, eps), dtype=dtype, seed=0)
            for (W, b), W0, b0 in zip(net.params, params[0::2], params[1::2]):
                W[...], b[...] = W0, b0
            return {"net": net, "X": np.ascontiguousarray(X, dtype=dtype), "shuffle": shuffle}

        def run(s, epochs, a):
            s["net"].fit(s["X"], a[1], epochs, batch_size=DIGITS_BATCH, shuffle=s["shuffle"])
        impls.append(Impl(key, label, prepare, run, lambda s: [p for pair in s["net"].params for p in pair],
                          mlpext_side=mlpext_side, family="mlpext" if mlpext_side else "numpy", dtype=dtype))

    from mlpext.reference_net import NumpyMLP

    net_impl("fit f32", "mlpext.MLP.fit float32", mlpext.MLP, np.float32, True)
    net_impl("fit f64", "mlpext.MLP.fit float64", mlpext.MLP, np.float64, True)
    net_impl("numpy", "NumPy (reference_net.NumpyMLP)", NumpyMLP, w.dtype, False)
    impls.append(sklearn_digits_impl(peers["sklearn"], w))
    impls.append(torch_digits_impl(peers["torch"], w))
    impls.append(jax_digits_impl(peers["jax"], w))
    return impls


def sklearn_digits_impl(sklearn, w):
    label = "scikit-learn MLPClassifier"
    if sklearn is None:
        return missing("sklearn", label)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def prepare(a, shuffle=True, eps=EPS):
        X, y, params = a
        clf = MLPClassifier(hidden_layer_sizes=w.sizes[1:-1], activation="relu", solver="adam", alpha=0.0,
                            batch_size=DIGITS_BATCH, learning_rate_init=w.lr, max_iter=1, tol=0.0,
                            n_iter_no_change=1 << 30, shuffle=shuffle, random_state=0, beta_1=BETAS[0],
                            beta_2=BETAS[1], epsilon=eps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)  # sets up the estimator; the weights are replaced below
        clf.coefs_ = [p.copy() for p in params[0::2]]
        clf.intercepts_ = [p.copy() for p in params[1::2]]
        clf.set_params(warm_start=True)  # fit keeps these weights and starts a fresh Adam
        return {"clf": clf}

    def run(s, epochs, a):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            s["clf"].set_params(max_iter=epochs).fit(a[0], a[1])

    def weights(s):
        clf = s["clf"]
        return [p for pair in zip(clf.coefs_, clf.intercepts_) for p in pair]
    return Impl("sklearn", label, prepare, run, weights)


def torch_digits_impl(torch, w):
    label = "PyTorch (autograd, optim.Adam)"
    if torch is None:
        return missing("torch", label)
    import torch.nn.functional as F

    def prepare(a, shuffle=True, eps=EPS):
        X, y, params = a
        layers = []
        for W, b in zip(params[0::2], params[1::2]):
            linear = torch.nn.Linear(*W.shape, dtype=torch.float32)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T.copy()))
                linear.bias.copy_(torch.from_numpy(b))
            layers += [linear, torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1])
        return {"model": model, "X": torch.as_tensor(X), "y": torch.as_tensor(y), "shuffle": shuffle,
                "optimizer": torch.optim.Adam(model.parameters(), lr=w.lr, betas=BETAS, eps=eps)}

    def run(s, epochs, a):
        model, optimizer, X, y = s["model"], s["optimizer"], s["X"], s["y"]
        n = X.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n) if s["shuffle"] else torch.arange(n)
            total = 0.0
            for start in range(0, n, DIGITS_BATCH):
                rows = order[start:start + DIGITS_BATCH]
                loss = F.cross_entropy(model(X[rows]), y[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(rows)

    def weights(s):
        linears = [m for m in s["model"] if isinstance(m, torch.nn.Linear)]
        return [p for m in linears for p in (m.weight.detach().numpy().T, m.bias.detach().numpy())]
    return Impl("torch", label, prepare, run, weights)


def jax_digits_impl(jax, w):
    label = "JAX jit, lax.scan per epoch"
    if jax is None:
        return missing("jax", label)
    import jax.numpy as jnp
    from jax import lax

    lr, (beta1, beta2), batch = w.lr, BETAS, DIGITS_BATCH

    def loss_fn(params, X, Y):
        A = X
        for k in range(0, len(params), 2):
            Z = A @ params[k] + params[k + 1]
            A = jnp.maximum(Z, 0) if k + 2 < len(params) else Z
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(A, axis=1), axis=1))

    grad_fn = jax.value_and_grad(loss_fn)

    def step(carry, data, eps):
        params, m, v, t = carry
        X, Y = data
        loss, grads = grad_fn(params, X, Y)
        t = t + 1
        tf = t.astype(jnp.float32)
        step_size = lr / (1 - beta1 ** tf)
        root = jnp.sqrt(1 - beta2 ** tf)
        m = tuple(mi + (g - mi) * (1 - beta1) for mi, g in zip(m, grads))
        v = tuple(beta2 * vi + (1 - beta2) * g * g for vi, g in zip(v, grads))
        params = tuple(p - step_size * mi / (jnp.sqrt(vi) / root + eps) for p, mi, vi in zip(params, m, v))
        return (params, m, v, t), loss * X.shape[0]

    def epoch(carry, X, Y, key, eps, shuffle):
        n = X.shape[0]
        if shuffle:
            order = jax.random.permutation(key, n)
            X, Y = X[order], Y[order]
        full = n // batch * batch
        carry, losses = lax.scan(lambda c, d: step(c, d, eps), carry, (X[:full].reshape(-1, batch, X.shape[1]),
                                               Y[:full].reshape(-1, batch, Y.shape[1])))
        total = jnp.sum(losses)
        if full < n:
            carry, tail = step(carry, (X[full:], Y[full:]), eps)
            total = total + tail
        return carry, total / n

    epoch_jit = jax.jit(epoch, static_argnums=5)

    def prepare(a, shuffle=True, eps=EPS):
        X, y, params = a
        params = tuple(jnp.asarray(p) for p in params)
        zeros = tuple(jnp.zeros_like(p) for p in params)
        return {"carry": (params, zeros, zeros, jnp.zeros((), jnp.int32)), "X": jnp.asarray(X),
                "Y": jnp.asarray(np.eye(w.sizes[-1], dtype=w.dtype)[y]), "shuffle": shuffle,
                "eps": jnp.asarray(eps, w.dtype),
                "key": jax.random.PRNGKey(0)}

    def run(s, epochs, a):
        carry, X, Y, key = s["carry"], s["X"], s["Y"], s["key"]
        for _ in range(epochs):
            key, sub = jax.random.split(key)
            carry, loss = epoch_jit(carry, X, Y, sub, s["eps"], s["shuffle"])
        s["carry"], s["key"] = jax.block_until_ready(carry), key

    def weights(s):
        return [np.asarray(p) for p in s["carry"][0]]
    return Impl("jax", label, prepare, run, weights)


# ---------------------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------------------

def sigmoid_arrays(w, seed=0):
    """(X, y, [W1, b1, ...]): the lecture's for XOR, else random data and weights 0.1·N(0, 1)."""
    if w.name == "xor":
        X, y, *params = lecture_arrays()
        return X, y, params
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((w.rows, w.sizes[0])).astype(w.dtype)
    y = (rng.uniform(size=(w.rows, w.sizes[-1])) > 0.5).astype(w.dtype)
    params = []
    for fan_in, fan_out in zip(w.sizes[:-1], w.sizes[1:]):
        params += [(0.1 * rng.standard_normal((fan_in, fan_out))).astype(w.dtype),
                   (0.1 * rng.standard_normal(fan_out)).astype(w.dtype)]
    return X, y, params


def workload_setup(w, peers):
    """(arrays, [Impl]) of a workload, or None if it cannot run here (digits without scikit-learn)."""
    if w.kind == "digits":
        try:
            arrays = digits_arrays(w)
        except ImportError:
            return None
        return arrays, digits_impls(w, peers)
    return sigmoid_arrays(w), sigmoid_impls(w, peers)


def weight_gap(weights, reference, dtype=None):
    """The largest, over the arrays, of max|w − w_ref| / max|w_ref| (inf if the shapes differ, or if an array is not
    of `dtype`, the one the implementation claims to compute in: one in float64 where float32 is claimed ends
    closer to the exact weights than mlpext, within any tolerance, and is slower for it)."""
    worst = 0.0
    if len(weights) != len(reference):
        return float("inf")
    if dtype is not None and any(np.asarray(a).dtype != dtype for a in weights):
        return float("inf")
    for a, r in zip(weights, reference):
        a, r = np.asarray(a, np.float64), np.asarray(r, np.float64)
        if a.shape != r.shape:
            return float("inf")
        scale = np.max(np.abs(r)) if r.size else 0.0
        gap = np.max(np.abs(a - r)) if r.size else 0.0
        worst = max(worst, float(gap / scale) if scale > 0 else float(gap))
        if np.isnan(gap):
            return float("nan")
    return worst


def check_weights(w, impls, arrays, epochs, trained=None):
    """{key: (gap, agrees)}: each implementation's weights after `epochs` epochs from the same initial weights,
    against the first (mlpext's). `trained` holds {key: weights} already computed (the warm-up runs). The digits
    are trained without shuffling (each implementation shuffles with its own generator) and with Adam's eps
    1e-14: scikit-learn adds eps to √v, torch.optim.Adam (and mlpext) to √v / √(1 − β2^t), which alone moves
    the weights by about 1 % in the first epochs; with eps tiny both are the same computation."""
    trained = dict(trained or {})
    for impl in impls:
        if impl.run is not None and impl.key not in trained:
            state = impl.prepare(arrays, **({"shuffle": False, "eps": CHECK_EPS} if w.kind == "digits" else {}))
            impl.run(state, epochs, arrays)
            trained[impl.key] = [np.array(p) for p in impl.weights(state)]
    reference = trained[impls[0].key]
    tolerance = w.tolerance()
    out = {}
    for impl in impls[1:]:
        if impl.key in trained:
            gap = weight_gap(trained[impl.key], reference, impl.dtype or w.dtype)
            out[impl.key] = (gap, bool(gap <= tolerance))
    return out


def time_impls(impls, arrays, epochs, repeats, settle):
    """({key: best seconds per epoch}, {key: weights after the warm-up run}, {key: [seconds per epoch of each
    round]}). The warm-up run is a full run (JAX compiles for the epoch count); the timed runs take turns, one run
    of each implementation a round."""
    available = [i for i in impls if i.run is not None]
    best = {i.key: float("inf") for i in available}
    by_round = {i.key: [] for i in available}
    trained = {}
    for impl in available:
        state = impl.prepare(arrays)
        impl.run(state, epochs, arrays)
        trained[impl.key] = [np.array(p) for p in impl.weights(state)]
    for _ in range(repeats):
        for impl in available:
            state = impl.prepare(arrays)
            time.sleep(settle)
            enabled = gc.isenabled()
            gc.disable()
            try:
                started = time.perf_counter()
                impl.run(state, epochs, arrays)
                elapsed = time.perf_counter() - started
            finally:
                if enabled:
                    gc.enable()
            best[impl.key] = min(best[impl.key], elapsed)
            by_round[impl.key].append(elapsed / epochs)
    return {key: seconds / epochs for key, seconds in best.items()}, trained, by_round


def measure(w, peers, epochs, repeats, left_out=()):
    """{'epochs', 'impls', 'per_epoch', 'check'} for a workload, or None if it cannot run here. The implementations
    of the families in left_out get no row."""
    setup = workload_setup(w, peers)
    if setup is None:
        return None
    arrays, impls = setup
    impls = [impl for impl in impls if impl.family not in left_out]
    settle = SETTLE if w.kind == "sigmoid" and w.multiply_adds() >= 1 << 22 else 0.0
    with np.errstate(over="ignore"):  # NumPy's sigmoid: exp(-z) overflows to inf for z < -88 (float32), giving 0
        per_epoch, trained, by_round = time_impls(impls, arrays, epochs, repeats, settle)
        if w.kind == "digits":  # the timed runs shuffle, each with its own generator: compared without shuffling
            check = check_weights(w, impls, arrays, min(epochs, DIGITS_CHECK_EPOCHS))
        else:
            check = check_weights(w, impls, arrays, epochs, trained)
    # the deltas at mlpext's weights after the warm-up run (the timed runs' epochs): subnormal ones slow the peers
    # that keep them, whatever their code
    subnormal = subnormal_share(arrays[0], arrays[1], trained[impls[0].key]) if w.kind == "sigmoid" else None
    return {"epochs": epochs, "impls": impls, "per_epoch": per_epoch, "by_round": by_round, "check": check,
            "subnormal": subnormal}


def subnormal_note(w, result):
    """A warning line for a workload whose deltas went subnormal, or None."""
    share = result.get("subnormal")
    if not share:
        return None
    return (f"WARNING: {share:.2%} of {w.name}'s deltas are subnormal after its {result['epochs']} epochs: the peers "
            "that keep subnormal numbers (NumPy, PyTorch) are slowed by that on Intel cores, not by their code")


# --- peak memory, in a child process per implementation ---------------------------------------------------------

def rss_status():
    """{'VmRSS', 'VmHWM'} in bytes from /proc/self/status, or None."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    except OSError:
        return None
    return {k: int(v.split()[0]) * 1024 for k, v in fields.items()}


def reset_peak():
    """Resets the kernel's high-water mark of this process's resident memory (Linux); False if it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(name, key, epochs, tiny, torch_threads):
    """The peak memory of one training run of one implementation (this process: --memory-child)."""
    w = next(w for w in WORKLOADS if w.name == name)
    w = w.shrink() if tiny else w
    family = key.split()[0]
    peers = import_peers([family] if family in PEERS else (), torch_threads)
    arrays, impls = workload_setup(w, peers)
    impl = next(i for i in impls if i.key == key)
    with np.errstate(over="ignore"):
        state = impl.prepare(arrays)
        impl.run(state, epochs, arrays)  # warm-up: compilation, caches
        del state
        gc.collect()
        mlpext.release_memory()  # the scratch block mlpext keeps between calls: the measured run allocates it again
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):
            pass
        state = impl.prepare(arrays)
        if rss_status() is None or not reset_peak():
            return {"peak": None}
        before = rss_status()["VmRSS"]
        impl.run(state, epochs, arrays)
        after = rss_status()["VmHWM"]
    return {"peak": max(after - before, 0)}


def peak_memory(w, impls, epochs, tiny, torch_threads, isa="native"):
    """{key: bytes or None} for every available implementation, each measured in a child process."""
    out = {}
    for impl in impls:
        if impl.run is None:
            continue
        command = [sys.executable, os.path.abspath(__file__), "--memory-child", w.name, impl.key, str(epochs)]
        if tiny:
            command.append("--tiny")
        if torch_threads:
            command += ["--torch-threads", str(torch_threads)]
        if isa != "native":
            command += ["--isa", isa]  # the child sets the same caps before its NumPy loads
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        try:
            out[impl.key] = json.loads(done.stdout.strip().splitlines()[-1])["peak"]
        except (ValueError, IndexError, KeyError):
            print(f"  peak memory of {w.name} / {impl.key} failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
            out[impl.key] = None
    return out



# ---------------------------------------------------------------------------------------------------------------
# Callgrind
# ---------------------------------------------------------------------------------------------------------------

CALLGRIND_SCRIPT = """\
import sys
sys.path.insert(0, {examples!r})
import mlpext
from mlpext import _core
from demo import LEARNING_RATE, lecture_arrays
X, y, *params = lecture_arrays()
mlpext.train(X, y, *params, LEARNING_RATE, int(sys.argv[1]))
print(_core.build_info()["simd"])
"""
CALLGRIND_EPOCHS = (1000, 11000)


def callgrind_count(script, epochs, toggle, workdir):
    out = os.path.join(workdir, f"callgrind.{epochs}.{int(toggle)}.out")
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    if toggle:
        command.append("--toggle-collect=py_train")  # only inside the train call (the binding's function)
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run(command + [sys.executable, script, str(epochs)], capture_output=True, text=True, env=env,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"valgrind exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    with open(out) as f:
        totals = [line for line in f if line.startswith("totals:") or line.startswith("summary:")]
    return int(totals[-1].split()[1]), done.stdout.strip().splitlines()[-1]


def callgrind():
    """{'per_epoch', 'per_call', 'simd', 'scope'} for the XOR mlpext.train loop, or {'skipped': reason}."""
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed"}
    e1, e2 = CALLGRIND_EPOCHS
    with tempfile.TemporaryDirectory() as workdir:
        script = os.path.join(workdir, "train_xor.py")
        with open(script, "w") as f:
            f.write(CALLGRIND_SCRIPT.format(examples=os.path.join(ROOT, "examples")))
        try:
            scope = "inside mlpext.train's C function (callgrind --toggle-collect=py_train)"
            (ir1, simd), (ir2, _) = (callgrind_count(script, e, True, workdir) for e in (e1, e2))
            if ir1 == 0:  # the binding's symbol is stripped: count the whole process
                scope = "whole process"
                (ir1, simd), (ir2, _) = (callgrind_count(script, e, False, workdir) for e in (e1, e2))
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
            return {"skipped": f"callgrind failed: {error}"}
    per_epoch = (ir2 - ir1) / (e2 - e1)
    return {"per_epoch": per_epoch, "per_call": ir1 - e1 * per_epoch, "simd": simd, "scope": scope,
            "epochs": (e1, e2)}


def callgrind_text(cg):
    if "skipped" in cg:
        return f"callgrind: skipped ({cg['skipped']})"
    e1, e2 = cg["epochs"]
    return (f"callgrind, XOR mlpext.train: {cg['per_epoch']:,.0f} instructions per epoch "
            f"((Ir({e2}) − Ir({e1})) / {e2 - e1} epochs, counted {cg['scope']}; about {cg['per_call']:,.0f} "
            f"more per call). Kernels under valgrind: {cg['simd']} — valgrind does not emulate AVX-512, so the "
            f"CPU dispatch takes another path there than on an AVX-512 machine.")


# ---------------------------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------------------------

def format_bytes(n):
    if n is None:
        return "n/a"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.0f} KiB"


def best_peer(result, keys=None):
    """(seconds, key) of the fastest available implementation that is not mlpext's (among `keys` if given)."""
    times = [(result["per_epoch"][i.key], i.key) for i in result["impls"]
             if not i.mlpext_side and i.key in result["per_epoch"] and (keys is None or i.key in keys)]
    return min(times) if times else (None, None)


def round_ratios(result, key, keys):
    """The floor's ratio in each round: the fastest of `keys` (the peers; None: every one not mlpext's) in that
    round over `key`'s time in it. [] without per-round times (or with a peer missing from a round)."""
    by_round = result.get("by_round") or {}
    peers = [i.key for i in result["impls"]
             if not i.mlpext_side and i.key in by_round and (keys is None or i.key in keys)]
    own = by_round.get(key, [])
    if not peers or not own or any(len(by_round[k]) != len(own) for k in peers):
        return []
    return [min(by_round[k][r] for k in peers) / own[r] for r in range(len(own))]


def rows(w, result, memory=None):
    """One dict per implementation, in the workload's order: the table's cells."""
    per_epoch, check = result["per_epoch"], result["check"]
    peer_time, peer_key = best_peer(result)
    numpy_time = per_epoch.get("numpy")
    out = []
    for impl in result["impls"]:
        row = {"key": impl.key, "label": impl.label, "installed": impl.run is not None}
        if impl.run is None:
            out.append(row)
            continue
        seconds = per_epoch[impl.key]
        row["time"] = format_time(seconds)
        row["vs_peer"] = f"{peer_time / seconds:.2f}×" if peer_time else "—"
        row["vs_numpy"] = f"{numpy_time / seconds:.2f}×" if numpy_time else "—"
        peak = (memory or {}).get(impl.key, "skipped")
        row["memory"] = "—" if peak == "skipped" else format_bytes(peak)
        if impl.key in check:
            gap, agrees = check[impl.key]
            row["weights"] = f"{gap:.1e}" + ("" if agrees else " DISAGREES")
        else:
            row["weights"] = "(reference)"
        row["floor"] = row["verdict"] = ""
        if impl.key in w.floors:
            floor, keys = w.floors[impl.key]
            against, against_key = best_peer(result, keys)
            names = " and ".join(k.split()[0] for k in keys) if keys else "best peer"
            row["floor"] = f"≥ {floor:g}× {names}"
            if against is None:
                row["verdict"] = "n/a (not installed)"
            else:
                ratio = against / seconds
                spread = round_ratios(result, impl.key, keys)
                spread = f"; rounds {min(spread):.2f}–{max(spread):.2f}×" if len(spread) > 1 else ""
                # a verdict against other work than mlpext's decides nothing: it says so
                unlike = [k for k in (impl.key, against_key) if k in check and not check[k][1]]
                unlike = f"; {' and '.join(unlike)} DISAGREES" if unlike else ""
                # a ratio just below the floor is shown rounded down (1.4996 as 1.49, not a BELOW at "1.50×")
                shown = ratio if ratio >= floor else math.floor(ratio * 100) / 100
                row["verdict"] = (f"{'meets' if ratio >= floor else 'BELOW'} ({shown:.2f}× {against_key}{spread}"
                                  f"{unlike})")
        out.append(row)
    return out


COLUMNS = [("implementation", "label", 34), ("per epoch", "time", 10), ("best peer ÷", "vs_peer", 11),
           ("vs NumPy", "vs_numpy", 9), ("peak mem", "memory", 10), ("weights gap", "weights", 18),
           ("floor", "floor", 22), ("verdict", "verdict", 0)]


def print_table(results, memory):
    print("  ".join(f"{title:<{width}}" for title, _, width in COLUMNS))
    for w, result in results:
        print(f"{w.title} ({result['epochs']} epochs; weights tolerance {w.tolerance():g})")
        note = subnormal_note(w, result)
        if note:
            print("  " + note)
        for row in rows(w, result, memory.get(w.name)):
            if not row["installed"]:
                print(f"  {row['label']:<32}  not installed")
                continue
            print("  " + "  ".join(f"{row[field]:<{width - 2 * (field == 'label')}}" if width else row[field]
                                   for _, field, width in COLUMNS))


def versions(peers, left_out=()):
    out = {"Python": platform.python_version(), "NumPy": np.__version__}
    try:
        from mlpext import _core
        out["mlpext"] = f"{mlpext.__version__} ({_core.build_info()['simd']} kernels)"
    except (ImportError, KeyError):
        out["mlpext"] = mlpext.__version__
    for name, label in (("numba", "Numba"), ("jax", "JAX"), ("torch", "PyTorch"), ("sklearn", "scikit-learn")):
        module = peers.get(name)
        out[label] = (module.__version__ if module is not None
                      else "left out (--isa)" if name in left_out else "not installed")
    if peers.get("jax") is not None:
        import jaxlib
        out["JAX"] += f" (jaxlib {jaxlib.__version__}, {peers['jax'].default_backend()})"
    if peers.get("torch") is not None:
        out["PyTorch"] += f" ({peers['torch'].get_num_threads()} threads)"
    for name in ("scipy", "threadpoolctl"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            pass
    return out


def load_average():
    """The 1, 5 and 15-minute load averages (psutil's where installed: it has them on Windows too), or None."""
    try:
        import psutil
        return psutil.getloadavg()
    except (ImportError, AttributeError, OSError):
        pass
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def format_load(load):
    return " ".join(f"{x:.2f}" for x in load) if load else "n/a"


def cpu_details():
    """The CPU family and model, cores, data caches and SIMD extensions (Linux), or the core count."""
    parts = [f"{os.cpu_count()} logical cores"]
    try:
        import psutil
        physical = psutil.cpu_count(logical=False)
        if physical:
            parts[0] = f"{physical} physical, " + parts[0]
    except ImportError:
        pass
    caches = []
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for index in sorted(os.listdir(base)):
            def field(name):
                with open(os.path.join(base, index, name)) as f:
                    return f.read().strip()
            kind = field("type")
            if kind == "Instruction":
                continue
            shared = field("shared_cpu_list")
            caches.append(f"L{field('level')}{'d' if kind == 'Data' else ''} {field('size')}"
                          + (f" (CPUs {shared})" if "-" in shared or "," in shared else ""))
    except OSError:
        pass
    if caches:
        parts.append(", ".join(caches) + " per core unless shared by the CPUs named")
    try:
        with open("/proc/cpuinfo") as f:
            info = {}
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
        if "cpu family" in info:
            parts.insert(0, f"family {info['cpu family']} model {info.get('model', '?')}")
        flags = info.get("flags", "").split()
        simd = [name for flag, name in (("avx2", "AVX2"), ("fma", "FMA")) if flag in flags]
        simd.append("AVX-512" if "avx512f" in flags else "no AVX-512")
        parts.append(", ".join(simd))
    except OSError:
        pass
    return "; ".join(parts)


def blas_lines():
    """One line per BLAS (and OpenMP) library threadpoolctl sees: internal_api, version, architecture, threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl is not installed: BLAS kernel unknown"]
    lines = []
    for i in threadpool_info():
        lines.append(f"{i.get('user_api')}: {i.get('internal_api')} {i.get('version')}, architecture "
                     f"{i.get('architecture', '—')}, {i.get('num_threads')} threads "
                     f"({os.path.basename(i['filepath'])})")
    return lines


def environment(peers, load_before, left_out=()):
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MLPEXT_NUM_THREADS",
                                      "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return {"machine": f"{cpu_model()}; {cpu_details()}", "versions": versions(peers, left_out), "blas": blas_lines(),
            "env": env, "load": load_before, "unset": UNSET or [], "isa": isa_report(peers)}


def isa_report(peers):
    """What each library says it runs with: mlpext's kernels, OpenBLAS's kernel, NumPy's AVX-512 dispatch targets
    still on, PyTorch's CPU capability, Numba's target CPU (--isa's caps are checked against these)."""
    out = []
    try:
        from mlpext import _core
        out.append(f"mlpext {_core.build_info()['simd']} kernels")
    except (ImportError, KeyError):
        pass
    try:
        from threadpoolctl import threadpool_info
        kernels = sorted({str(i.get("architecture")) for i in threadpool_info() if i.get("internal_api") == "openblas"})
        if kernels:
            out.append(f"OpenBLAS {'/'.join(kernels)} kernels")
    except ImportError:
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        except ImportError:
            __cpu_dispatch__ = None
    if __cpu_dispatch__ is not None:
        on = [t for t in __cpu_dispatch__ if __cpu_features__.get(t) and ("512" in t or t == "X86_V4")]
        out.append("NumPy AVX-512 targets " + (", ".join(on) if on else "off"))
    if peers.get("torch") is not None:
        out.append(f"PyTorch CPU capability {peers['torch'].backends.cpu.get_cpu_capability()}")
    if peers.get("numba") is not None:
        out.append(f"Numba target CPU {peers['numba'].config.CPU_NAME or 'host'}")
    return out


def git_commit():
    try:
        done = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout.strip() or None


def markdown_section(results, memory, cg, env, repeats, quick, load_after, isa="native"):
    commit = git_commit()
    unset = ", ".join(name for name, _ in env["unset"]) or "none was set"
    begin, end, heading = MARKERS[isa]
    capped = []
    if isa != "native":
        capped = [
            "",
            f"Every implementation held to the instruction sets of an {isa.upper()}-only CPU on this machine, "
            "through the variables each library reads as it loads: "
            + ", ".join(f"`{k}={v}`" for k, v in sorted(ISA_CAPS[isa].items())) + ". Left out: "
            + ", ".join(ISA_LEFT_OUT[isa]) + " (no such cap for its CPU matrix products). What the libraries "
            "reported: " + "; ".join(env["isa"]) + ".",
        ]
    lines = [
        begin,
        heading,
        "",
        f"Every workload, every implementation timed in the same run: best of {repeats} runs, time per epoch (an "
        "epoch of a sigmoid network is one full-batch step), garbage collector off, implementations taking turns "
        "after a warm-up run" + (" (`--quick`: fewer epochs)" if quick else "") + ". \"Best peer ÷\" is the "
        "fastest implementation that is not mlpext over this one: on mlpext's rows, its speed-up over the best "
        "peer. The peak memory is that of one training run, each in a process of its own; the weights gap is "
        "how far the implementation's weights end from mlpext's after the same epochs from the same weights "
        "(largest |w − w_mlpext| / largest |w_mlpext| of any array). The floors are the project's targets, "
        "reported and never asserted; a verdict compares the best runs, then gives the same ratio's lowest and "
        "highest round by round (\"rounds\"), each implementation's run against the peers' runs of the same "
        "round: where those straddle the floor, the machine's noise decides the verdict. `python "
        "benchmarks/run.py --help` describes each workload, implementation and measurement. "
        + ("This section and [speedup.png](speedup.png) are rewritten by each run without `--no-write`."
           if isa == "native" else f"This section is rewritten by each `--isa {isa}` run without `--no-write`."),
        *capped,
        "",
        f"- Machine: {env['machine']}",
        "- Versions: " + "; ".join(f"{k} {v}" for k, v in env["versions"].items()),
        "- BLAS (threadpoolctl): " + "; ".join(env["blas"]),
        f"- Environment: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset by the run: {unset}"
        + ("; " + ", ".join(f"{k}={v}" for k, v in env["env"].items()) if env["env"] else ""),
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
        + (f", commit `{commit}`" if commit else ""),
        f"- Load average (1, 5, 15 min) before / after the run: {format_load(env['load'])} / "
        f"{format_load(load_after)} (the run itself adds 1 to 2).",
        "",
        "| workload | implementation | time per epoch | best peer ÷ this | vs NumPy | peak memory | weights gap "
        "| floor | |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for w, result in results:
        title = f"{w.title} ({result['epochs']} epochs)"
        for row in rows(w, result, memory.get(w.name)):
            if not row["installed"]:
                lines.append(f"| {title} | {row['label']} | not installed | | | | | | |")
            else:
                lines.append(f"| {title} | {row['label']} | {row['time']} | {row['vs_peer']} | {row['vs_numpy']} "
                             f"| {row['memory']} | {row['weights']} | {row['floor'] or '—'} | {row['verdict']} |")
            title = ""
    tolerances = ", ".join(f"{w.name} {w.tolerance():g}" for w, _ in results)
    shares = [(w, r["subnormal"]) for w, r in results if r.get("subnormal") is not None]
    notes = [note for note in (subnormal_note(w, r) for w, r in results) if note]
    lines += [
        "",
        *([" ".join(["Subnormal deltas after the epochs, at mlpext's weights:",
                     ", ".join(f"{w.name} {share:.2%}" for w, share in shares) + "."] + notes), ""] if shares else []),
        f"Weights tolerances: {tolerances}. The digits' weights are compared after {DIGITS_CHECK_EPOCHS} epochs "
        f"without shuffling and with Adam's eps at {CHECK_EPS:g}: scikit-learn adds eps to √v, torch.optim.Adam "
        "and mlpext to √v / √(1 − β2^t), which with eps = 1e-8 alone moves the weights by about 1 %. Peak "
        "memory: the growth of the resident set (VmHWM after the run minus VmRSS before it) of a child process "
        "that imported the modules, built the data and made one warm-up run, freed: the memory the training "
        "brought in beyond what the process held (a small run can reuse memory the warm-up freed, hence some 0 "
        "KiB); \"—\" where it was not measured.",
        "",
        f"Regression guard (machine-noise free): {callgrind_text(cg)}",
        *(["", "![Time per epoch against network size, and over mlpext's](speedup.png)"] if isa == "native" else []),
        end,
    ]
    return "\n".join(wrap(line) for line in lines) + "\n"


def wrap(line, width=115):
    """A prose line of the section wrapped as the docs are (tables, headings and forced breaks left alone)."""
    if line.startswith(("|", "#", "!", "<")) or line.endswith("  ") or len(line) <= width:
        return line
    indent = "  " if line.startswith("- ") else ""
    return textwrap.fill(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def write_doc(section, isa="native"):
    begin, end, _ = MARKERS[isa]
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    pattern = re.compile(re.escape(begin.split(" (")[0]) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(text)


FAMILIES = {"mlpext": "mlpext (train; MLP.fit for 3 layers)", "numpy": "NumPy", "numba": "Numba (@njit, whole loop)",
            "jax": "JAX (jit, fori_loop)", "torch": "PyTorch"}


def plot(results, path, machine):
    """The sigmoid networks: each implementation family's time per epoch against the network's size, and its time
    over mlpext's (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {}
    for w, result in results:
        if w.kind != "sigmoid":
            continue
        main_key = "train" if len(w.sizes) == 3 else "fit"
        if main_key not in result["per_epoch"]:
            continue
        for impl in result["impls"]:
            whole = impl.key == main_key or not (impl.mlpext_side or " " in impl.key)  # whole loops, not steps
            if impl.key in result["per_epoch"] and whole:
                series.setdefault(impl.family, []).append(
                    (w.multiply_adds(), result["per_epoch"][impl.key], result["per_epoch"][main_key], w.name))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 8), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    markers = dict(zip(FAMILIES, "osv^D"))
    for family, points in series.items():
        points.sort()
        xs, ys, mine, _ = zip(*points)
        style = dict(marker=markers.get(family, "x"), label=FAMILIES.get(family, family),
                     linewidth=2.5 if family == "mlpext" else 1.2)
        top.plot(xs, ys, **style)
        bottom.plot(xs, [y / m for y, m in zip(ys, mine)], **style)
    for x, y, _, name in series.get("mlpext", []):
        top.annotate(name, (x, y), textcoords="offset points", xytext=(5, -14), fontsize=8, color="0.3")
    for ax in (top, bottom):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    bottom.axhline(1.0, color="0.4", linestyle="--", linewidth=1)
    top.set_ylabel("time per epoch (s), lower is better")
    bottom.set_ylabel("time ÷ mlpext's time\n(above 1: mlpext is faster)")
    bottom.set_xlabel("network size: multiply-adds per epoch (one full-batch step)")
    top.set_title("Sigmoid networks (XOR to 1024-1024-1024-1024), the lecture's update, one suite run (best of its "
                  "repeats)\n"
                  + textwrap.fill(machine, 110), fontsize=9)
    top.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_parser():
    names = [w.name for w in WORKLOADS]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer epochs and 2 repeats: a sanity run")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per implementation (default 5; 2 "
                        "with --quick)")
    parser.add_argument("--only", action="append", choices=names, metavar="NAME",
                        help=f"run only this workload (repeatable): {', '.join(names)}")
    parser.add_argument("--no-write", action="store_true", help="print only: leave docs/ untouched")
    parser.add_argument("--no-callgrind", action="store_true", help="skip the callgrind instruction count")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs (child processes)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="PyTorch's thread count (default: NumPy's BLAS thread count)")
    parser.add_argument("--tiny", action="store_true", help="tiny networks: a smoke test of the machinery")
    parser.add_argument("--isa", choices=["native", *ISA_CAPS], default="native",
                        help="avx2: hold every implementation to AVX2 and FMA (as on an AVX2-only CPU; JAX left "
                        "out) and write a section of its own; only when run as a script")
    parser.add_argument("--memory-child", nargs=3, metavar=("WORKLOAD", "IMPL", "EPOCHS"), help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.isa != "native" and not CAPPED:
        parser.error("--isa sets the environment before NumPy loads: run benchmarks/run.py as a script")
    if args.memory_child:
        name, key, epochs = args.memory_child
        print(json.dumps(memory_child(name, key, int(epochs), args.tiny, args.torch_threads)))
        return 0
    repeats = args.repeats if args.repeats is not None else (2 if args.quick or args.tiny else 5)
    if repeats < 1:
        parser.error("--repeats must be at least 1")

    load = load_average()
    peers = import_peers(tuple(p for p in PEERS if p not in ISA_LEFT_OUT.get(args.isa, ())), args.torch_threads)
    env = environment(peers, load, ISA_LEFT_OUT.get(args.isa, ()))
    if env["unset"]:
        print("unset for this run (before NumPy was imported): "
              + ", ".join(f"{name} (was {value!r})" for name, value in env["unset"]))
    else:
        print("OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE: not set" + (" (--isa sets one: below)" if CAPPED else ""))
    print(f"machine: {env['machine']}")
    print("versions: " + "; ".join(f"{k} {v}" for k, v in env["versions"].items()))
    for line in env["blas"]:
        print(f"BLAS (threadpoolctl): {line}")
    if CAPPED:
        print(f"held to {args.isa}: " + ", ".join(f"{k}={v}" for k, v in CAPPED) + "; left out: "
              + ", ".join(ISA_LEFT_OUT[args.isa]))
        print("the libraries report: " + "; ".join(env["isa"]))
    print(f"load average before: {format_load(load)}")
    for name, module in peers.items():
        if module is None and name not in ISA_LEFT_OUT.get(args.isa, ()):
            print(f"{name}: not installed (its rows are skipped; pip install \".[bench]\")")

    results, memory = [], {}
    for w in WORKLOADS:
        if args.only and w.name not in args.only:
            continue
        w = w.shrink() if args.tiny else w
        epochs = w.quick_epochs if args.quick else w.epochs
        started = time.perf_counter()
        result = measure(w, peers, epochs, repeats, ISA_LEFT_OUT.get(args.isa, ()))
        if result is None:
            print(f"{w.name}: skipped (needs scikit-learn: pip install scikit-learn)")
            continue
        results.append((w, result))
        if not args.no_memory:
            memory[w.name] = peak_memory(w, result["impls"], epochs, args.tiny, args.torch_threads, args.isa)
        print(f"  measured {w.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    load_after = load_average()
    print(f"\nbest of {repeats} runs; time per epoch; \"best peer ÷\": the fastest non-mlpext implementation's time "
          "over this one's; a verdict's \"rounds\": its ratio round by round, lowest to highest; floors are reported, "
          "never asserted\n")
    print_table(results, memory)
    print(f"\nload average after: {format_load(load_after)}")

    if args.no_callgrind or (args.only and "xor" not in args.only):
        cg = {"skipped": "--no-callgrind" if args.no_callgrind else "xor not selected"}
    else:
        cg = callgrind()
    print("\n" + callgrind_text(cg))

    if not args.no_write and results:
        write_doc(markdown_section(results, memory, cg, env, repeats, args.quick, load_after, args.isa), args.isa)
        print(f"\nwrote the suite's {'' if args.isa == 'native' else args.isa + ' '}section of {os.path.relpath(DOC)}")
        if args.isa != "native":
            return 0
        try:
            plot(results, PLOT, env["machine"])
            print(f"wrote {os.path.relpath(PLOT)}")
        except ImportError:
            print("matplotlib is not installed: docs/speedup.png not redrawn")
    return 0


if __name__ == "__main__":
    tolerant_stdout()
    sys.exit(main())
