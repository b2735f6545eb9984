"""Two networks trained by mlpext.train from two Python threads, against the same two trainings one after the
other: mlpext.train releases the GIL for its chunks of work, so on a machine with two free cores the threaded
run should take about half the time.

    python benchmarks/bench_threads.py [--epochs 200] [--repeats 5] [--sizes 64,256,10] [--batch 256]
                                       [--dtype float64] [--threads 2]

Workload (default): two float64 networks 64-256-10 (sigmoid, the lecture's update), batch 256 samples, `--epochs`
epochs of mlpext.train each, different seeds. The best of `--repeats` runs of each mode is kept (time.perf_counter,
garbage collector off, the modes taking turns). The threaded results are checked to be bit-identical to the serial
ones. Prints the times and the speed-up; the exit status is 0 whatever the figures (they depend on the machine
and on what else runs on it).
"""
import argparse
import gc
import os
import platform
import threading
import time

import numpy as np

import mlpext


def make(seed, sizes, batch, dtype):
    n_in, hidden, n_out = sizes
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, n_in)).astype(dtype)
    y = (rng.uniform(size=(batch, n_out)) > 0.5).astype(dtype)
    params = [(0.1 * rng.standard_normal(s)).astype(dtype)
              for s in ((n_in, hidden), (hidden,), (hidden, n_out), (n_out,))]
    return X, y, params


def train(net, epochs):
    X, y, params = net
    p = [a.copy() for a in params]
    losses = mlpext.train(X, y, *p, 0.01, epochs)
    return [losses] + p


def serial(nets, epochs):
    start = time.perf_counter()
    results = [train(net, epochs) for net in nets]
    return time.perf_counter() - start, results


def threaded(nets, epochs):
    results = [None] * len(nets)
    barrier = threading.Barrier(len(nets) + 1)

    def worker(k):
        barrier.wait()
        results[k] = train(nets[k], epochs)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(nets))]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="64,256,10", help="in,hidden,out")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    nets = [make(seed, sizes, args.batch, args.dtype) for seed in range(args.threads)]

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, {cpus} CPUs available, "
          f"{platform.machine()}")
    print(f"workload: {args.threads} networks {'-'.join(map(str, sizes))} {args.dtype}, batch {args.batch}, "
          f"{args.epochs} epochs of mlpext.train each; best of {args.repeats}")

    train(nets[0], 2)  # warm-up
    best = {"serial": float("inf"), "threaded": float("inf")}
    reference = None
    gc.disable()
    try:
        for _ in range(args.repeats):
            for mode, run in (("serial", serial), ("threaded", threaded)):
                seconds, results = run(nets, args.epochs)
                best[mode] = min(best[mode], seconds)
                flat = [a.tobytes() for r in results for a in r]
                if reference is None:
                    reference = flat
                assert flat == reference, f"{mode} results differ from the first run"
    finally:
        gc.enable()

    per_epoch = best["serial"] / (args.threads * args.epochs)
    print(f"  serial   ({args.threads} trainings one after the other): {best['serial'] * 1e3:8.1f} ms "
          f"({per_epoch * 1e3:.3f} ms per epoch)")
    print(f"  threaded ({args.threads} threads at once):              {best['threaded'] * 1e3:8.1f} ms")
    print(f"  speed-up: {best['serial'] / best['threaded']:.2f}x (ideal: {min(args.threads, cpus)}x); "
          f"results bit-identical")


if __name__ == "__main__":
    main()
