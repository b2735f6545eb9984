"""mlpext's demo: the lecture's XOR network trained by NumPy and by mlpext, then the two timed.

    pip install . && python examples/demo.py

1. Runs examples/lecture_numpy.py (the lecture's script, seed 0) and examples/lecture_mlpext.py (the same script
   with mlpext doing forward, backward and update) and prints both outputs, labelled, and how far apart the two
   trained networks are.
2. Times the lecture's training loop in NumPy against mlpext in three modes and prints the time per epoch and the
   speed-up of each:
     phases      the lecture's loop with mlpext.forward / mlpext.backward / mlpext.update (lecture_mlpext.py)
     train_step  a Python loop of mlpext.train_step: one C call per epoch
     train       mlpext.train: the whole loop in one C call

The timing functions below are also what benchmarks/bench_lecture.py measures (it imports this file).
Takes a few seconds. Its output may be redirected to a file on any system: where stdout's encoding lacks a
character it prints (the Korean Windows code page cp949 has no "—" or "µ"), it prints the ASCII form
(tolerant_stdout, which the benchmark scripts use too).
"""
import codecs
import contextlib
import gc
import io
import os
import platform
import runpy
import sys
import time

import numpy as np

import mlpext

HERE = os.path.dirname(os.path.abspath(__file__))

# The lecture's hyperparameters and data (examples/lecture_numpy.py).
INPUT_SIZE, HIDDEN_SIZE, OUTPUT_SIZE = 2, 3, 1
LEARNING_RATE = 0.5
EPOCHS = 10000
SEED = 0


def lecture_arrays(seed=SEED):
    """The lecture's X, y (integer arrays, as on its slides) and W1, b1, W2, b2 (float64), drawn as
    np.random.seed(seed) followed by the lecture's four np.random.randn calls would draw them."""
    rng = np.random.RandomState(seed)  # the same stream as np.random.seed(seed); np.random.randn(...)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    W1 = rng.randn(INPUT_SIZE, HIDDEN_SIZE)
    b1 = rng.randn(HIDDEN_SIZE)
    W2 = rng.randn(HIDDEN_SIZE, OUTPUT_SIZE)
    b2 = rng.randn(OUTPUT_SIZE)
    return X, y, W1, b1, W2, b2


# ---------------------------------------------------------------------------------------------------------------
# The four training loops that are timed. Each runs `epochs` epochs of the lecture's loop in place on W1, b1, W2, b2,
# computing the loss every 1000th epoch as the lecture does (without printing it).
# ---------------------------------------------------------------------------------------------------------------

def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x):
    return x * (1 - x)


def numpy_loop(X, y, W1, b1, W2, b2, learning_rate, epochs):
    """The lecture's loop, as on its slides."""
    for epoch in range(epochs):
        hidden_output = np.dot(X, W1) + b1
        hidden_activation = sigmoid(hidden_output)
        output_output = np.dot(hidden_activation, W2) + b2
        predicted_output = sigmoid(output_output)

        error_output = y - predicted_output
        delta_output = error_output * sigmoid_derivative(predicted_output)
        error_hidden = np.dot(delta_output, W2.T)
        delta_hidden = error_hidden * sigmoid_derivative(hidden_activation)

        W2 += np.dot(hidden_activation.T, delta_output) * learning_rate
        b2 += np.sum(delta_output, axis=0) * learning_rate
        W1 += np.dot(X.T, delta_hidden) * learning_rate
        b1 += np.sum(delta_hidden, axis=0) * learning_rate

        if epoch % 1000 == 0:
            loss = np.mean(np.abs(error_output))  # noqa: F841 (the lecture prints it)


def phases_loop(X, y, W1, b1, W2, b2, learning_rate, epochs):
    """The lecture's loop with mlpext doing its three phases (examples/lecture_mlpext.py)."""
    for epoch in range(epochs):
        hidden_activation, predicted_output = mlpext.forward(X, W1, b1, W2, b2)
        delta_output, delta_hidden = mlpext.backward(y, hidden_activation, predicted_output, W2)
        mlpext.update(X, hidden_activation, delta_output, delta_hidden, W1, b1, W2, b2, learning_rate)

        if epoch % 1000 == 0:
            loss = np.mean(np.abs(y - predicted_output))  # noqa: F841


def train_step_loop(X, y, W1, b1, W2, b2, learning_rate, epochs):
    """One C call per epoch; it returns the loss of every epoch."""
    for epoch in range(epochs):
        loss = mlpext.train_step(X, y, W1, b1, W2, b2, learning_rate)  # noqa: F841


def train_loop(X, y, W1, b1, W2, b2, learning_rate, epochs):
    """The whole loop in one C call (the lecture's printing would be log_every=1000)."""
    mlpext.train(X, y, W1, b1, W2, b2, learning_rate, epochs)


MODES = [("numpy", numpy_loop), ("phases", phases_loop), ("train_step", train_step_loop), ("train", train_loop)]


# The pause benchmarks/run.py makes before each timed run of a network large enough for threads, so that each
# implementation has the machine to itself: the threads of the run before go idle instead of taking a core from
# the run being timed. mlpext's helpers poll for the next product for half a millisecond; NumPy's OpenBLAS threads
# spin for about 0.1 s after its last multithreaded product (measured: a two-thread mlpext run of the 784-128-10
# network started 5–80 ms after the NumPy loop took 390 µs an epoch, 0.12–0.3 s after it 290–300 µs, as alone).
# The lecture's XOR needs none: neither side uses threads there.
SETTLE = 0.3


def time_modes(epochs=EPOCHS, repeats=5, modes=MODES, arrays=None, learning_rate=LEARNING_RATE, settle=0.0):
    """Best-of-`repeats` wall time (time.perf_counter) of `epochs` epochs of each mode, every run starting from the
    same initial weights: `arrays` = (X, y, W1, b1, W2, b2), the lecture's (lecture_arrays()) by default. The modes
    take turns within each repeat, each after a pause of `settle` seconds (see SETTLE), and the garbage collector is
    off while a run is timed (as in timeit). Returns {mode: seconds per epoch}."""
    X, y, *params = lecture_arrays() if arrays is None else arrays
    best = {name: float("inf") for name, _ in modes}
    for name, loop in modes:  # warm-up: first calls, caches, CPU clock
        loop(X, y, *[p.copy() for p in params], learning_rate, min(epochs, 200))
    for _ in range(repeats):
        for name, loop in modes:
            run = [p.copy() for p in params]
            time.sleep(settle)
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                t0 = time.perf_counter()
                loop(X, y, *run, learning_rate, epochs)
                elapsed = time.perf_counter() - t0
            finally:
                if gc_was_enabled:
                    gc.enable()
            best[name] = min(best[name], elapsed)
    return {name: seconds / epochs for name, seconds in best.items()}


def format_time(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.0f} ns"


# ---------------------------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def blas_info():
    """NumPy's BLAS, from threadpoolctl (with its thread count) when installed, else numpy.show_config."""
    try:
        from threadpoolctl import threadpool_info

        libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if libs:
            i = libs[0]
            return f"{i.get('internal_api')} {i.get('version')}, {i.get('num_threads')} threads"
    except ImportError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older NumPy: no mode="dicts"
        return "unknown"


def machine_info():
    """{'cpu', 'cores', 'python', 'numpy', 'blas', 'mlpext'}"""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "mlpext": getattr(mlpext, "__version__", "?"),
    }


def machine_line(info=None):
    i = info or machine_info()
    return (f"{i['cpu']}, {i['cores']} cores; Python {i['python']}, NumPy {i['numpy']} ({i['blas']} BLAS); "
            f"mlpext {i['mlpext']}")


# ---------------------------------------------------------------------------------------------------------------
# Printing where the output cannot show every character
# ---------------------------------------------------------------------------------------------------------------

# Output redirected to a file or a pipe is encoded in the locale's code page, and on a Korean or a Japanese Windows
# (cp949, cp932) that has no "—" or "µ": print() would raise UnicodeEncodeError. Where stdout lacks a character
# these scripts print, it prints the character's ASCII form instead ("?" for any other).
ASCII_FORMS = {"—": "-", "–": "-", "−": "-", "×": "x", "µ": "u", "≥": ">=", "≤": "<=", "÷": "/", "…": "..."}


def _ascii_forms(error):
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(ASCII_FORMS.get(c, "?") for c in error.object[error.start:error.end]), error.end


def tolerant_stdout():
    """From now on, stdout prints the ASCII forms of the characters its encoding lacks instead of failing (a
    console shows them all: nothing changes there, nor where the encoding is UTF-8)."""
    codecs.register_error("mlpext_ascii_forms", _ascii_forms)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="mlpext_ascii_forms")


# ---------------------------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------------------------

def run_script(name):
    """Runs examples/<name> as a script; returns (its printed output, its global variables)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        variables = runpy.run_path(os.path.join(HERE, name), run_name="__main__")
    return out.getvalue(), variables


def indent(text, prefix="    "):
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


def main():
    print("mlpext demo — the lecture's NumPy MLP (XOR, 2-3-1, sigmoid), learning_rate 0.5, 10000 epochs, seed 0")
    print(machine_line())

    text_numpy, numpy_vars = run_script("lecture_numpy.py")
    text_mlpext, mlpext_vars = run_script("lecture_mlpext.py")
    print("\n=== The lecture's script in NumPy (examples/lecture_numpy.py) ===\n")
    print(indent(text_numpy))
    print("=== The same script, mlpext doing forward/backward/update (examples/lecture_mlpext.py) ===\n")
    print(indent(text_mlpext))
    same = "identical" if text_numpy == text_mlpext else "DIFFERENT"
    gap = max(float(np.max(np.abs(numpy_vars[k] - mlpext_vars[k]))) for k in ("W1", "b1", "W2", "b2"))
    print(f"Printed outputs: {same}. Trained weights: max |NumPy - mlpext| = {gap:.1e} after 10000 epochs.")

    epochs, repeats = EPOCHS, 7
    print(f"\n=== Time per epoch (best of {repeats} runs of {epochs} epochs, float64, batch 4) ===\n")
    per_epoch = time_modes(epochs, repeats)
    base = per_epoch["numpy"]
    labels = {
        "numpy": "NumPy, the lecture's loop",
        "phases": "mlpext forward/backward/update",
        "train_step": "mlpext.train_step loop",
        "train": "mlpext.train (one call)",
    }
    print(f"    {'mode':<32} {'per epoch':>10} {'10000 epochs':>13} {'speed-up':>9}")
    for name, seconds in per_epoch.items():
        print(f"    {labels[name]:<32} {format_time(seconds):>10} {format_time(seconds * EPOCHS):>13} "
              f"{base / seconds:>8.1f}×")
    print("\nMore: python benchmarks/bench_lecture.py --help; the figures are in docs/benchmarks.md.")
    return 0 if text_numpy == text_mlpext else 1


if __name__ == "__main__":
    tolerant_stdout()
    sys.exit(main())
