"""How long a timed run must be: the suite's 784-128-10 workload timed in short and in long runs, each after the
suite's pause, with what the scheduler did to mlpext's helper thread meanwhile.

    python benchmarks/bench_run_length.py [--epochs 40,400] [--runs 15] [--pause 0.3] [--markdown] [--per-run]

Workload: benchmarks/run.py's `mnist` (sigmoid 784-128-10, batch 128, float32; its data and initial weights),
mlpext.train for each epoch count and the suite's NumPy loop for it (numpy_sigmoid_loop), every run `--pause` seconds
(default: the suite's SETTLE) after the previous one. The run lengths come one after the other (the two
implementations taking turns within each), since how the scheduler places a thread it wakes depends on how busy
the threads were lately. For each: µs per epoch, best / median / worst over `--runs` runs. Where Linux's
/proc/self/task/*/schedstat can be read, also how many of mlpext's runs were "stalled": its helper threads (the
threads its first call started) spent more of the run waiting for a CPU (run-queue time) than running; --per-run
prints each run's time and those two figures. Threads follow MLPEXT_NUM_THREADS. Run it with OPENBLAS_CORETYPE
and OPENBLAS_L2_SIZE unset, as the suite unsets them. The exit status is 0 whatever the figures (they depend on
the machine and its load).
"""
import argparse
import gc
import os
import statistics
import time

import numpy as np

import mlpext
from run import (  # benchmarks/run.py, imported
    SETTLE, WORKLOADS, cpu_model, numpy_sigmoid_loop, sigmoid_arrays, tolerant_stdout,
)

MNIST = next(w for w in WORKLOADS if w.name == "mnist")


def schedstat(tids):
    """(ns on a CPU, ns waiting for one) summed over the threads tids, or None where Linux's schedstat is absent."""
    try:
        on = wait = 0
        for tid in tids:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                fields = f.read().split()
            on, wait = on + int(fields[0]), wait + int(fields[1])
        return on, wait
    except (OSError, IndexError, ValueError):
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", default="40,400", help="the run lengths, comma-separated")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pause", type=float, default=SETTLE, help="seconds before each run")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--per-run", action="store_true", help="print each run of mlpext as it ends")
    args = parser.parse_args(argv)
    lengths = [int(e) for e in args.epochs.split(",")]
    X, y, params = sigmoid_arrays(MNIST)  # the suite's data and initial weights

    def train(p, epochs):
        mlpext.train(X, y, *p, MNIST.lr, epochs)

    def numpy(p, epochs):
        numpy_sigmoid_loop(X, y, p, MNIST.lr, epochs)

    tasks = set(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else set()
    train([a.copy() for a in params], 2)  # starts mlpext's helpers (if the product is split)
    helpers = sorted(set(os.listdir("/proc/self/task")) - tasks) if tasks else []
    modes = [(f"mlpext.train, {e} epochs a run", train, e) for e in lengths]
    modes += [(f"NumPy loop, {e} epochs a run", numpy, e) for e in lengths]
    times = {name: [] for name, _, _ in modes}
    stalled = {name: 0 for name, _, _ in modes}
    measured = {name: 0 for name, _, _ in modes}  # runs whose helpers' scheduling could be read
    # One run length after the other, not interleaved: how the scheduler places a woken thread depends on how
    # busy the threads were lately, so the runs before a run are part of what is measured.
    turns = []
    for length in lengths:
        block = [mode for mode in modes if mode[2] == length]
        turns += [(name, fn, epochs, True) for name, fn, epochs in block]  # warm-up
        turns += [(name, fn, epochs, False) for _ in range(args.runs) for name, fn, epochs in block]
    for name, fn, epochs, warm_up in turns:
        p = [a.copy() for a in params]
        if warm_up:
            fn(p, epochs)
            continue
        time.sleep(args.pause)
        gc.disable()
        before = schedstat(helpers) if helpers and fn is train else None
        start = time.perf_counter()
        fn(p, epochs)
        elapsed = time.perf_counter() - start
        after = schedstat(helpers) if before else None
        gc.enable()
        times[name].append(elapsed / epochs * 1e6)
        if after:
            running, waiting = after[0] - before[0], after[1] - before[1]
            measured[name] += 1
            stalled[name] += waiting > running
            if args.per_run:
                print(f"{name}: {elapsed * 1e3:.2f} ms; the helpers ran {running / 1e6:.2f} ms and waited for a "
                      f"CPU {waiting / 1e6:.2f} ms")
    load = f"; load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(f"{cpu_model()}, {os.cpu_count()} logical CPUs; mlpext {mlpext.__version__}, NumPy {np.__version__}")
    print(f"{MNIST.title}; {args.runs} runs of each, {args.pause} s apart; "
          f"MLPEXT_NUM_THREADS={os.environ.get('MLPEXT_NUM_THREADS', '(unset)')}; helper threads: {len(helpers)}"
          + load)
    header = ("run", "best µs/epoch", "median", "worst", "runs with the helpers stalled")
    lines = []
    for name, _, _ in modes:
        t = times[name]
        stall = f"{stalled[name]} of {measured[name]}" if measured[name] else "—"
        lines.append((name, f"{min(t):.0f}", f"{statistics.median(t):.0f}", f"{max(t):.0f}", stall))
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + "---|" + "---:|" * 3 + "---|")
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        for line in (header,) + tuple(lines):
            print(f"{line[0]:34} {line[1]:>14} {line[2]:>8} {line[3]:>8}   {line[4]}")


if __name__ == "__main__":
    tolerant_stdout()
    main()
