"""mlpext.MLP.fit against the pure-NumPy reference network and scikit-learn's MLPClassifier, on the digits.

    python benchmarks/bench_mlp.py [--epochs 20] [--repeats 5] [--batch-size 32] [--hidden 64]
                                   [--optimizers sgd adam] [--blas-threads N] [--markdown]

The task: scikit-learn's 1797 digits (8x8, X / 16), a 64-64-10 network (ReLU, softmax output, cross-entropy),
mini-batches of 32 in an order reshuffled every epoch, the same number of epochs everywhere, no L2 penalty,
learning rate 1e-3 (Adam) or 1e-2 with Nesterov momentum 0.9 (SGD). Every implementation runs the same
computation; only who runs it differs:

    mlpext f32 / f64   mlpext.MLP(...).fit(X, y, epochs, batch_size=32), float32 / float64 parameters
    numpy f64          mlpext.reference_net.NumpyMLP, the same API in pure NumPy (the reference)
    sklearn f64        sklearn.neural_network.MLPClassifier(hidden_layer_sizes=(64,), solver=..., batch_size=32,
                       max_iter=epochs, tol=0, n_iter_no_change=max_iter, alpha=0, shuffle=True): float64, as
                       scikit-learn computes on float64 input
    mlpext.sklearn     mlpext.sklearn.MLPClassifier with the same parameters (the estimator around mlpext.MLP;
                       float64): what the estimator's per-epoch stopping bookkeeping costs

Each is timed fitting from scratch (construction included, data already cast), the best of --repeats runs
(time.perf_counter, garbage collector off, implementations taking turns). The report gives seconds per epoch and
scikit-learn's and NumPy's time over mlpext's, against the project's floors: mlpext float64 at least 5x faster
per epoch than scikit-learn at batch 32, and at least 10x with Adam. The floors are reported, never asserted
(the exit status is 0 whatever the figures).

NumPy (and so scikit-learn) uses its BLAS's threads as configured (see the machine line; --blas-threads N sets
them through threadpoolctl); mlpext runs on one thread here (it splits only products of at least 2**19
multiply-adds among threads, far above this network's 32·64·64).
"""
import argparse
import gc
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples"))

import mlpext  # noqa: E402
from demo import format_time, machine_info, machine_line, tolerant_stdout  # noqa: E402
from mlpext.reference_net import NumpyMLP  # noqa: E402

MLP = mlpext.MLP

# Speed-up floors of mlpext (float64) over scikit-learn, per epoch at batch 32, by optimizer.
FLOORS = {"sgd": 5.0, "adam": 10.0}
LEARNING_RATES = {"sgd": 1e-2, "adam": 1e-3}


def load_data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y.astype(np.int64)


def mlp_kwargs(optimizer):
    kwargs = dict(activation="relu", loss="cross_entropy", optimizer=optimizer,
                  learning_rate=LEARNING_RATES[optimizer])
    if optimizer == "sgd":
        kwargs.update(momentum=0.9, nesterov=True)
    return kwargs


def make_runners(optimizer, X, y, epochs, batch_size, hidden, with_sklearn=True):
    """{name: zero-argument function that trains from scratch}; the data are cast before timing."""
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    X64 = np.ascontiguousarray(X, dtype=np.float64)
    sizes = [X.shape[1], hidden, 10]
    runners = {}

    def net_runner(cls, dtype, data):
        def run():
            net = cls(sizes, dtype=dtype, seed=0, **mlp_kwargs(optimizer))
            return net.fit(data, y, epochs, batch_size=batch_size)
        return run

    runners["mlpext f32"] = net_runner(MLP, np.float32, X32)
    runners["mlpext f64"] = net_runner(MLP, np.float64, X64)
    runners["numpy f64"] = net_runner(NumpyMLP, np.float64, X64)
    if with_sklearn:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier as SkMLP

        import mlpext.sklearn as mlpext_sklearn

        params = dict(hidden_layer_sizes=(hidden,), activation="relu", solver=optimizer, alpha=0.0,
                      batch_size=batch_size, learning_rate_init=LEARNING_RATES[optimizer], max_iter=epochs,
                      tol=0.0, n_iter_no_change=epochs, shuffle=True, random_state=0, momentum=0.9,
                      nesterovs_momentum=True)

        def estimator_runner(cls):
            def run():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    return cls(**params).fit(X64, y)
            return run

        runners["sklearn f64"] = estimator_runner(SkMLP)
        runners["mlpext.sklearn"] = estimator_runner(mlpext_sklearn.MLPClassifier)
    return runners


def time_runners(runners, repeats):
    best = {name: float("inf") for name in runners}
    for run in runners.values():  # warm up (first calls, caches, lazy imports)
        run()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, run in runners.items():
                started = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - started)
    finally:
        if enabled:
            gc.enable()
    return best


def check_same_training(optimizer, X, y, epochs, batch_size, hidden):
    """mlpext and NumPy reference: the same losses (a sanity check that the race is fair)."""
    a = MLP([X.shape[1], hidden, 10], dtype=np.float64, seed=0, **mlp_kwargs(optimizer)).fit(
        X, y, min(epochs, 3), batch_size=batch_size)
    b = NumpyMLP([X.shape[1], hidden, 10], dtype=np.float64, seed=0, **mlp_kwargs(optimizer)).fit(
        X, y, min(epochs, 3), batch_size=batch_size)
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b))))


def versions():
    out = {}
    for name in ("sklearn", "threadpoolctl"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "not installed"
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs per timed fit (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="timed fits per implementation (default 5)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units (default 64: a 64-64-10 network)")
    parser.add_argument("--optimizers", nargs="+", choices=["sgd", "adam"], default=["sgd", "adam"])
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit NumPy's BLAS threads (needs threadpoolctl); default: as configured")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args(argv)
    if min(args.epochs, args.repeats, args.batch_size, args.hidden) < 1:
        parser.error("--epochs, --repeats, --batch-size and --hidden must be at least 1")

    try:
        import sklearn.neural_network  # noqa: F401  (loads every BLAS library that the runs will use)
    except ImportError:
        parser.error("the benchmark needs scikit-learn for the digits data set: pip install scikit-learn")
    limiter = None
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=args.blas_threads, user_api="blas")

    info = machine_info()
    extra = versions()
    X, y = load_data()
    results = {}
    for optimizer in args.optimizers:
        drift = check_same_training(optimizer, X, y, args.epochs, args.batch_size, args.hidden)
        runners = make_runners(optimizer, X, y, args.epochs, args.batch_size, args.hidden)
        best = time_runners(runners, args.repeats)
        results[optimizer] = ({name: seconds / args.epochs for name, seconds in best.items()}, drift)

    net = f"64-{args.hidden}-10"
    setup = (f"digits ({X.shape[0]} samples), {net} relu/softmax, cross-entropy, batch {args.batch_size}, "
             f"{args.epochs} epochs per fit, best of {args.repeats}")
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS")
                    if k in os.environ)
    machine = machine_line(info) + f"; scikit-learn {extra['sklearn']}" + (f"; {env}" if env else "")
    if args.blas_threads is not None:
        machine += f"; BLAS limited to {args.blas_threads} thread(s)"

    if args.markdown:
        print(f"Machine: {machine}  ")
        print(f"Task: {setup}.\n")
        print("| optimizer | implementation | time per epoch | sklearn ÷ this | this ÷ mlpext f64 | floor |")
        print("|---|---|---:|---:|---:|---|")
    else:
        print(machine)
        print(setup)
    for optimizer, (per_epoch, drift) in results.items():
        base = per_epoch["mlpext f64"]
        sk = per_epoch.get("sklearn f64")
        floor = FLOORS[optimizer]
        if not args.markdown:
            print(f"\n{optimizer}  (mlpext vs NumPy reference, first epochs' losses: max rel. diff {drift:.1e})")
            print(f"  {'implementation':<16} {'per epoch':>10} {'sklearn ÷ this':>15} {'this ÷ mlpext f64':>18}")
        for name, seconds in per_epoch.items():
            vs_sk = f"{sk / seconds:.1f}×" if sk else "—"
            verdict = ""
            if name == "mlpext f64" and sk:
                verdict = f"floor {floor:.0f}×: " + ("meets" if sk / seconds >= floor else "BELOW")
            if args.markdown:
                print(f"| {optimizer} | {name} | {format_time(seconds)} | {vs_sk} | {seconds / base:.2f}× | "
                      f"{verdict or '—'} |")
            else:
                print(f"  {name:<16} {format_time(seconds):>10} {vs_sk:>15} {seconds / base:>17.2f}×  {verdict}")
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    tolerant_stdout()
    sys.exit(main())
