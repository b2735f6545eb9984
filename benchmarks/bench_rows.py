"""Inference of a few rows: mlpext.predict against NumPy's own chain, taking turns in one process.

    python benchmarks/bench_rows.py [--rounds 9] [--only NETWORK ...] [--rows 1,4] [--settle 0.3] [--markdown]

Predicting one sample at a time (a served model, an interactive notebook) is a matrix-vector product per layer: it
reads every weight once and reuses none, so it is bound by memory once a layer outgrows L2. Per network (sigmoid
hidden layers, a sigmoid output: the lecture's), float32 and float64, batches of 1 and 4 rows (--rows: others):

    mlpext        mlpext.predict(X, W1, b1, W2, b2)
    numpy         mlpext.reference.predict: sigmoid(sigmoid(X @ W1 + b1) @ W2 + b2) in NumPy, its BLAS on its
                  default threads
    numpy 1t      the same with the BLAS held to one thread (threadpoolctl; skipped without it)

Each round times every implementation once (the first one rotating), each for about 20 ms of calls that start
--settle seconds after the turn before (default examples/demo.py's SETTLE, 0.3 s: OpenBLAS's threads spin for
about 0.1 s); the table gives the first quartile of --rounds rounds per call, NumPy's time over mlpext's, and the
largest difference between their outputs. The exit status is 0 whatever the figures, 1 if the outputs differ by
more than float tolerance (1e-5 in float32, 1e-12 in float64: the outputs are sigmoids, within [0, 1]).
Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (docs/benchmarks.md).
"""
import argparse
import contextlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples"))

import mlpext  # noqa: E402
from mlpext import reference  # noqa: E402
from demo import SETTLE, machine_line, tolerant_stdout  # noqa: E402

NETWORKS = [(784, 2048, 10), (4096, 256, 10), (2048, 768, 10), (4096, 64, 10), (784, 128, 10), (64, 64, 10)]
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def implementations():
    """{name: (function, a context to time it in)}."""
    numpy = lambda X, p: reference.predict(X, *p)  # noqa: E731
    impls = {"mlpext": (lambda X, p: mlpext.predict(X, *p), contextlib.nullcontext),
             "numpy": (numpy, contextlib.nullcontext)}
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return impls
    # (entered around a turn's calls, not each call: entering it takes longer than most of these calls)
    impls["numpy 1t"] = (numpy, lambda: threadpool_limits(1, user_api="blas"))
    return impls


def per_call(f, X, p, seconds=0.02):
    """Seconds per call of f over about `seconds` of calls."""
    calls, start = 0, time.perf_counter()
    while True:
        f(X, p)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls


def batch_sizes(text):
    """--rows: '1,4,6' -> (1, 4, 6), each at least 1."""
    try:
        rows = tuple(int(field) for field in text.split(","))
    except ValueError:
        rows = ()
    if not rows or min(rows) < 1:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers separated by commas, got {text!r}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--only", action="append", metavar="NETWORK",
                        choices=["-".join(map(str, s)) for s in NETWORKS],
                        help="time only this network (784-2048-10, ...; repeatable)")
    parser.add_argument("--rows", type=batch_sizes, default=(1, 4), metavar="N,N,...",
                        help="the batches' rows, comma-separated (default 1,4)")
    parser.add_argument("--settle", type=float, default=SETTLE, help="seconds before each turn (default %(default)s)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table for docs/benchmarks.md")
    args = parser.parse_args()
    differ = []
    impls = implementations()
    names = list(impls)
    print(machine_line())
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; rounds: {args.rounds}; "
          f"first quartile per call")
    rows = []
    rng = np.random.default_rng(0)
    for sizes in NETWORKS:
        if args.only and "-".join(map(str, sizes)) not in args.only:
            continue
        for dtype in (np.float32, np.float64):
            p = [(0.05 * rng.standard_normal(s)).astype(dtype)
                 for s in ((sizes[0], sizes[1]), (sizes[1],), (sizes[1], sizes[2]), (sizes[2],))]
            for n in args.rows:
                X = rng.standard_normal((n, sizes[0])).astype(dtype)
                outs = {}
                for name, (f, context) in impls.items():  # (also the warm-up)
                    with context():
                        outs[name] = f(X, p)
                diff = max(float(np.max(np.abs(outs[name] - outs["mlpext"]))) for name in names)
                if not diff <= TOLERANCE[np.dtype(dtype).name]:
                    differ.append(f"{'-'.join(map(str, sizes))} {np.dtype(dtype).name} {n} row(s)")
                times = {name: [] for name in names}
                for r in range(args.rounds):
                    for name in names[r % len(names):] + names[:r % len(names)]:
                        f, context = impls[name]
                        time.sleep(args.settle)  # (the threads of the turn before go idle: examples/demo.py)
                        with context():
                            times[name].append(per_call(f, X, p))
                q25 = {name: float(np.percentile(t, 25)) for name, t in times.items()}
                rows.append(("-".join(map(str, sizes)), np.dtype(dtype).name, n, q25, diff))
                print(f"  {rows[-1][0]:>12} {rows[-1][1]} {n} row(s): "
                      + ", ".join(f"{name} {q25[name] * 1e6:.1f} µs" for name in names)
                      + f"; max |difference| {diff:.1e}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.markdown:
        others = names[1:]
        print("\n| network | dtype | rows | " + " | ".join(f"{n} µs" for n in names) + " | "
              + " | ".join(f"{n} ÷ mlpext" for n in others) + " |")
        print("|---|---|---:|" + "---:|" * (len(names) + len(others)))
        for net, dt, n, q25, _ in rows:
            print(f"| {net} | {dt} | {n} | " + " | ".join(f"{q25[k] * 1e6:.1f}" for k in names) + " | "
                  + " | ".join(f"{q25[k] / q25['mlpext']:.2f}×" for k in others) + " |")
    if differ:
        print("outputs differ beyond tolerance: " + "; ".join(differ))
        return 1
    return 0


if __name__ == "__main__":
    tolerant_stdout()
    sys.exit(main())
