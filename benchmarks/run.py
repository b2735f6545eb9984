"""mlpext's benchmark suite: every workload, NumPy against mlpext (and PyTorch, scikit-learn) in one run.

    python benchmarks/run.py [--quick] [--repeats N] [--only NAME ...] [--no-write] [--no-callgrind]
                              [--torch-threads N]

Workloads (NAME for --only), each timed per epoch:

    xor      the lecture's XOR: 2-3-1 sigmoid, batch 4, float64, 10000 epochs. mlpext.train, a train_step loop and
             the phase-by-phase loop (forward/backward/update) against the lecture's NumPy loop (the loops of
             examples/demo.py, as benchmarks/bench_lecture.py times them).
    small    a 2-layer sigmoid network 64-32-10, batch 32, float32.
    mnist    784-128-10, batch 128, float32 (MNIST-sized, random data).
    wide     1024-1024-1024, batch 1024, float32 (a couple of epochs).
             For small, mnist and wide: mlpext.train (and a train_step loop) against the lecture's loop in NumPy
             through mlpext.reference (reference.train: forward, backward, update and the loss, every epoch),
             on the same data and initial weights (benchmarks/bench_threads.py's make()), learning rate 0.01.
    digits   scikit-learn's digits, 64-64-10 relu/softmax, cross-entropy, batch 32, Adam (lr 1e-3), shuffled
             mini-batches: mlpext.MLP.fit against scikit-learn's MLPClassifier and the NumPy reference network
             (benchmarks/bench_mlp.py's runners). Needs scikit-learn (for the data); skipped without it.

PyTorch, when importable, runs each workload too, with torch.set_num_threads equal to NumPy's BLAS thread count
(or --torch-threads N; mlpext splits products of at least 2**20 multiply-adds among up to MLPEXT_NUM_THREADS
threads, by default the CPUs), and OMP_WAIT_POLICY=PASSIVE unless set (so that its
idle threads do not spin on the cores NumPy's BLAS threads need). For the sigmoid networks it runs the lecture's
computation written with tensor operations under torch.no_grad() (no autograd): the same forward pass,
δ = (y − ŷ)·ŷ(1 − ŷ), W += lr·Aᵀδ (which is gradient descent on ½·Σ(y − ŷ)²) and the per-epoch loss mean|y − ŷ|
that mlpext.train returns. For digits it runs the usual PyTorch loop (nn.Linear, F.cross_entropy, autograd,
torch.optim.Adam) in float32, on the same mini-batch size and epochs.

Every implementation of a workload is timed in the same run: best of --repeats runs (time.perf_counter, garbage
collector off, implementations taking turns after a warm-up; for the sigmoid networks each run starts after a 0.3 s
pause that lets the threads of the run before go idle (OpenBLAS's spin for about 0.1 s after NumPy's last
product; examples/demo.py's SETTLE). The table gives each one's time per epoch and
speed-up over the NumPy loop, against the project's floors. The floors are reported, never asserted: the exit
status is 0 whatever the figures.

Unless --no-callgrind, the XOR mlpext.train loop is also counted under valgrind's callgrind (instructions per
epoch: the difference of two runs of different lengths, counting only inside the train call), a figure free of
machine noise to guard against regressions. valgrind does not emulate AVX-512, so there the CPU dispatch takes
the AVX2 (or SSE2) kernels; the count is for that path.

Unless --no-write, the results replace the "Benchmark suite" section of docs/benchmarks.md (between its markers)
and docs/speedup.png is redrawn (needs matplotlib).
"""
import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, os.pardir))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, HERE)

import mlpext  # noqa: E402
from mlpext import reference  # noqa: E402
import bench_mlp  # noqa: E402
from bench_threads import make  # noqa: E402
from demo import (  # noqa: E402
    LEARNING_RATE, SETTLE, format_time, lecture_arrays, machine_info, machine_line, phases_loop, time_modes, train_loop,
    train_step_loop, numpy_loop,
)

DOC = os.path.join(ROOT, "docs", "benchmarks.md")
PLOT = os.path.join(ROOT, "docs", "speedup.png")
BEGIN = "<!-- benchmark-suite:begin (written by benchmarks/run.py; reruns replace it) -->"
END = "<!-- benchmark-suite:end -->"

# Implementations: key -> label (the table's and the plot's series).
LABELS = {
    "numpy": "NumPy loop",
    "phases": "mlpext forward/backward/update",
    "train_step": "mlpext.train_step loop",
    "train": "mlpext.train",
    "fit f64": "mlpext.MLP.fit f64",
    "fit f32": "mlpext.MLP.fit f32",
    "mlpext.sklearn": "mlpext.sklearn.MLPClassifier",
    "sklearn": "scikit-learn MLPClassifier",
    "torch": "PyTorch",
}


def label(w, name):
    """The implementation's name in the table and the plot (digits' NumPy is the reference network)."""
    if w.name == "digits" and name == "numpy":
        return "NumPy (reference_net.NumpyMLP)"
    if w.name == "digits" and name == "torch":
        return "PyTorch (autograd, Adam)"
    return LABELS[name]


class Workload:
    def __init__(self, name, title, sizes, rows, dtype, epochs, quick_epochs, floors, baseline="numpy"):
        self.name, self.title, self.sizes, self.rows, self.dtype = name, title, sizes, rows, dtype
        self.epochs, self.quick_epochs = epochs, quick_epochs
        self.floors = floors  # {implementation: minimum speed-up over `baseline`}
        self.baseline = baseline
        self.check = None  # how far the other implementations' first losses are from NumPy's (check_same_losses)

    def multiply_adds(self):
        """Multiply-adds per epoch of the 2-layer network: forward n·(in·h + h·out), δ_hidden n·out·h, and the
        weight gradients n·(in·h + h·out)."""
        n_in, hidden, n_out = self.sizes
        return self.rows * (2 * n_in * hidden + 3 * hidden * n_out)


DIGITS_SAMPLES = 1797  # one epoch of the digits workload goes through every sample

WORKLOADS = [
    Workload("xor", "lecture XOR 2-3-1, batch 4, float64", (2, 3, 1), 4, np.float64, 10000, 2000,
             {"train": 500.0, "train_step": 100.0, "phases": 40.0}),
    Workload("small", "sigmoid 64-32-10, batch 32, float32", (64, 32, 10), 32, np.float32, 2000, 300,
             {"train": 5.0}),
    Workload("mnist", "sigmoid 784-128-10, batch 128, float32", (784, 128, 10), 128, np.float32, 40, 5,
             {"train": 1.2}),
    Workload("wide", "sigmoid 1024-1024-1024, batch 1024, float32", (1024, 1024, 1024), 1024, np.float32, 2, 1,
             {"train": 0.95}),
    Workload("digits", "digits 64-64-10, batch 32, Adam", (64, 64, 10), DIGITS_SAMPLES, np.float64, 20, 3,
             {"fit f64": bench_mlp.FLOORS["adam"]}, baseline="sklearn"),
]


# ---------------------------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------------------------

def import_torch():
    # PyTorch's OpenMP threads otherwise spin after each operation, taking the cores from NumPy's BLAS threads
    # (and the reverse) while the implementations take turns in one process.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_lecture_loop(torch):
    """The lecture's loop in PyTorch tensor operations (no autograd), with the signature of demo.py's loops."""
    def loop(X, y, W1, b1, W2, b2, learning_rate, epochs):
        dtype = torch.float64 if W1.dtype == np.float64 else torch.float32
        X = torch.as_tensor(np.asarray(X, dtype=W1.dtype), dtype=dtype)
        y = torch.as_tensor(np.asarray(y, dtype=W1.dtype), dtype=dtype)
        W1, b1, W2, b2 = (torch.from_numpy(p) for p in (W1, b1, W2, b2))  # in place on the NumPy arrays
        losses = torch.empty(epochs, dtype=torch.float64)
        with torch.no_grad():
            for epoch in range(epochs):
                hidden_activation = torch.sigmoid(torch.addmm(b1, X, W1))
                predicted_output = torch.sigmoid(torch.addmm(b2, hidden_activation, W2))
                error_output = y - predicted_output
                delta_output = error_output * predicted_output * (1 - predicted_output)
                delta_hidden = (delta_output @ W2.T) * hidden_activation * (1 - hidden_activation)
                W2.add_(hidden_activation.T @ delta_output, alpha=learning_rate)
                b2.add_(delta_output.sum(0), alpha=learning_rate)
                W1.add_(X.T @ delta_hidden, alpha=learning_rate)
                b1.add_(delta_hidden.sum(0), alpha=learning_rate)
                losses[epoch] = error_output.abs().mean()
        return losses
    return loop


def torch_digits_runner(torch, X, y, epochs, batch_size, hidden, learning_rate):
    """PyTorch's ordinary training loop for the digits network (float32, autograd, torch.optim.Adam)."""
    import torch.nn.functional as F

    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
    yt = torch.as_tensor(y)
    n = Xt.shape[0]

    def run():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(Xt.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        history = []
        for _ in range(epochs):
            order = torch.randperm(n)
            total = 0.0
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                loss = F.cross_entropy(model(Xt[rows]), yt[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(rows)
            history.append(total / n)
        return history
    return run


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [i.get("num_threads") for i in threadpool_info() if i.get("user_api") == "blas"]
    return counts[0] if counts else None


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------

def time_sigmoid(w, epochs, repeats, torch):
    """{implementation: seconds per epoch} for the XOR and sigmoid-network workloads (demo.time_modes)."""
    if w.name == "xor":
        arrays, lr = lecture_arrays(), LEARNING_RATE
        modes = [("numpy", numpy_loop), ("phases", phases_loop), ("train_step", train_step_loop),
                 ("train", train_loop)]
    else:
        X, y, params = make(0, w.sizes, w.rows, w.dtype)
        arrays, lr = (X, y, *params), 0.01
        modes = [("numpy", reference.train), ("train", train_loop)]
        if w.name != "wide":
            modes.insert(1, ("train_step", train_step_loop))
    if torch is not None:
        modes.append(("torch", torch_lecture_loop(torch)))
    check_same_losses(w, arrays, lr, torch)
    return time_modes(epochs, repeats, modes=modes, arrays=arrays, learning_rate=lr,
                      settle=0.0 if w.name == "xor" else SETTLE)


def check_same_losses(w, arrays, lr, torch):
    """Prints how far mlpext's and PyTorch's first epochs' losses are from NumPy's: the same computation."""
    X, y, *params = arrays
    epochs = 1 if w.name == "wide" else 3
    base = reference.train(X, y, *[p.copy() for p in params], lr, epochs)
    others = {"mlpext": mlpext.train(X, y, *[p.copy() for p in params], lr, epochs)}
    if torch is not None:
        others["PyTorch"] = torch_lecture_loop(torch)(X, y, *[p.copy() for p in params], lr, epochs).numpy()
    gaps = ", ".join(f"{name} {np.max(np.abs(losses - base) / np.abs(base)):.1e}" for name, losses in others.items())
    w.check = f"{w.name} ({epochs} epochs): {gaps}"
    print(f"  same computation? max relative difference of the first epochs' losses from NumPy's, {w.check}")


def time_digits(w, epochs, repeats, torch):
    """{implementation: seconds per epoch} for the digits workload (bench_mlp's runners), or None without
    scikit-learn."""
    try:
        X, y = bench_mlp.load_data()
    except ImportError:
        return None
    hidden = w.sizes[1]
    drift = bench_mlp.check_same_training("adam", X, y, 3, 32, hidden)
    w.check = f"digits (3 epochs, NumpyMLP): mlpext f64 {drift:.1e}"
    print(f"  same computation? {w.check}")
    runners = bench_mlp.make_runners("adam", X, y, epochs, 32, hidden)
    keys = {"mlpext f64": "fit f64", "mlpext f32": "fit f32", "numpy f64": "numpy", "sklearn f64": "sklearn",
            "mlpext.sklearn": "mlpext.sklearn"}
    runners = {keys[name]: run for name, run in runners.items()}
    if torch is not None:
        runners["torch"] = torch_digits_runner(torch, X, y, epochs, 32, hidden, bench_mlp.LEARNING_RATES["adam"])
    best = bench_mlp.time_runners(runners, repeats)
    return {name: seconds / epochs for name, seconds in best.items()}


def measure(w, quick, repeats, torch):
    epochs = w.quick_epochs if quick else w.epochs
    with np.errstate(over="ignore"):  # NumPy's sigmoid: exp(-z) overflows to inf for z < -88 (float32), giving 0
        per_epoch = (time_digits if w.name == "digits" else time_sigmoid)(w, epochs, repeats, torch)
    return epochs, per_epoch


def rows(w, per_epoch):
    """(implementation, seconds, speed-up over NumPy, floor text, verdict) for each implementation."""
    base = per_epoch["numpy"]
    for name, seconds in per_epoch.items():
        floor = w.floors.get(name)
        floor_text = verdict = ""
        if floor is not None:
            ratio = per_epoch[w.baseline] / seconds if w.baseline in per_epoch else None
            floor_text = f"≥ {floor:g}×" + ("" if w.baseline == "numpy" else f" over {w.baseline}")
            if ratio is None:
                verdict = "n/a"
            else:
                verdict = "meets" if ratio >= floor else "BELOW"
                if w.baseline != "numpy":
                    verdict += f" ({ratio:.1f}×)"
        yield name, seconds, base / seconds, floor_text, verdict


# ---------------------------------------------------------------------------------------------------------------
# Callgrind
# ---------------------------------------------------------------------------------------------------------------

CALLGRIND_SCRIPT = """\
import sys
sys.path.insert(0, {examples!r})
import mlpext
from mlpext import _core
from demo import LEARNING_RATE, lecture_arrays
X, y, *params = lecture_arrays()
mlpext.train(X, y, *params, LEARNING_RATE, int(sys.argv[1]))
print(_core.build_info()["simd"])
"""
CALLGRIND_EPOCHS = (1000, 11000)


def callgrind_count(script, epochs, toggle, workdir):
    out = os.path.join(workdir, f"callgrind.{epochs}.{int(toggle)}.out")
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    if toggle:
        command.append("--toggle-collect=py_train")  # only inside the train call (the binding's function)
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run(command + [sys.executable, script, str(epochs)], capture_output=True, text=True, env=env,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"valgrind exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    with open(out) as f:
        totals = [line for line in f if line.startswith("totals:") or line.startswith("summary:")]
    return int(totals[-1].split()[1]), done.stdout.strip().splitlines()[-1]


def callgrind():
    """{'per_epoch', 'per_call', 'simd', 'scope'} for the XOR mlpext.train loop, or {'skipped': reason}."""
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed"}
    e1, e2 = CALLGRIND_EPOCHS
    with tempfile.TemporaryDirectory() as workdir:
        script = os.path.join(workdir, "train_xor.py")
        with open(script, "w") as f:
            f.write(CALLGRIND_SCRIPT.format(examples=os.path.join(ROOT, "examples")))
        try:
            scope = "inside mlpext.train's C function (callgrind --toggle-collect=py_train)"
            (ir1, simd), (ir2, _) = (callgrind_count(script, e, True, workdir) for e in (e1, e2))
            if ir1 == 0:  # the binding's symbol is stripped: count the whole process
                scope = "whole process"
                (ir1, simd), (ir2, _) = (callgrind_count(script, e, False, workdir) for e in (e1, e2))
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
            return {"skipped": f"callgrind failed: {error}"}
    per_epoch = (ir2 - ir1) / (e2 - e1)
    return {"per_epoch": per_epoch, "per_call": ir1 - e1 * per_epoch, "simd": simd, "scope": scope,
            "epochs": (e1, e2)}


def callgrind_text(cg):
    if "skipped" in cg:
        return f"callgrind: skipped ({cg['skipped']})"
    e1, e2 = cg["epochs"]
    return (f"callgrind, XOR mlpext.train: {cg['per_epoch']:,.0f} instructions per epoch "
            f"((Ir({e2}) − Ir({e1})) / {e2 - e1} epochs, counted {cg['scope']}; about {cg['per_call']:,.0f} "
            f"more per call). Kernels under valgrind: {cg['simd']} — valgrind does not emulate AVX-512, so the "
            f"CPU dispatch takes another path there than on an AVX-512 machine.")


# ---------------------------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------------------------

def print_table(results):
    print(f"{'workload':<52} {'implementation':<30} {'per epoch':>10} {'vs NumPy':>9}  {'floor':<22} verdict")
    for w, epochs, per_epoch in results:
        title = f"{w.title} ({epochs} ep.)"
        for name, seconds, ratio, floor_text, verdict in rows(w, per_epoch):
            print(f"{title:<52} {label(w, name):<30} {format_time(seconds):>10} {ratio:>8.2f}×  {floor_text:<22} "
                  f"{verdict}")
            title = ""


def versions(torch):
    out = {"scikit-learn": bench_mlp.versions()["sklearn"], "PyTorch": "not installed"}
    if torch is not None:
        out["PyTorch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    return out


def git_commit():
    try:
        done = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout.strip() or None


def markdown_section(results, cg, info, torch, repeats, quick, load):
    extra = versions(torch)
    commit = git_commit()
    lines = [
        BEGIN,
        "## Benchmark suite (`python benchmarks/run.py`)",
        "",
        "Every workload, every implementation timed in the same run: best of "
        f"{repeats} runs per implementation, time per epoch, garbage collector off, implementations taking turns "
        "after a warm-up" + (" (`--quick`: fewer epochs)" if quick else "") + ". The speed-up is over the "
        "workload's NumPy loop; the floors are the project's targets, reported and never asserted. "
        "`python benchmarks/run.py --help` describes each workload and implementation; "
        "`--only NAME`, `--quick`, `--repeats N` and `--no-write` (print only) shorten a run. This section and "
        "[speedup.png](speedup.png) are rewritten by each run without `--no-write`.",
        "",
        f"Machine: {machine_line(info)}; scikit-learn {extra['scikit-learn']}; PyTorch {extra['PyTorch']}  ",
        f"Date: {datetime.date.today().isoformat()}" + (f", commit `{commit}`" if commit else "") + "  ",
        f"Load average (1 min) before / after the run: {load[0]:.2f} / {os.getloadavg()[0]:.2f} (the run itself adds "
        "1 to 2). The machine is shared; other work on a core hurts most the implementations that use two threads.  ",
        "mlpext splits products of at least 2^20 multiply-adds, in parts of at least 48 rows, among the CPUs "
        "(here the 784-128-10 and 1024-wide networks'; MLPEXT_NUM_THREADS caps it), and runs the rest on one "
        "thread; NumPy (and so scikit-learn) uses its BLAS's threads as configured; PyTorch is set to the same "
        "number of threads, with `OMP_WAIT_POLICY=PASSIVE`. Each timed run of the sigmoid networks starts 0.3 s after "
        "the previous one, when the threads of the previous one have gone idle. Two-thread figures can swing "
        "several-fold between runs when another process holds one of the two cores, even as a best of several "
        "runs; single-thread figures move by about 10 %. Compare the larger networks' ratios across runs with "
        "care: the callgrind count below is the noise-free guard.",
        "",
        "| workload | implementation | time per epoch | speed-up over NumPy | floor | |",
        "|---|---|---:|---:|---|---|",
    ]
    for w, epochs, per_epoch in results:
        title = f"{w.title} ({epochs} epochs)"
        for name, seconds, ratio, floor_text, verdict in rows(w, per_epoch):
            lines.append(f"| {title} | {label(w, name)} | {format_time(seconds)} | {ratio:.2f}× | "
                         f"{floor_text or '—'} | {verdict} |")
            title = ""
    lines += [
        "",
        "The NumPy loop: the lecture's loop as on its slides for XOR (`examples/demo.py`), `mlpext.reference.train`"
        " (forward, backward, update and the loss, in NumPy) for the other sigmoid networks, and "
        "`mlpext.reference.NumpyMLP.fit` for digits. PyTorch runs the lecture's update with tensor operations "
        "under `torch.no_grad()` for the sigmoid networks (the same computation, no autograd) and its ordinary "
        "autograd + `torch.optim.Adam` loop, in float32, for digits. scikit-learn has no network with the "
        "lecture's sigmoid output and squared error, so it runs the digits workload only.",
    ]
    checks = [w.check for w, _, _ in results if w.check]
    if checks:
        lines += ["", "The same computation: the largest relative difference between the first epochs' losses of "
                  "mlpext (and PyTorch) and NumPy's, from the same initial weights: " + "; ".join(checks) + "."]
    lines += [
        "",
        f"Regression guard (machine-noise free): {callgrind_text(cg)}",
        "",
        "![Speed-up over NumPy against network size](speedup.png)",
        END,
    ]
    return "\n".join(wrap(line) for line in lines) + "\n"


def wrap(line, width=115):
    """A prose line of the section wrapped as the docs are (tables, headings and forced breaks left alone)."""
    if line.startswith(("|", "#", "!", "<")) or line.endswith("  ") or len(line) <= width:
        return line
    return textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)


def write_doc(section):
    with open(DOC) as f:
        text = f.read()
    pattern = re.compile(re.escape(BEGIN.split(" (")[0]) + r".*?" + re.escape(END) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(DOC, "w") as f:
        f.write(text)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {}
    for w, _, per_epoch in results:
        base = per_epoch["numpy"]
        for name, seconds in per_epoch.items():
            if name != "numpy":
                series.setdefault(label(w, name), []).append((w.multiply_adds(), base / seconds, w.name))
    fig, ax = plt.subplots(figsize=(8, 5.5))
    markers = iter("os^vDP*Xh<>")
    for name, points in series.items():
        points.sort()
        xs, ys, _ = zip(*points)
        ax.plot(xs, ys, marker=next(markers), label=name)
    labelled = set()
    for points in series.values():
        for x, y, workload in points:
            if workload not in labelled:
                ax.annotate(workload, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8, color="0.3")
                labelled.add(workload)
    ax.axhline(1.0, color="0.5", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("network size: multiply-adds per epoch")
    ax.set_ylabel("speed-up over the NumPy loop (×)")
    ax.set_title("mlpext and competitors against NumPy, per epoch (digits: against NumpyMLP)", fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    names = [w.name for w in WORKLOADS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and 2 repeats: a sanity run")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per implementation (default 5; 2 "
                        "with --quick)")
    parser.add_argument("--only", action="append", choices=names, metavar="NAME",
                        help=f"run only this workload (repeatable): {', '.join(names)}")
    parser.add_argument("--no-write", action="store_true", help="print only: leave docs/ untouched")
    parser.add_argument("--no-callgrind", action="store_true", help="skip the callgrind instruction count")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="PyTorch's thread count (default: NumPy's BLAS thread count)")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    if repeats < 1:
        parser.error("--repeats must be at least 1")

    torch = import_torch()
    if torch is not None:
        threads = args.torch_threads or blas_threads()
        if threads:
            torch.set_num_threads(threads)
    info = machine_info()
    load = os.getloadavg()
    print(machine_line(info) + f"; load average {load[0]:.2f}")
    print("; ".join(f"{k} {v}" for k, v in versions(torch).items()))
    if torch is None:
        print("PyTorch is not importable: its rows are skipped")

    results = []
    for w in WORKLOADS:
        if args.only and w.name not in args.only:
            continue
        epochs, per_epoch = measure(w, args.quick, repeats, torch)
        if per_epoch is None:
            print(f"{w.name}: skipped (needs scikit-learn: pip install scikit-learn)")
            continue
        results.append((w, epochs, per_epoch))
        print(f"  measured {w.name}", file=sys.stderr)
    print(f"\nbest of {repeats} runs; time per epoch; floors are reported, never asserted\n")
    print_table(results)

    if args.no_callgrind or (args.only and "xor" not in args.only):
        cg = {"skipped": "--no-callgrind" if args.no_callgrind else "xor not selected"}
    else:
        cg = callgrind()
    print("\n" + callgrind_text(cg))

    if not args.no_write and results:
        write_doc(markdown_section(results, cg, info, torch, repeats, args.quick, load))
        print(f"\nwrote the suite's section of {os.path.relpath(DOC)}")
        try:
            plot(results, PLOT)
            print(f"wrote {os.path.relpath(PLOT)}")
        except ImportError:
            print("matplotlib is not installed: docs/speedup.png not redrawn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
