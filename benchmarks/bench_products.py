"""The dense layer's products against the machine's FMA peak, NumPy's BLAS and PyTorch's, in one run.

    python benchmarks/bench_products.py [--size 1024] [--threads 2] [--markdown] [--isa avx2]

Builds benchmarks/products.c with the C core (cc, the shipped build's flags; x86-64 with GCC or Clang) and runs
it: the FMA peak of 1 and --threads cores (independent vector FMAs of the widest set the CPU has, all cores at
once, best of 3) and the three float32 products of a (size, size) layer — X·W + b, D·Wᵀ and Xᵀ·D with the bias
gradient's column sums, then Xᵀ·D alone (what the sums cost) — through the core's kernels on 1 and --threads
threads. Then times NumPy's np.matmul on the same products, its BLAS on as many threads (set OPENBLAS_NUM_THREADS
before running to change that; the script leaves OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for NumPy, as the
suite does), and PyTorch's torch.matmul (its BLAS, MKL on x86-64) on --threads threads where PyTorch is installed.
Prints GFLOP/s (best / first quartile / median of 30) and each product's first quartile as a share of the peak.
Nothing is asserted.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

for _name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # before NumPy loads OpenBLAS
    os.environ.pop(_name, None)
# --isa avx2 (parsed again by argparse below, after NumPy is imported): OpenBLAS's Haswell kernels, an AVX2-only
# CPU's, as benchmarks/run.py --isa avx2 takes them
if "--isa=avx2" in sys.argv or any(a == "--isa" and b == "avx2" for a, b in zip(sys.argv, sys.argv[1:])):
    os.environ["OPENBLAS_CORETYPE"] = "Haswell"
    os.environ["ATEN_CPU_CAPABILITY"] = "avx2"  # PyTorch's kernels and its MKL, as run.py --isa avx2 holds them
    os.environ["MKL_ENABLE_INSTRUCTIONS"] = "AVX2"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "examples"))

from demo import machine_line, tolerant_stdout  # noqa: E402

CORE = ["activations.c", "dense.c", "kernels.c", "lecture.c", "net.c", "optim.c", "parallel.c"]
FLAGS = ["-std=c11", "-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-pthread"]
REPS = 30


def build(tmp):
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        sys.exit(f"needs a C compiler ({cc})")
    exe = os.path.join(tmp, "products")
    sources = [os.path.join(HERE, "products.c")] + [os.path.join(ROOT, "csrc", f) for f in CORE]
    subprocess.run([cc, *FLAGS, "-I", os.path.join(ROOT, "csrc"), *sources, "-lm", "-o", exe], check=True)
    return exe


def run_core(exe, size, threads, isa="native"):
    """({threads: peak GFLOP/s}, {(name, threads): (best, q25, median)})"""
    command = [exe, str(size), str(threads)] + (["avx2"] if isa == "avx2" else [])
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    peaks, products = {}, {}
    for line in out.splitlines():
        fields = line.split()
        if fields[0] == "peak":
            peaks[int(fields[1])] = float(fields[2])
        elif fields[0] == "product":
            products[(fields[1], int(fields[2]))] = tuple(float(x) for x in fields[3:6])
    return peaks, products


def run_library(size, lib=np):
    """{name: (best, q25, median)} for lib.matmul (NumPy's, or PyTorch's on torch tensors) with its BLAS threads."""
    rng = np.random.default_rng(1)
    X, W, D = (rng.uniform(-0.5, 0.5, (size, size)).astype(np.float32) for _ in range(3))
    C = np.empty((size, size), np.float32)
    if lib is not np:
        X, W, D, C = (lib.from_numpy(a) for a in (X, W, D, C))
    cases = {"X.W+b": lambda: lib.matmul(X, W, out=C), "D.W^T": lambda: lib.matmul(D, W.T, out=C),
             "X^T.D+colsums": lambda: (lib.matmul(X.T, D, out=C), D.sum(0)),
             "X^T.D": lambda: lib.matmul(X.T, D, out=C)}
    flops = 2.0 * size ** 3
    result = {}
    for name, fn in cases.items():
        for _ in range(3):
            fn()
        times = []
        for _ in range(REPS):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        times.sort()
        result[name] = tuple(flops / t / 1e9 for t in (times[0], times[REPS // 4], times[REPS // 2]))
    return result


def blas_kernels():
    """The kernels threadpoolctl reports for NumPy's OpenBLAS (empty without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["(threadpoolctl not installed)"]
    return sorted({str(i.get("architecture")) for i in threadpool_info() if i.get("internal_api") == "openblas"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table for docs/benchmarks.md")
    parser.add_argument("--isa", choices=["native", "avx2"], default="native",
                        help="avx2: the AVX2 kernels and peak, and OpenBLAS's Haswell kernels (an AVX2-only CPU's)")
    args = parser.parse_args()
    print(f"Machine: {machine_line()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        peaks, core = run_core(build(tmp), args.size, args.threads, args.isa)
    numpy_rows = run_library(args.size)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        print(f"PyTorch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
              f"{torch.get_num_threads()} threads")
        time.sleep(1.0)  # OpenBLAS's threads spin a while after NumPy's last product: let them go idle first
    torch_rows = run_library(args.size, torch) if torch is not None else {}
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.isa == "avx2":
        print("held to AVX2: mlpext's AVX2 kernels, the AVX2 FMA peak, OpenBLAS's "
              + "/".join(blas_kernels()) + " kernels")
    print(f"FMA peak, float32: " + ", ".join(f"{p:.0f} GFLOP/s on {t} core{'s' if t > 1 else ''}"
                                             for t, p in sorted(peaks.items())))
    n = args.size
    head = f"{n}³ float32, GFLOP/s (best / first quartile / median)"
    libraries = [("NumPy", "`np.matmul`", numpy_rows)]
    if torch_rows:
        libraries.append(("PyTorch", "`torch.matmul`", torch_rows))
    if args.markdown:
        columns = "".join(f" {label} ({call}, {args.threads} threads) | share |" for label, call, _ in libraries)
        print(f"\n| {head} | threads | mlpext | share of the peak |{columns}")
        print("|---|---:|---:|---:|" + "---:|---:|" * len(libraries))
    else:
        print(f"\n{head}")

    def cell(rows, name, threads):
        """A library's figures for this product and its share of the peak ('' on other thread counts)."""
        if threads != args.threads:
            return "", ""
        return " / ".join(f"{x:.0f}" for x in rows[name]), f"{rows[name][1] / peaks[threads]:.0%}"

    for (name, threads), (best, q25, median) in sorted(core.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        share = q25 / peaks[threads] if peaks.get(threads) else float("nan")
        mine = f"{best:.0f} / {q25:.0f} / {median:.0f}"
        cells = [cell(rows, name, threads) for _, _, rows in libraries]
        if args.markdown:
            print(f"| `{name}` | {threads} | {mine} | {share:.0%} |" + "".join(f" {f} | {sh} |" for f, sh in cells))
        else:
            print(f"  {name:<14} {threads} thread(s): mlpext {mine} ({share:.0%} of peak)"
                  + "".join(f"; {label} {f} ({sh})" for (label, _, _), (f, sh) in zip(libraries, cells) if f))


if __name__ == "__main__":
    tolerant_stdout()
    main()
