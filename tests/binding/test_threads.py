"""Threads: several networks trained at once from several Python threads give bit-identical results to the same
work done serially, and the GIL is really released during long calls.

The rules (docs/reliability.md): the extension keeps no global state, so calls on *different* arrays may run in
any number of threads at once; arrays that are only read (X, y, parameters given to forward/predict) may be
shared between threads; an array written by one call (parameters being trained, out= arrays) must not be used
by another thread during that call — as with NumPy, that is the caller's to synchronize.
"""
import threading
import time

import numpy as np
import pytest

import mlpext

# (n, in, hidden, out, dtype): small ones run with the GIL held (below the release threshold), large ones
# release it (work above ~4096 operations).
NETS = [
    (4, 2, 3, 1, np.float64),       # the lecture's XOR size
    (4, 2, 3, 1, np.float32),
    (64, 16, 32, 4, np.float64),
    (64, 16, 32, 4, np.float32),
    (128, 8, 64, 3, np.float64),
    (32, 24, 16, 10, np.float32),
]
EPOCHS = 300
ROUNDS = 3


def make(seed, n, n_in, hidden, n_out, dtype):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    y = (rng.uniform(0, 1, (n, n_out)) > 0.5).astype(dtype)
    params = [rng.standard_normal(s).astype(dtype) for s in ((n_in, hidden), (hidden,), (hidden, n_out), (n_out,))]
    return X, y, params


def workload(X, y, params, lr=0.5):
    """Everything one thread does to its own network, in place on params; returns every result as bytes."""
    out = []
    losses = mlpext.train(X, y, *params, lr, EPOCHS)
    out.append(losses.tobytes())
    for _ in range(20):
        out.append(np.float64(mlpext.train_step(X, y, *params, lr)).tobytes())
    for _ in range(20):
        A1, P = mlpext.forward(X, *params)
        D2, D1 = mlpext.backward(y, A1, P, params[2])
        mlpext.update(X, A1, D2, D1, *params, lr)
        out += [A1.tobytes(), P.tobytes(), D2.tobytes(), D1.tobytes()]
    trace = mlpext.trace_step(X, y, *params, lr)
    out += [trace[k].tobytes() for k in sorted(trace)]
    out.append(mlpext.predict(X, *params).tobytes())
    out += [p.tobytes() for p in params]
    return out


def run_serial(nets):
    return [workload(X, y, [p.copy() for p in params]) for X, y, params in nets]


def run_threaded(nets, copies_per_net=1):
    """Each network (copies_per_net times) in its own thread, all started together."""
    jobs = [(X, y, [p.copy() for p in params]) for X, y, params in nets for _ in range(copies_per_net)]
    results = [None] * len(jobs)
    errors = []
    barrier = threading.Barrier(len(jobs))

    def worker(k):
        try:
            X, y, params = jobs[k]
            barrier.wait()
            results[k] = workload(X, y, params)
        except BaseException as exc:  # noqa: BLE001 — reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_threads_match_serial():
    nets = [make(seed, *shape) for seed, shape in enumerate(NETS)]
    serial = run_serial(nets)
    assert run_serial(nets) == serial  # deterministic to begin with
    for _ in range(ROUNDS):
        threaded = run_threaded(nets, copies_per_net=2)
        for k, result in enumerate(threaded):
            assert result == serial[k // 2], f"network {NETS[k // 2]} differs when trained in a thread"


def test_shared_read_only_inputs():
    """Threads sharing X, y (read by all) and each training its own copy of the same parameters: identical."""
    X, y, params = make(7, 64, 16, 32, 4, np.float64)
    expected = workload(X, y, [p.copy() for p in params])
    results = [None] * 4
    barrier = threading.Barrier(4)

    def worker(k):
        barrier.wait()
        results[k] = workload(X, y, [p.copy() for p in params])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


def test_concurrent_predict_on_shared_parameters():
    """forward/predict only read the parameters: many threads may use the same ones at once."""
    X, y, params = make(3, 256, 32, 64, 8, np.float32)
    expected = mlpext.predict(X, *params)
    results, barrier = [], threading.Barrier(6)

    def worker():
        barrier.wait()
        for _ in range(50):
            results.append(np.array_equal(mlpext.predict(X, *params), expected))
            results.append(np.array_equal(mlpext.forward(X, *params)[1], expected))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 600 and all(results)


def _count_rate(seconds):
    """Increments per second of a pure-Python counting loop, run for `seconds`."""
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        count += 1
    return count / seconds


@pytest.mark.parametrize("call", ["train", "forward"])
def test_gil_released_during_long_calls(call):
    """While one thread is inside a single long call (0.15 s or more), the main thread keeps running Python code at a
    good fraction of its normal speed: the call released the GIL. (Were the GIL held, the main thread could not
    run at all until the call returned.)"""
    if call == "train":  # size epochs of a small network
        X, y, params = make(11, 1024, 64, 256, 10, np.float64)
    else:  # a forward pass over size rows of a wide one (wide, so a long call needs little memory: 16 KB a row)
        X, y, params = make(11, 256, 1024, 1024, 10, np.float64)

    def make_work(size):
        if call == "train":
            def work():
                mlpext.train(X, y, *params, 0.01, size)
        else:
            Xbig = np.resize(X, (size, X.shape[1]))
            def work():
                mlpext.forward(Xbig, *params)
        return work

    # Calibrate on the call itself, growing it until it takes 0.15 s alone: a guess from another call's time can be
    # off several-fold on a loaded machine or while the thread pool starts. (Capped: 8192 rows are 128 MB.)
    size, cap = (1, 1 << 14) if call == "train" else (64, 1 << 13)
    while True:
        work = make_work(size)
        start = time.perf_counter()
        work()
        took = time.perf_counter() - start
        if took >= 0.15 or size >= cap:
            break
        size = min(cap, max(size * 2, int(size * 0.2 / max(took, 1e-4))))

    baseline = _count_rate(0.05)
    inside, done = threading.Event(), threading.Event()

    def worker():
        inside.set()
        work()
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    inside.wait()
    time.sleep(0.01)  # let the worker get into the C call
    count, start = 0, time.perf_counter()
    while not done.is_set():
        count += 1
    elapsed = time.perf_counter() - start
    t.join()
    rate = count / elapsed if elapsed > 0 else 0.0
    print(f"{call} ({size}): {elapsed * 1e3:.0f} ms inside the call; the main thread counted at "
          f"{rate / baseline:.0%} of its speed alone")
    assert elapsed > 0.05, "the call was too short to tell"
    assert rate > 0.2 * baseline, f"the main thread ran at {rate / baseline:.1%} of its speed: the GIL was held"
