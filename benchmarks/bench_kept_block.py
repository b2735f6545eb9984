"""Does keeping the scratch block between calls pay? mlpext with and without it, taking turns in one run.

    python benchmarks/bench_kept_block.py [--repeats 15] [--markdown]

A call whose workspace exceeds 4 KiB takes a block from Python's allocator; the module keeps it for the next call
(csrc/module.c, scratch_get / scratch_free; docs/design.md, "State and memory"). "released" calls
mlpext.release_memory() before each timed call, so that every call allocates its block afresh, as it would without
the keeping; "kept" does not. A fresh block of many MB costs the operating system a page fault per 4 KiB on first
touch. The workloads are the lecture's sigmoid network trained with mlpext.train (float32, learning rate 0.01):

    1024-1024-1024, batch 1024, 1 epoch per call, and 3 epochs per call (the benchmark suite's `wide` row)
    784-128-10, batch 128, 1 epoch per call
    64-32-10, batch 32, 1 epoch per call (a block of a few KB: no page to fault in)

Prints, per workload and mode, the best, first quartile and median time per epoch over --repeats turns (for the
1024-wide network 0.3 s apart, so that each turn starts with idle threads, as the suite's do), the machine and the
load average. Nothing is asserted.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples"))

import mlpext  # noqa: E402
from demo import format_time, machine_line, tolerant_stdout  # noqa: E402

WORKLOADS = [  # (label, sizes, batch, epochs per call)
    ("1024-1024-1024, batch 1024, 1 epoch a call", (1024, 1024, 1024), 1024, 1),
    ("1024-1024-1024, batch 1024, 3 epochs a call", (1024, 1024, 1024), 1024, 3),
    ("784-128-10, batch 128, 1 epoch a call", (784, 128, 10), 128, 1),
    ("64-32-10, batch 32, 1 epoch a call", (64, 32, 10), 32, 1),
]
SETTLE = 0.3  # seconds before each turn of a network of at least 2^22 multiply-adds a row, as in run.py


def arrays(sizes, batch):
    rng = np.random.default_rng(0)
    n_in, hidden, out = sizes
    X = rng.standard_normal((batch, n_in)).astype(np.float32)
    y = rng.uniform(size=(batch, out)).astype(np.float32)
    params = [(rng.standard_normal(s) / np.sqrt(s[0] if len(s) == 2 else 1)).astype(np.float32)
              for s in ((n_in, hidden), (hidden,), (hidden, out), (out,))]
    return X, y, params


def measure(sizes, batch, epochs, repeats):
    """{mode: sorted seconds per epoch}"""
    X, y, params = arrays(sizes, batch)
    times = {"kept": [], "released": []}
    settle = SETTLE if sizes[0] * sizes[1] + sizes[1] * sizes[2] >= 1 << 22 else 0.0
    mlpext.train(X, y, *params, 0.01, epochs)  # warm-up: the team of threads, the remembered validation
    for _ in range(repeats):
        for mode in times:
            if mode == "released":
                mlpext.release_memory()
            time.sleep(settle)
            started = time.perf_counter()
            mlpext.train(X, y, *params, 0.01, epochs)
            times[mode].append((time.perf_counter() - started) / epochs)
    mlpext.release_memory()
    return {mode: sorted(t) for mode, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table for docs/benchmarks.md")
    args = parser.parse_args()
    print(f"Machine: {machine_line()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    for label, sizes, batch, epochs in WORKLOADS:
        t = measure(sizes, batch, epochs, args.repeats)
        rows.append((label, t))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.repeats} turns per mode\n")
    if args.markdown:
        print("| workload, per epoch (best / first quartile / median) | block kept (shipped) | block released "
              "before each call | speed-up of keeping (first quartiles) |")
        print("|---|---:|---:|---:|")
    for label, t in rows:
        cells = {m: [v[0], v[len(v) // 4], v[len(v) // 2]] for m, v in t.items()}
        ratio = cells["released"][1] / cells["kept"][1]
        text = {m: " / ".join(format_time(x) for x in c) for m, c in cells.items()}
        if args.markdown:
            print(f"| {label} | {text['kept']} | {text['released']} | {ratio:.2f}× |")
        else:
            print(f"{label}\n  kept      {text['kept']}\n  released  {text['released']}\n"
                  f"  kept is {ratio:.2f}× as fast (first quartiles)")


if __name__ == "__main__":
    tolerant_stdout()
    main()
