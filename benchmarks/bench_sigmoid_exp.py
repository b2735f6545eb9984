"""The lecture's XOR loop timed per epoch: mlpext.train and a Python loop of mlpext.train_step.

    python benchmarks/bench_sigmoid_exp.py [--epochs 100000] [--calls 100000] [--repeats 9] [--hidden 2]

The network is the lecture's XOR with float64 parameters and batch 4 (X 4×2, y 4×1), `--hidden` hidden units
(2: W1 2×2, W2 2×1), learning rate 0.1, weights drawn by np.random.default_rng(0). After one warm-up of each,
`--repeats` runs of mlpext.train (`--epochs` epochs in one call), then `--repeats` runs of `--calls` calls of
mlpext.train_step, each run from the same initial weights; the best run of each is printed (time.perf_counter,
garbage collector off). The exit status is 0 whatever the figures.

It times the build it imports, and prints which: with an installed mlpext besides a build in place, run it as
`PYTHONPATH=. python benchmarks/bench_sigmoid_exp.py` from the checkout. docs/benchmarks.md ("Does the sigmoid's
own exp still pay?") used it to compare three builds of the extension, their shared objects copied in turn into
one tree between runs.
"""
import argparse
import gc
import time

import numpy as np

import mlpext


def weights(hidden):
    rng = np.random.default_rng(0)
    return rng.random((2, hidden)), rng.random(hidden), rng.random((hidden, 1)), rng.random(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100_000, help="epochs of one mlpext.train call")
    parser.add_argument("--calls", type=int, default=100_000, help="mlpext.train_step calls of one repeat")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats; the best is kept")
    parser.add_argument("--hidden", type=int, default=2, help="hidden units (the lecture's slides: 2 or 3)")
    args = parser.parse_args()

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    initial = weights(args.hidden)
    lr = 0.1

    def time_train():
        W1, b1, W2, b2 = (w.copy() for w in initial)
        start = time.perf_counter()
        mlpext.train(X, y, W1, b1, W2, b2, lr, args.epochs)
        return (time.perf_counter() - start) / args.epochs

    def time_train_step():
        W1, b1, W2, b2 = (w.copy() for w in initial)
        step = mlpext.train_step
        start = time.perf_counter()
        for _ in range(args.calls):
            step(X, y, W1, b1, W2, b2, lr)
        return (time.perf_counter() - start) / args.calls

    gc.disable()
    time_train(), time_train_step()  # warm-up
    train = min(time_train() for _ in range(args.repeats))
    train_step = min(time_train_step() for _ in range(args.repeats))
    gc.enable()
    simd = mlpext._core.build_info()["simd"]
    print(f"XOR 2-{args.hidden}-1, float64, batch 4; best of {args.repeats}; simd path {simd}")
    print(f"module      {mlpext._core.__file__}")
    print(f"train       {train * 1e9:7.1f} ns per epoch ({args.epochs} epochs a call)")
    print(f"train_step  {train_step * 1e9:7.1f} ns per call")


if __name__ == "__main__":
    main()
