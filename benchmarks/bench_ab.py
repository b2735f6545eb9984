"""Two builds of mlpext's extension taking turns in one process: how a change to the C core shows that it pays.

    python benchmarks/bench_ab.py BUILD_A BUILD_B [--rounds 25] [--only NAME ...] [--markdown] [--shuffle]

BUILD_A and BUILD_B are built extension files (mlpext/_core*.so or .pyd), for example of the commit before a change
and of the change: `python setup.py build_ext --inplace` in each checkout, then copy each file somewhere. Both are
loaded into one process, so machine drift hits them alike; each round times every workload once on each build,
the first build alternating. Half the rounds run in a process that loads A first, half in one that loads B first:
the build loaded second gets its memory elsewhere from glibc, which moved small fits by up to 5 %. Workloads (NAME
for --only), float32 unless named; the first six, rows96, predict100 and the row ones sigmoid with the lecture's
update:

    step       a Python loop of mlpext.train_step on the lecture's XOR (2-3-1, integer X and y as on its slides,
               float64 parameters), 20000 epochs (time per epoch: one call's overhead more than its arithmetic)
    phases     the same loop with forward, backward and update (three calls an epoch), 5000 epochs
    mnist      mlpext.train on 784-128-10, batch 128, 20 epochs a call (time per epoch)
    minibatch  mlpext.train on 784-512-10, batch 32, 20 epochs a call (time per epoch)
    predict    mlpext.predict of 32 rows through 784-1024-10 (time per call)
    fullbatch  mlpext.train on 64-64-10, batch 1797 (the digits' size, one step an epoch), 20 epochs a call
    wide       mlpext.train on 1024-1024-1024, batch 1024, 3 epochs a call
    deep       mlpext.MLP.fit on 784-512-512-10, batch 32 (one step an epoch), 20 epochs a call (time per epoch;
               mlpext.MLP runs on the build for the call)
    adam       mlpext.MLP.fit on 784-128-10, relu, cross-entropy, Adam, 10 mini-batches of 128 an epoch (in
               order; --shuffle: shuffled), 4 epochs a call (time per epoch)
    rmsprop    the same with RMSprop, 40 mini-batches of 32, 2 epochs a call
    momentum   the same with SGD, momentum 0.9, 10 mini-batches of 128, 4 epochs a call
    midsize    the same with Adam on 128-128-10, 56 mini-batches of 32, 10 epochs a call (products of 2¹⁹
               multiply-adds, the smallest that are split among threads; cut by columns)
    digits     the same on 64-64-10 (the digits' sizes)
    digits64   the same on 64-64-10 with 28 mini-batches of 64 (its first layer 2¹⁸ multiply-adds)
    digits128  the same on 64-64-10 with 14 mini-batches of 128 (its first layer 2¹⁹ multiply-adds, cut by rows)
    cols200    the same on 200-100-10 with 56 mini-batches of 32, 10 epochs a call (0.64 M, cut by columns)
    halves32   the same on 784-32-10 with 56 mini-batches of 32, 4 epochs a call (0.8 M; its first layer sums in
               halves)
    rows96     mlpext.train on 96-96-96, batch 96, 40 epochs a call (0.88 M, cut by rows)
    predict100 mlpext.predict of 64 rows through 100-100-10 (0.64 M, cut by columns; time per call)
    row        mlpext.predict of one row through 784-2048-10 (W1 6.4 MB, larger than L2; time per call)
    row64      the same in float64 (12.8 MB)
    rows3      3 rows through 784-2048-10
    rows4      4 rows through 784-2048-10 (more than MLP_FEW_ROWS: the deep blocks, as before)
    rows5, rows6, rows10  5, 6 and 10 rows through 784-2048-10: fewer than AVX-512's tile of 12 rows, so one tile
               of their own (on AVX2, whose tile is 6 rows: one tile, a full one, a full one and 4)
    row-l2     one row through 784-128-10 (W1 400 KB, inside a 512 KB L2)
    row-l2x2   the same in float64 (800 KB: just larger than a 512 KB L2)
    row-1mb    one row through 4096-64-10 (W1 1 MB)
    row-1k     one row through 4096-256-10 (W1 4 MB, its rows 1 KB apart: not a multiple of an L1 way, so split
               among threads its blocks of the sum are 256 deep, not 8: nn_depth)
    rows3-3k   3 rows through 2048-768-10 (W1 6 MB, rows 3 KB apart)
    rows2-6k   2 rows through 2048-768-10 in float64 (W1 12 MB, rows 6 KB apart)
    online     mlpext.MLP.fit on 784-1024-10, 64 mini-batches of one row, 4 epochs a call (time per epoch)
    batch10    the same with 64 mini-batches of 10 rows
    autoencoder  mlpext.MLP.fit on 784-256-784, relu, a sigmoid output and BCE, Adam, 8 mini-batches of 256, 2
               epochs a call (a wide output: the loss's pass is large)
    autoencoder-mse  the same on 784-128-784 with MSE and an identity output, 32 mini-batches of 64
    gelu       mlpext.MLP.fit on 784-256-256-10, GELU, cross-entropy, Adam, 16 mini-batches of 128, 2 epochs a call
               (hidden layers that keep z: their activation and its gradient are passes of their own)
    tanh       mlpext.MLP.fit on 784-256-10, tanh, cross-entropy, Adam, 8 mini-batches of 128, 4 epochs a call

Prints, per workload and build, the best / first quartile / median time of --rounds rounds, and B's speed-up at the
first quartile; and whether the two builds gave the same bits (they must, for a change that only moves work), or
which results differ. The exit status is 0 whatever the figures, 1 if the bits differ, 2 if a run failed.
"""
import argparse
import gc
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
from demo import machine_line, tolerant_stdout  # noqa: E402


def load(path, tag):
    """The extension at `path` as a module of its own (two builds can live in one process)."""
    name = "mlpext._core"
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    module.tag = tag
    return module


def lecture_problem(n, n_in, hidden, n_out, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    y = rng.uniform(size=(n, n_out)).astype(dtype)
    params = [(0.05 * rng.standard_normal(s)).astype(dtype)
              for s in ((n_in, hidden), (hidden,), (hidden, n_out), (n_out,))]
    return X, y, params


def train_workload(sizes, epochs):
    X, y, params = lecture_problem(*sizes)

    def run(core):
        p = [a.copy() for a in params]
        start = time.perf_counter()
        losses = core.train(X, y, *p, 0.01, epochs)
        return (time.perf_counter() - start) / epochs, dict(zip(("losses", "W1", "b1", "W2", "b2"), (losses, *p)))
    return run


def predict_workload(sizes, calls, dtype=np.float32):
    X, _, params = lecture_problem(*sizes, dtype=dtype)

    def run(core):
        start = time.perf_counter()
        for _ in range(calls):
            out = core.predict(X, *params)
        return (time.perf_counter() - start) / calls, {"output": out}
    return run


def fit_workload(sizes, rows, epochs, batch_size=None, **kwargs):
    """MLP.fit, by default the lecture's network (sigmoid, its loss, SGD) on one batch; kwargs: MLP's others (with
    loss="cross_entropy", y is class labels)."""
    import mlpext.network  # (MLP calls the extension through this module's _core: swapped for the call)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, sizes[0])).astype(np.float32)
    y = rng.uniform(size=(rows, sizes[-1])).astype(np.float32)
    kwargs = {"activation": "sigmoid", "loss": "lecture", "optimizer": "sgd", "learning_rate": 0.01, **kwargs}
    if kwargs["loss"] == "cross_entropy":
        y = rng.integers(0, sizes[-1], rows)

    def run(core):
        saved, mlpext.network._core = mlpext.network._core, core
        try:
            net = mlpext.MLP(list(sizes), dtype=np.float32, seed=0, **kwargs)
            start = time.perf_counter()
            net.fit(X, y, epochs, batch_size=batch_size, shuffle=SHUFFLE[0])
            elapsed = time.perf_counter() - start
        finally:
            mlpext.network._core = saved
        return elapsed / epochs, {f"{name}{k}": a for k, pair in enumerate(net.params) for name, a in zip("Wb", pair)}
    return run


def lecture_loop_workload(mode, epochs):
    """The lecture's XOR (examples/demo.py: integer X and y, float64 parameters) trained one call per epoch
    (mode "step": train_step) or three ("phases": forward, backward, update); time per epoch."""
    from demo import lecture_arrays
    X, y, *params = lecture_arrays()

    def run(core):
        W1, b1, W2, b2 = (a.copy() for a in params)
        start = time.perf_counter()
        if mode == "step":
            for _ in range(epochs):
                loss = core.train_step(X, y, W1, b1, W2, b2, 0.5)
        else:
            for _ in range(epochs):
                A1, P = core.forward(X, W1, b1, W2, b2)
                D2, D1 = core.backward(y, A1, P, W2)
                core.update(X, A1, D2, D1, W1, b1, W2, b2, 0.5)
            loss = np.mean(np.abs(y - P))
        elapsed = time.perf_counter() - start
        return elapsed / epochs, {"loss": np.array(loss), "W1": W1, "b1": b1, "W2": W2, "b2": b2}
    return run


SHUFFLE = [False]  # --shuffle
ADAM = {"activation": "relu", "loss": "cross_entropy", "optimizer": "adam", "learning_rate": 1e-3}
WORKLOADS = {
    "step": ("train_step loop, lecture XOR 2-3-1, float64, per epoch", lecture_loop_workload("step", 20000)),
    "phases": ("forward/backward/update loop, lecture XOR, per epoch", lecture_loop_workload("phases", 5000)),
    "mnist": ("train 784-128-10, batch 128, per epoch", train_workload((128, 784, 128, 10), 20)),
    "minibatch": ("train 784-512-10, batch 32, per epoch", train_workload((32, 784, 512, 10), 20)),
    "predict": ("predict 32 rows, 784-1024-10, per call", predict_workload((32, 784, 1024, 10), 20)),
    "fullbatch": ("train 64-64-10, batch 1797, per epoch", train_workload((1797, 64, 64, 10), 20)),
    "deep": ("MLP.fit 784-512-512-10, batch 32, per epoch", fit_workload((784, 512, 512, 10), 32, 20)),
    "wide": ("train 1024-1024-1024, batch 1024, per epoch", train_workload((1024, 1024, 1024, 1024), 3)),
    "adam": ("MLP.fit 784-128-10 relu, Adam, 10 batches of 128, per epoch",
             fit_workload((784, 128, 10), 1280, 4, 128, **ADAM)),
    "rmsprop": ("MLP.fit 784-128-10 relu, RMSprop, 40 batches of 32, per epoch",
                fit_workload((784, 128, 10), 1280, 2, 32, **dict(ADAM, optimizer="rmsprop"))),
    "momentum": ("MLP.fit 784-128-10 relu, SGD momentum 0.9, 10 batches of 128, per epoch",
                 fit_workload((784, 128, 10), 1280, 4, 128, **dict(ADAM, optimizer="sgd", momentum=0.9,
                                                                   learning_rate=1e-2))),
    "midsize": ("MLP.fit 128-128-10 relu, Adam, 56 batches of 32, per epoch",
                fit_workload((128, 128, 10), 1792, 10, 32, **ADAM)),
    "digits": ("MLP.fit 64-64-10 relu, Adam, 56 batches of 32, per epoch",
               fit_workload((64, 64, 10), 1792, 10, 32, **ADAM)),
    "digits64": ("MLP.fit 64-64-10 relu, Adam, 28 batches of 64, per epoch",
                 fit_workload((64, 64, 10), 1792, 10, 64, **ADAM)),
    "digits128": ("MLP.fit 64-64-10 relu, Adam, 14 batches of 128, per epoch",
                  fit_workload((64, 64, 10), 1792, 10, 128, **ADAM)),
    "cols200": ("MLP.fit 200-100-10 relu, Adam, 56 batches of 32, per epoch",
                fit_workload((200, 100, 10), 1792, 10, 32, **ADAM)),
    "halves32": ("MLP.fit 784-32-10 relu, Adam, 56 batches of 32, per epoch",
                 fit_workload((784, 32, 10), 1792, 4, 32, **ADAM)),
    "rows96": ("train 96-96-96, batch 96, per epoch", train_workload((96, 96, 96, 96), 40)),
    "predict100": ("predict 64 rows, 100-100-10, per call", predict_workload((64, 100, 100, 10), 40)),
    "row": ("predict 1 row, 784-2048-10, per call", predict_workload((1, 784, 2048, 10), 200)),
    "row64": ("predict 1 row, 784-2048-10, float64, per call",
              predict_workload((1, 784, 2048, 10), 100, np.float64)),
    "rows3": ("predict 3 rows, 784-2048-10, per call", predict_workload((3, 784, 2048, 10), 100)),
    "rows4": ("predict 4 rows, 784-2048-10, per call", predict_workload((4, 784, 2048, 10), 100)),
    "rows5": ("predict 5 rows, 784-2048-10, per call", predict_workload((5, 784, 2048, 10), 100)),
    "rows6": ("predict 6 rows, 784-2048-10, per call", predict_workload((6, 784, 2048, 10), 100)),
    "rows10": ("predict 10 rows, 784-2048-10, per call", predict_workload((10, 784, 2048, 10), 100)),
    "row-l2": ("predict 1 row, 784-128-10, per call", predict_workload((1, 784, 128, 10), 2000)),
    "row-l2x2": ("predict 1 row, 784-128-10, float64, per call",
                 predict_workload((1, 784, 128, 10), 1000, np.float64)),
    "row-1mb": ("predict 1 row, 4096-64-10, per call", predict_workload((1, 4096, 64, 10), 500)),
    "row-1k": ("predict 1 row, 4096-256-10, per call", predict_workload((1, 4096, 256, 10), 200)),
    "rows3-3k": ("predict 3 rows, 2048-768-10, per call", predict_workload((3, 2048, 768, 10), 100)),
    "rows2-6k": ("predict 2 rows, 2048-768-10, float64, per call",
                 predict_workload((2, 2048, 768, 10), 100, np.float64)),
    "online": ("MLP.fit 784-1024-10, 64 batches of 1, per epoch", fit_workload((784, 1024, 10), 64, 4, 1)),
    "batch10": ("MLP.fit 784-1024-10, 64 batches of 10, per epoch", fit_workload((784, 1024, 10), 640, 4, 10)),
    "autoencoder": ("MLP.fit 784-256-784 relu, sigmoid + BCE, Adam, 8 batches of 256, per epoch",
                    fit_workload((784, 256, 784), 2048, 2, 256, **dict(ADAM, loss="bce"))),
    "autoencoder-mse": ("MLP.fit 784-128-784 relu, MSE, Adam, 32 batches of 64, per epoch",
                        fit_workload((784, 128, 784), 2048, 2, 64, **dict(ADAM, loss="mse"))),
    "gelu": ("MLP.fit 784-256-256-10 gelu, Adam, 16 batches of 128, per epoch",
             fit_workload((784, 256, 256, 10), 2048, 2, 128, **dict(ADAM, activation="gelu"))),
    "tanh": ("MLP.fit 784-256-10 tanh, Adam, 8 batches of 128, per epoch",
             fit_workload((784, 256, 10), 1024, 4, 128, **dict(ADAM, activation="tanh"))),
}


def time_builds(args, first_b):
    """One process's turns: both builds loaded (B first if first_b), a warm-up call of each workload on each, then
    --rounds rounds. Returns ({workload: {"A": [seconds], "B": [...]}}, [(workload, result) whose bits differ])."""
    SHUFFLE[0] = args.shuffle
    paths = {"A": os.path.abspath(args.build_a), "B": os.path.abspath(args.build_b)}
    order = "BA" if first_b else "AB"
    builds = [load(paths[tag], tag) for tag in order]
    builds.sort(key=lambda b: b.tag)  # A, B: the turns below do not depend on the load order
    differ, times = [], {}
    gc.disable()
    for name, (_, run) in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        times[name] = {"A": [], "B": []}
        results = {b.tag: run(b)[1] for b in builds}  # a warm-up call each, and their results
        differ += [(name, key) for key in results["A"] if not np.array_equal(results["A"][key], results["B"][key])]
        for r in range(args.rounds):
            for core in (builds if r % 2 == 0 else builds[::-1]):
                times[name][core.tag].append(run(core)[0])
    gc.enable()
    return times, differ


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_a")
    parser.add_argument("build_b")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--only", action="append", choices=list(WORKLOADS), metavar="NAME")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--shuffle", action="store_true",
                        help="the MLP.fit workloads draw shuffled mini-batches (MLP.fit's default), not in order")
    parser.add_argument("--load-order", choices=["AB", "BA"], help=argparse.SUPPRESS)  # a child's: one order
    args = parser.parse_args()
    if args.load_order:  # a child: time in this process, hand the times to the parent
        times, differ = time_builds(args, args.load_order == "BA")
        print(json.dumps({"times": times, "differ": differ}))
        return 0
    core = load(os.path.abspath(args.build_a), "A")
    print(f"Machine: {machine_line()}; {core.build_info()['simd']} kernels; load average before: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"A: {args.build_a}\nB: {args.build_b}")
    # Half the rounds in a process that loads A first, half in one that loads B first: the build loaded second
    # gets its memory elsewhere from glibc, which moved small fits by up to 5 % (docs/benchmarks.md).
    times, differ = {}, []
    for order, rounds in (("AB", (args.rounds + 1) // 2), ("BA", args.rounds // 2)):
        if rounds == 0:
            continue
        command = [sys.executable, os.path.abspath(__file__), args.build_a, args.build_b, "--rounds", str(rounds),
                   "--load-order", order] + [f"--only={name}" for name in args.only or []]
        command += ["--shuffle"] if args.shuffle else []
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            return 2
        child = json.loads(done.stdout.splitlines()[-1])
        for name, per_build in child["times"].items():
            for tag, samples in per_build.items():
                times.setdefault(name, {"A": [], "B": []})[tag].extend(samples)
        differ += [tuple(d) for d in child["differ"] if tuple(d) not in differ]
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"same bits: {'yes' if not differ else 'NO: ' + ', '.join(f'{w} {r}' for w, r in differ)}\n")
    if args.markdown:
        print("| workload | A: best / q25 / median | B: best / q25 / median | B's speed-up (q25) |")
        print("|---|---:|---:|---:|")
    for name, per_build in times.items():
        title = WORKLOADS[name][0]
        q = {}
        for tag in "AB":
            t = sorted(per_build[tag])
            q[tag] = (t[0], t[len(t) // 4], t[len(t) // 2])
        unit, scale = ("ms", 1e3) if q["A"][0] >= 0.01 else ("µs", 1e6) if q["A"][0] >= 1e-6 else ("ns", 1e9)
        a, b = (" / ".join(f"{x * scale:.1f}" for x in q[tag]) + f" {unit}" for tag in "AB")
        ratio = q["A"][1] / q["B"][1]
        if args.markdown:
            print(f"| `{name}`: {title} | {a} | {b} | {ratio:.2f}× |")
        else:
            print(f"{name:<10} {title}\n  A {a}\n  B {b}\n  B's speed-up {ratio:.2f}×")
    return 0 if not differ else 1


if __name__ == "__main__":
    tolerant_stdout()
    sys.exit(main())
