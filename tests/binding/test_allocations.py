"""Steady-state training allocates nothing: memory that does not grow with the number of epochs or iterations.

Measured with tracemalloc, which sees:
  - Python's allocators (PyMem_*, PyObject_*, PyMem_Raw*): the binding's scratch block (csrc/module.c: a stack
    buffer of 4 KiB for small calls, else a PyMem_Malloc block, which the module keeps for the next call if it
    is at most 128 MiB: the warm-up runs below leave it kept, so the measured runs reuse it; the last tests
    check the keeping itself), a network call's bookkeeping and net_fit's index workspace (PyMem_Malloc);
  - NumPy's array data (PyDataMem), which NumPy reports to tracemalloc in its own domain
    (np.lib.tracemalloc_domain); get_traced_memory() counts every domain.
Memory kept is read after a full collection (gc.collect()), which also empties the interpreter's free lists:
objects a call freed into them (the argument tuple and list of a call with *args, floats, frames) would otherwise
count as kept, in amounts that depend on the Python version and on the tests that ran before. Peaks are read
before the collection; the runs whose peaks are compared do the same Python work, so that churn cancels out.
It does not see the C library's malloc. test_extension_allocates_through_python_only checks that the extension
calls no such allocator (the kernels allocate nothing; all their memory is the binding's scratch block), so
every byte the C core could allocate is in the figures below.

What each test would catch. Each of these breakages of csrc/module.c was made locally, and failed the tests
named (the suite passes again without it):
  - (a) mlpext.train: the memory it keeps (current) and its peak, with E1 and E2 epochs, differ by exactly the
    returned losses array's 8 bytes per epoch, and what it keeps beyond the losses is at most an ndarray's
    overhead. Caught: 64 bytes leaked per chunk of epochs (train comes back to the GIL every ~10 ms of work);
    a buffer of 8 bytes per epoch allocated and freed in the call (the peak grows); the heap scratch block
    never freed (the absolute bound).
  - (b) a loop of forward(out=) / backward(out=) / update / train_step / predict(out=): after a warm-up, neither
    the memory kept nor the peak move (beyond 64 bytes) between a run of 200 iterations and one of 5000. Caught:
    the heap scratch block never freed; a leak of even 8 bytes per iteration would be 38 KB here.
  - (c) mlpext.MLP.fit returns only the per-epoch losses (float64, 8 bytes per epoch) and keeps no per-epoch
    data in the network: E=2 and E=50 differ by exactly 48 losses in kept memory and in peak. Caught: net_fit's
    index workspace sized with the epoch count (peak), or leaked (the absolute bound); the scratch block leaked.
  - test_extension_allocates_through_python_only caught a malloc/free pair added to the binding.
What these tests cannot see: a block of constant size allocated and freed again within each epoch or call
(neither the peak nor the kept memory grows). Inside the kernels, which run without the GIL, that would take
malloc (rejected by the symbol check) or PyMem_RawMalloc (traced, but such a pair is invisible to these
figures). The extension's PyMem_Raw* blocks are its thread team (once per module) and the packing blocks of
products of at least 2^25 multiply-adds (one per product, freed with it: csrc/dense_impl.h, dense_product).

No timing is asserted.
"""
import gc
import itertools
import shutil
import subprocess
import tracemalloc

import numpy as np
import pytest

import mlpext
from mlpext import _core

# What the returned losses array costs beyond its data: the ndarray object and its shape and strides.
ARRAY_OVERHEAD = 512
# Slack for the flat-loop tests: one-off allocations of the interpreter or NumPy that do not grow with the
# iterations (caches filled on first use). A leak of 8 bytes per iteration over the long run's 4800 extra
# iterations is 38 KB.
FLAT_SLACK = 1024


def traced(fn):
    """Runs fn() once untraced (warm-up) then under tracemalloc; returns (result, bytes kept while the result is
    alive, peak bytes above the start). Kept bytes are counted after a full collection (free lists emptied)."""
    fn()
    gc.collect()
    tracemalloc.start()
    try:
        fn()  # second warm-up, traced: lazy one-off allocations (interpreter frames, NumPy's caches)
        gc.collect()
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
        gc.collect()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, current - start, peak - start


def lecture_arrays():
    rng = np.random.RandomState(0)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])  # ints: converted by the binding into its scratch block
    y = np.array([[0], [1], [1], [0]])
    return X, y, [rng.randn(2, 3), rng.randn(3), rng.randn(3, 1), rng.randn(1)]


def larger_arrays(dtype):
    """64 rows, 16-48-4: the scratch block (converted inputs and workspace) is on the heap, the GIL released."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 4, (64, 16))  # ints again: converted into the scratch block
    y = (rng.uniform(size=(64, 4)) > 0.5).astype(dtype)
    params = [(0.3 * rng.standard_normal(s)).astype(dtype) for s in ((16, 48), (48,), (48, 4), (4,))]
    return X, y, params


CASES = {
    "lecture f64 (stack scratch)": (lecture_arrays, 0.5, (10, 120_000)),
    "64x16-48-4 f64 (heap scratch)": (lambda: larger_arrays(np.float64), 0.01, (10, 3_000)),
    "64x16-48-4 f32 (heap scratch)": (lambda: larger_arrays(np.float32), 0.01, (10, 3_000)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_train_allocates_only_the_losses(case):
    """(a) mlpext.train with E1 and E2 epochs: kept memory and peak differ by the losses array, 8 bytes per
    epoch; E2 runs several of train's chunks (it comes back to Python between them)."""
    make, lr, (e1, e2) = CASES[case]
    X, y, params = make()

    def run(epochs):
        return lambda: mlpext.train(X, y, *params, lr, epochs)

    losses1, kept1, peak1 = traced(run(e1))
    losses2, kept2, peak2 = traced(run(e2))
    assert losses1.nbytes == 8 * e1 and losses2.nbytes == 8 * e2
    assert kept2 - kept1 == 8 * (e2 - e1), (kept1, kept2)
    assert peak2 - peak1 == 8 * (e2 - e1), (peak1, peak2)
    for losses, kept in ((losses1, kept1), (losses2, kept2)):
        assert 0 <= kept - losses.nbytes <= ARRAY_OVERHEAD, (kept, losses.nbytes)


def flat_loop(make, lr):
    """A training loop with preallocated outputs: mlpext.forward/backward with out=, update, train_step."""
    X, y, params = make()
    W1, b1, W2, b2 = params
    n, hidden, outputs = X.shape[0], W1.shape[1], W2.shape[1]
    A1, A2 = np.empty((n, hidden), W1.dtype), np.empty((n, outputs), W1.dtype)
    D2, D1 = np.empty((n, outputs), W1.dtype), np.empty((n, hidden), W1.dtype)

    def loop(iterations):
        for _ in itertools.repeat(None, iterations):  # no int objects per iteration
            mlpext.forward(X, W1, b1, W2, b2, out=(A1, A2))
            mlpext.backward(y, A1, A2, W2, out=(D2, D1))
            mlpext.update(X, A1, D2, D1, W1, b1, W2, b2, lr)
            mlpext.train_step(X, y, W1, b1, W2, b2, lr)
            mlpext.predict(X, W1, b1, W2, b2, out=A2)
    return loop


def kept_and_peak(loop, iterations):
    """(bytes kept, peak bytes) of loop(iterations), each above the traced memory just before it; kept bytes
    counted after a full collection (free lists emptied)."""
    gc.collect()
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    loop(iterations)
    _, peak = tracemalloc.get_traced_memory()
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    return current - start, peak - start


@pytest.mark.parametrize("case", list(CASES))
def test_step_loop_with_out_arrays_is_flat(case):
    """(b) after a warm-up, 200 and 5000 iterations keep the same memory and reach the same peak."""
    make, lr, _ = CASES[case]
    loop = flat_loop(make, lr)
    loop(50)
    gc.collect()
    tracemalloc.start()
    try:
        loop(500)  # traced warm-up
        kept_short, peak_short = kept_and_peak(loop, 200)
        kept_long, peak_long = kept_and_peak(loop, 5000)
    finally:
        tracemalloc.stop()
    figures = dict(kept_short=kept_short, kept_long=kept_long, peak_short=peak_short, peak_long=peak_long)
    assert kept_short <= FLAT_SLACK and kept_long <= FLAT_SLACK, figures
    assert kept_long - kept_short <= 64, figures
    assert peak_long - peak_short <= 64, figures


NET_CASES = {
    "adam, mini-batches": dict(optimizer="adam", learning_rate=1e-3, batch_size=16),
    "sgd nesterov, mini-batches": dict(optimizer="sgd", learning_rate=1e-2, momentum=0.9, nesterov=True,
                                       batch_size=16),
    "sgd, whole batch": dict(optimizer="sgd", learning_rate=1e-2, batch_size=None),
}


@pytest.mark.parametrize("case", list(NET_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_fit_allocations_do_not_grow_with_epochs(case, dtype):
    """(c) MLP.fit with 2 and 50 epochs: only the returned history (8 bytes per epoch) differs."""
    kwargs = dict(NET_CASES[case])
    batch_size = kwargs.pop("batch_size")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 12))
    y = rng.integers(0, 5, 200)
    net = mlpext.MLP([12, 40, 24, 5], activation="relu", loss="cross_entropy", dtype=dtype, seed=0, **kwargs)
    net.fit(X, y, 1, batch_size=batch_size)  # creates the optimizer's state, kept by the network

    def run(epochs):
        return lambda: net.fit(X, y, epochs, batch_size=batch_size)

    hist2, kept2, peak2 = traced(run(2))
    hist50, kept50, peak50 = traced(run(50))
    assert hist2.nbytes == 16 and hist50.nbytes == 400
    assert kept50 - kept2 == 8 * 48, (kept2, kept50)
    assert peak50 - peak2 == 8 * 48, (peak2, peak50)
    for hist, kept in ((hist2, kept2), (hist50, kept50)):
        assert 0 <= kept - hist.nbytes <= ARRAY_OVERHEAD, (kept, hist.nbytes)


# The C library's allocators: memory that tracemalloc would not see.
LIBC_ALLOCATORS = {"malloc", "calloc", "realloc", "reallocarray", "free", "aligned_alloc", "posix_memalign",
                   "memalign", "valloc", "pvalloc", "mmap", "mmap64", "brk", "sbrk", "strdup", "strndup"}


def test_extension_allocates_through_python_only():
    """The extension's undefined dynamic symbols include no C-library allocator, so every allocation it makes
    goes through Python's allocators or NumPy's, both traced by tracemalloc (what the tests above rely on)."""
    nm = shutil.which("nm")
    path = _core.__file__
    if nm is None or not path.endswith(".so"):
        pytest.skip("needs binutils' nm and an ELF extension module")
    done = subprocess.run([nm, "-D", "--undefined-only", path], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"nm failed: {done.stderr.strip()}")
    symbols = {line.split()[-1].split("@")[0] for line in done.stdout.splitlines() if line.strip()}
    if any(s.startswith("__asan") or s.startswith("__ubsan") for s in symbols):
        pytest.skip("sanitizer build: the sanitizers' runtime brings its own symbols")
    assert "PyMem_Malloc" in symbols  # the scratch blocks: the check reads the right symbol table
    assert not symbols & LIBC_ALLOCATORS, sorted(symbols & LIBC_ALLOCATORS)


def test_tracemalloc_sees_numpy_data():
    """The premise: NumPy reports its array data to tracemalloc (in np.lib.tracemalloc_domain)."""
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        a = np.empty(100_000)
        grown = tracemalloc.get_traced_memory()[0] - start
        domains = {t.domain for t in tracemalloc.take_snapshot().traces}
    finally:
        tracemalloc.stop()
    assert a.nbytes <= grown <= a.nbytes + ARRAY_OVERHEAD
    assert np.lib.tracemalloc_domain in domains


# --- the scratch block kept between calls (csrc/module.c, scratch_get / scratch_free) ---------------------------

def traced_peak(fn):
    """Peak traced bytes above the start while fn() runs."""
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


def kept_block():
    return _core.build_info()["kept_block_bytes"]


def test_a_call_keeps_its_scratch_block_for_the_next():
    """A call whose scratch block is on the heap leaves it kept for the next call, which then allocates none;
    release_memory() frees it and returns its size. Without a kept block, the same call allocates it again."""
    X, y, params = larger_arrays(np.float64)
    step = lambda: mlpext.train_step(X, y, *params, 0.01)  # noqa: E731
    mlpext.release_memory()
    assert kept_block() == 0
    step()
    kept = kept_block()
    assert kept >= 8 * X.size  # X converted to float64 is in it, besides the workspace
    assert traced_peak(step) < kept // 2  # took the kept block
    assert kept_block() == kept
    assert mlpext.release_memory() == kept
    assert kept_block() == 0 and mlpext.release_memory() == 0
    assert traced_peak(step) >= kept  # none kept: allocated again (and kept again)
    assert kept_block() == kept
    mlpext.release_memory()


def test_a_larger_call_replaces_the_kept_block():
    """A call that needs more than the kept block frees it and keeps its own, larger one."""
    small, large = larger_arrays(np.float64), larger_arrays(np.float64)
    X, y, params = large
    X, y = np.tile(X, (8, 1)), np.tile(y, (8, 1))
    mlpext.release_memory()
    mlpext.train_step(*small[:2], *small[2], 0.01)
    before = kept_block()
    mlpext.train_step(X, y, *params, 0.01)
    assert kept_block() > before
    mlpext.release_memory()


def test_a_block_above_the_limit_is_not_kept():
    """A workspace larger than kept_block_max is freed when its call ends, not kept; one just below is kept."""
    limit = _core.build_info()["kept_block_max"]
    n = 4096

    def predict(hidden):  # predict's workspace is its hidden activation: n × hidden float64
        X = np.ones((n, 1))
        mlpext.predict(X, np.zeros((1, hidden)), np.zeros(hidden), np.zeros((hidden, 1)), np.zeros(1))

    mlpext.release_memory()
    predict(limit // (8 * n) + 64)
    assert kept_block() == 0
    predict(limit // (8 * n) - 64)
    assert 0 < kept_block() <= limit
    mlpext.release_memory()
