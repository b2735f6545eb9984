"""Threads inside one call: matrix products of at least MLP_PARALLEL_MIN_OPS (2**19) multiply-adds are split among up
to MLPEXT_NUM_THREADS threads (default: the CPUs the process may use), by ranges of output rows of at least
MLP_PARALLEL_MIN_ROWS (48) rows each — or, for X·W + b and D·Wᵀ below the packed size (2**25) with an element-wise
epilogue on rows too few for a second such part per thread, by ranges of output columns, multiples of MLP_COLS_ALIGN
(32), where those make as many parts. The parts run on the module's team of helper threads, kept between products
(csrc/parallel.c); when the team is busy with another call's product, on the calling thread (or, from 2**25
multiply-adds, on threads started for the product). Every output value is the same chain of operations wherever the
ranges are cut and whichever thread computes them, so the results are bit-identical whatever the thread count —
which is what these tests check, on the lecture API and on mlpext.MLP, with calls from several Python threads at
once, after the team has gone to sleep, in a child process after fork(), and held to AVX2, whose parts pack a large
product's B once between them; together with the environment variable's validation. (No timing is asserted:
docs/benchmarks.md has the speed.)
"""
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import mlpext
from mlp_helpers import assert_same_training, copies, subprocess_env, train_each

# What the fork scripts put on sys.path: this file's directory (test_parallel) and tests/ (mlp_helpers).
HERE = os.path.dirname(os.path.abspath(__file__))
HERE_AND_TESTS = [HERE, os.path.dirname(HERE)]

# Big enough that the first layer's products (n·in·hidden = 37.7 M multiply-adds) are split, and packed.
N, IN, HIDDEN, OUT = 256, 384, 384, 12
# The MNIST-sized lecture network: 12.8 M, unpacked; 128 rows give at most 2 parts of 48, one per thread or fewer, so
# X·W1 + b1 is cut by columns (4 blocks of 32) on 2, 3 and 5 threads; Xᵀ·D by rows.
MNIST = (128, 784, 128, 10)
THREAD_COUNTS = ["1", "2", "3", "5"]
# Packed products (at least 2**25 multiply-adds) whose cut dimension has fewer than 48 rows (parallel_min_rows), so
# one part: X·W1 on 40 rows; Xᵀ·D, cut along X's 16 columns. (Before, they were cut into 0 parts on 2 or more
# threads and packed into an empty buffer: a heap overflow.)
FEW_ROWS = (40, 1024, 1025, 1)
FEW_INPUTS = (2100, 16, 1000, 1)
# Between 2**19 and 2**20 multiply-adds, split since the threshold is 2**19: 200-100 on 32 rows (0.64 M; X·W1 + b1
# cut by columns, Xᵀ·D by rows of G) and 96-96 on 96 rows (0.88 M; cut by rows).
MIDSIZE_COLUMNS = (32, 200, 100, 10)
MIDSIZE_ROWS = (96, 96, 96, 96)


def lecture_problem(dtype, sizes=(N, IN, HIDDEN, OUT)):
    n, n_in, hidden, out = sizes
    rng = np.random.default_rng(7)
    X = rng.uniform(-1, 1, (n, n_in)).astype(dtype)
    y = (rng.uniform(size=(n, out)) > 0.5).astype(dtype)
    shapes = ((n_in, hidden), (hidden,), (hidden, out), (out,))
    params = [(0.05 * rng.standard_normal(shape)).astype(dtype) for shape in shapes]
    return X, y, params


@pytest.mark.parametrize("sizes", [(N, IN, HIDDEN, OUT), MNIST, FEW_ROWS, FEW_INPUTS, MIDSIZE_COLUMNS, MIDSIZE_ROWS],
                         ids=["packed", "by-columns", "packed-few-rows", "packed-few-inputs", "midsize-by-columns",
                              "midsize-by-rows"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lecture_api_same_bits_for_any_thread_count(monkeypatch, dtype, sizes):
    X, y, params = lecture_problem(dtype, sizes)
    results = {}
    for threads in THREAD_COUNTS:
        monkeypatch.setenv("MLPEXT_NUM_THREADS", threads)
        p = copies(params)
        losses = mlpext.train(X, y, *p, 0.01, 2)
        A1, P = mlpext.forward(X, *p)
        D2, D1 = mlpext.backward(y, A1, P, p[2])
        mlpext.update(X, A1, D2, D1, *p, 0.01)
        results[threads] = [losses, A1, P, D1, *p]
    for threads in THREAD_COUNTS[1:]:
        for got, want in zip(results[threads], results["1"]):
            np.testing.assert_array_equal(got, want, err_msg=f"MLPEXT_NUM_THREADS={threads}")


@pytest.mark.parametrize("optimizer, options", [
    ("sgd", {}), ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}), ("adam", {}),
    ("adam", {"dtype": np.float64, "weight_decay": 1e-2}), ("adamw", {}), ("rmsprop", {}),
    ("sgd", {"dtype": np.float64}), ("sgd", {"dtype": np.float64, "momentum": 0.9, "nesterov": True,
                                             "weight_decay": 1e-2}),
    ("adamw", {"dtype": np.float64}), ("rmsprop", {"dtype": np.float64, "weight_decay": 1e-2})],
    ids=["sgd", "sgd-momentum", "adam", "adam-float64", "adamw", "rmsprop", "sgd-float64", "sgd-momentum-float64",
         "adamw-float64", "rmsprop-float64"])
def test_mlp_fit_same_bits_for_any_thread_count(monkeypatch, optimizer, options):
    """Products split by rows, and the optimizer's step (but plain SGD's, fused with the gradients' products) split
    among the same threads in parts of the values (MLP_OPTIM_SPLIT_MIN, 4096 at least: 2 to 5 parts here), in both
    dtypes; the optimizer's state (momentum buffer, Adam's step count and averages, RMSprop's) and the shuffle
    generator's too, which the next fit continues from."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((300, IN)).astype(np.float32)
    labels = rng.integers(0, 10, 300)
    results = {}
    for threads in THREAD_COUNTS:
        monkeypatch.setenv("MLPEXT_NUM_THREADS", threads)
        net = mlpext.MLP([IN, HIDDEN, HIDDEN, 10], activation="tanh", loss="cross_entropy", optimizer=optimizer,
                         learning_rate=1e-3, seed=3, **options)
        history = net.fit(X, labels, epochs=2, batch_size=256)
        results[threads] = [history, net.forward(X), *(a for pair in net.params for a in pair), *net._state,
                            net._rng]
    for threads in THREAD_COUNTS[1:]:
        for got, want in zip(results[threads], results["1"]):
            np.testing.assert_array_equal(got, want, err_msg=f"MLPEXT_NUM_THREADS={threads}")


@pytest.mark.parametrize("loss, output", [("lecture", "sigmoid"), ("mse", "identity"), ("mse", "softmax"),
                                          ("bce", "sigmoid"), ("mae", "sigmoid")])
def test_wide_output_losses_same_bits_for_any_thread_count(monkeypatch, loss, output):
    """An element-wise loss on a wide output, an autoencoder's (256 rows × 400 outputs: 102,400 terms), split among
    the products' threads (MLP_LOSS_SPLIT_MIN, 8192 terms at least): its pairwise sum by subtrees, the output
    activation (a softmax's rows too) and its backward by rows; and so are the hidden GELU layer's activation and
    gradient, from the z it keeps (256 × 128 values). fit, gradients and loss as on one thread, bit for bit."""
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, (256, 400)).astype(np.float32)
    results = {}
    for threads in THREAD_COUNTS:
        monkeypatch.setenv("MLPEXT_NUM_THREADS", threads)
        net = mlpext.MLP([400, 128, 400], activation="gelu", output_activation=output, loss=loss, optimizer="adam",
                         learning_rate=1e-3, seed=4)
        history = net.fit(X, X, epochs=2, batch_size=256)
        grads = [g for pair in net.gradients(X, X) for g in pair]
        results[threads] = [history, np.float64(net.loss(X, X)), *grads, *(a for pair in net.params for a in pair)]
    for threads in THREAD_COUNTS[1:]:
        for got, want in zip(results[threads], results["1"]):
            np.testing.assert_array_equal(got, want, err_msg=f"MLPEXT_NUM_THREADS={threads}")


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "gelu", "identity"])
def test_columns_cut_same_bits_for_any_thread_count(monkeypatch, activation):
    """90 rows, too few for two parts of 48: unpacked products cut by columns. Layers 300→200 (X·W + b, 5.4 M
    multiply-adds: up to 6 column blocks, the last 8 wide) and 200→120 (X·W + b in up to 3 blocks, the last 24
    wide; D·Wᵀ, 90×200, in up to 6), in float32 and float64, forward and training."""
    rng = np.random.default_rng(9)
    X = rng.standard_normal((90, 300))
    labels = rng.integers(0, 10, 90)
    for dtype in (np.float32, np.float64):
        results = {}
        for threads in THREAD_COUNTS:
            monkeypatch.setenv("MLPEXT_NUM_THREADS", threads)
            net = mlpext.MLP([300, 200, 120, 10], activation=activation, loss="cross_entropy", optimizer="sgd",
                             learning_rate=1e-2, dtype=dtype, seed=4)
            history = net.fit(X.astype(dtype), labels, epochs=3, batch_size=None)
            results[threads] = [history, net.forward(X.astype(dtype)), *(a for pair in net.params for a in pair)]
        for threads in THREAD_COUNTS[1:]:
            for got, want in zip(results[threads], results["1"]):
                np.testing.assert_array_equal(got, want, err_msg=f"{dtype.__name__}, MLPEXT_NUM_THREADS={threads}")


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "3x", " "])
def test_bad_thread_count_is_a_clear_error_and_changes_nothing(monkeypatch, value):
    X, y, params = lecture_problem(np.float64)
    before = copies(params)
    monkeypatch.setenv("MLPEXT_NUM_THREADS", value)
    with pytest.raises(ValueError, match="MLPEXT_NUM_THREADS must be a positive integer"):
        mlpext.train(X, y, *params, 0.01, 1)
    for got, want in zip(params, before):
        np.testing.assert_array_equal(got, want)
    refs = [sys.getrefcount(a) for a in (X, y, *params)]
    for _ in range(50):  # the error path releases what it took
        with pytest.raises(ValueError):
            mlpext.forward(X, *params, out=(np.empty((N, HIDDEN)), np.empty((N, OUT))))
    assert [sys.getrefcount(a) for a in (X, y, *params)] == refs
    net = mlpext.MLP([IN, HIDDEN, 2], seed=0)
    with pytest.raises(ValueError, match="MLPEXT_NUM_THREADS"):
        net.fit(X, y[:, :2], epochs=1)


def test_small_calls_never_read_the_thread_count(monkeypatch):
    """Below the threshold a call runs on the calling thread without looking at MLPEXT_NUM_THREADS (so a bad value
    only matters where threads would be used)."""
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "not a number")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    params = [np.full((2, 3), 0.5), np.zeros(3), np.full((3, 1), 0.5), np.zeros(1)]
    assert mlpext.train(X, y, *params, 0.5, 10).shape == (10,)


def split_problem(seed, dtype=np.float32):
    """A lecture-API problem whose first layer's products are split (192·320·160 = 9.8 M multiply-adds)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (192, 320)).astype(dtype)
    y = (rng.uniform(size=(192, 8)) > 0.5).astype(dtype)
    shapes = ((320, 160), (160,), (160, 8), (8,))
    return X, y, [(0.05 * rng.standard_normal(shape)).astype(dtype) for shape in shapes]


def test_calls_from_several_python_threads_share_the_team(monkeypatch):
    """Four Python threads train at once: at most one product runs on the team at a time, the others on their
    calling threads; every result has the bits of the same training done alone on one thread."""
    problems = [split_problem(seed, dtype) for seed, dtype in ((1, np.float32), (2, np.float64), (3, np.float32),
                                                               (4, np.float64))]
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "1")
    expected = train_each(problems, 0.01, 20)
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "2")
    assert_same_training(train_each(problems, 0.01, 20, at_once=True), expected)


def test_the_team_wakes_up_after_sleeping(monkeypatch):
    """Helpers poll for the next product for about half a millisecond, then sleep: calls spaced further apart
    wake them, with the same results."""
    X, y, params = split_problem(5)
    alone = copies(params)
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "1")
    want = [mlpext.train(X, y, *alone, 0.01, 1) for _ in range(6)]
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "2")
    p = copies(params)
    got = []
    for _ in range(6):
        got.append(mlpext.train(X, y, *p, 0.01, 1))
        time.sleep(0.01)
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(want))
    for a, b in zip(p, alone):
        np.testing.assert_array_equal(a, b)


FORK_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import mlpext
    sys.path[:0] = {paths!r}
    from test_parallel import split_problem
    from mlp_helpers import copies

    X, y, params = split_problem(6)
    parent = copies(params)
    want = mlpext.train(X, y, *parent, 0.01, 3)  # starts the parent's team
    pid = os.fork()
    if pid == 0:  # the child has none of the parent's helper threads: it must start its own, not wait for them
        signal.alarm(60)  # a child that hangs ends (SIGALRM's default action) instead of outliving the test
        child = copies(params)
        got = mlpext.train(X, y, *child, 0.01, 3)
        same = np.array_equal(got, want) and all(np.array_equal(a, b) for a, b in zip(child, parent))
        os._exit(0 if same else 3)
    _, status = os.waitpid(pid, 0)
    again = copies(params)
    print(os.waitstatus_to_exitcode(status), np.array_equal(mlpext.train(X, y, *again, 0.01, 3), want))
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_trains_with_threads_of_its_own(tmp_path):
    """After fork() the child trains with a team of its own (the parent's helpers do not exist there) and gets the
    parent's bits; the parent's team still works; the interpreter exits with a team running. A hang fails: the
    child is killed by an alarm, the parent by the timeout."""
    script = FORK_SCRIPT.format(paths=HERE_AND_TESTS)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=subprocess_env(MLPEXT_NUM_THREADS="2"), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True"], (done.stdout, done.stderr)


AVX2_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    sys.path[:0] = {paths!r}
    try:
        import mlpext
    except ValueError:  # MLPEXT_SIMD=avx2 on a CPU or build without those kernels
        print("no-avx2")
        raise SystemExit(0)
    from test_parallel import lecture_problem
    from mlp_helpers import copies

    X, y, params = lecture_problem(np.float32)
    results = {{}}
    for threads in ("1", "2", "3"):
        os.environ["MLPEXT_NUM_THREADS"] = threads
        p = copies(params)
        losses = mlpext.train(X, y, *p, 0.01, 2)
        A1, P = mlpext.forward(X, *p)
        results[threads] = [losses, A1, P, *p]
    np.savez("avx2.npz", *results["1"])
    print("ran", all(np.array_equal(a, b) for t in ("2", "3") for a, b in zip(results[t], results["1"])))
""")


def test_avx2_kernels_share_packed_b_with_the_bits_of_one_thread(tmp_path, monkeypatch):
    """Held to AVX2 (MLPEXT_SIMD=avx2, read at import: a subprocess), the threads of a packed product pack its B once
    between them (csrc/dense_impl.h, product_pack_memory): 2 and 3 threads give the bits of one, which are also
    this process's (its widest kernels, one thread) unless this process is held to the portable kernels, whose
    products round apart from the fused ones (MLPEXT_SIMD=generic in the environment)."""
    script = AVX2_SCRIPT.format(paths=HERE_AND_TESTS)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=subprocess_env(MLPEXT_SIMD="avx2"), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    if done.stdout.split() == ["no-avx2"]:
        pytest.skip("no AVX2 kernels on this CPU or in this build")
    assert done.stdout.split() == ["ran", "True"], (done.stdout, done.stderr)
    if mlpext._core.build_info()["simd_forced"] == "generic":
        return
    X, y, params = lecture_problem(np.float32)
    monkeypatch.setenv("MLPEXT_NUM_THREADS", "1")
    p = copies(params)
    losses = mlpext.train(X, y, *p, 0.01, 2)
    A1, P = mlpext.forward(X, *p)
    with np.load(tmp_path / "avx2.npz") as child:
        for k, want in enumerate([losses, A1, P, *p]):
            np.testing.assert_array_equal(child[f"arr_{k}"], want, err_msg=f"result {k}")


FORK_IN_CALL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import mlpext
    sys.path[:0] = {paths!r}
    from test_parallel import split_problem
    from mlp_helpers import copies

    X, y, params = split_problem(7)
    os.environ["MLPEXT_NUM_THREADS"] = "1"
    alone = copies(params)
    want = mlpext.train(X, y, *alone, 0.01, 4)
    os.environ["MLPEXT_NUM_THREADS"] = "2"
    mlpext.train(X, y, *copies(params), 0.01, 1)  # starts the team

    class ForkingOut:
        \"\"\"A stdout that forks on its first write: Python code run inside train's loop (its log lines; a signal
        handler would do the same), after which the child goes on with the rest of the call.\"\"\"
        def __init__(self, real):
            self.real, self.pid = real, None
        def write(self, text):
            if self.pid is None:
                self.pid = os.fork()
                if self.pid == 0:
                    signal.alarm(60)  # a child that hangs ends instead of outliving the test
            return len(text)
        def flush(self):
            pass

    out = ForkingOut(sys.stdout)
    sys.stdout = out
    p = copies(params)
    got = mlpext.train(X, y, *p, 0.01, 4, log_every=1)
    sys.stdout = out.real
    same = np.array_equal(got, want) and all(np.array_equal(a, b) for a, b in zip(p, alone))
    if out.pid == 0:
        os._exit(0 if same else 3)
    _, status = os.waitpid(out.pid, 0)
    print(os.waitstatus_to_exitcode(status), same)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_inside_a_call_finishes_it(tmp_path):
    """A fork() from Python code that runs inside a call (train's log lines here): the child goes on with the call,
    whose products cannot use the parent's helpers (they do not exist there); it finishes, with the bits of one
    thread, as does the parent."""
    script = FORK_IN_CALL_SCRIPT.format(paths=HERE_AND_TESTS)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=subprocess_env(),
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True"], (done.stdout, done.stderr)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_the_fork_hook_forgets_the_team_in_the_child(tmp_path):
    """os.fork()'s hook: in the child, the parent's team is forgotten at once (build_info reports 0 helpers, not
    the -1 of a team left by a fork() the hook did not see, which a process id check would catch) until a call
    starts a team of its own."""
    script = textwrap.dedent("""
        import os, signal
        import numpy as np
        import mlpext
        from mlpext import _core
        rng = np.random.default_rng(0)
        X = rng.random((128, 256)); y = rng.random((128, 4))
        params = [0.1 * rng.standard_normal(s) for s in ((256, 64), (64,), (64, 4), (4,))]
        mlpext.train(X, y, *params, 0.01, 1)
        before = _core.build_info()["team_helpers"]
        pid = os.fork()
        if pid == 0:
            signal.alarm(60)
            forgotten = _core.build_info()["team_helpers"] == 0
            mlpext.train(X, y, *params, 0.01, 1)
            os._exit(0 if forgotten and _core.build_info()["team_helpers"] == before else 3)
        _, status = os.waitpid(pid, 0)
        print(before, os.waitstatus_to_exitcode(status))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=subprocess_env(MLPEXT_NUM_THREADS="2"), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0"], (done.stdout, done.stderr)
