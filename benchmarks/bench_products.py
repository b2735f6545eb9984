"""The dense layer's products against the machine's FMA peak and NumPy's BLAS, in one run.

    python benchmarks/bench_products.py [--size 1024] [--threads 2] [--markdown] [--isa avx2]

Builds benchmarks/products.c with the C core (cc, the shipped build's flags; x86-64 with GCC or Clang) and runs
it: the FMA peak of 1 and --threads cores (independent vector FMAs of the widest set the CPU has, all cores at
once, best of 3) and the three float32 products of a (size, size) layer — X·W + b, D·Wᵀ and Xᵀ·D with the bias
gradient's column sums — through the core's kernels on 1 and --threads threads. Then times NumPy's np.matmul on the same
products, its BLAS on as many threads (set OPENBLAS_NUM_THREADS before running to change that; the script leaves
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for NumPy, as the suite does). Prints GFLOP/s (best / first quartile
/ median of 30) and each product's first quartile as a share of the peak. Nothing is asserted.
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

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "examples"))

from demo import machine_line  # noqa: E402

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


def run_numpy(size):
    """{name: (best, q25, median)} for np.matmul with NumPy's BLAS threads."""
    rng = np.random.default_rng(1)
    X, W, D = (rng.uniform(-0.5, 0.5, (size, size)).astype(np.float32) for _ in range(3))
    C = np.empty((size, size), np.float32)
    cases = {"X.W+b": lambda: np.matmul(X, W, out=C), "D.W^T": lambda: np.matmul(D, W.T, out=C),
             "X^T.D+colsums": lambda: (np.matmul(X.T, D, out=C), D.sum(axis=0))}
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
    numpy_rows = run_numpy(args.size)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.isa == "avx2":
        print("held to AVX2: mlpext's AVX2 kernels, the AVX2 FMA peak, OpenBLAS's "
              + "/".join(blas_kernels()) + " kernels")
    print(f"FMA peak, float32: " + ", ".join(f"{p:.0f} GFLOP/s on {t} core{'s' if t > 1 else ''}"
                                             for t, p in sorted(peaks.items())))
    n = args.size
    head = f"{n}³ float32, GFLOP/s (best / first quartile / median)"
    if args.markdown:
        print(f"\n| {head} | threads | mlpext | share of the peak | NumPy (`np.matmul`, {args.threads} BLAS threads) |")
        print("|---|---:|---:|---:|---:|")
    else:
        print(f"\n{head}")
    for (name, threads), (best, q25, median) in sorted(core.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        share = q25 / peaks[threads] if peaks.get(threads) else float("nan")
        numpy_text = ("/".join(f"{x:.0f}" for x in numpy_rows[name]) if threads == args.threads else "")
        mine = f"{best:.0f} / {q25:.0f} / {median:.0f}"
        if args.markdown:
            print(f"| `{name}` | {threads} | {mine} | {share:.0%} | {numpy_text.replace('/', ' / ')} |")
        else:
            print(f"  {name:<14} {threads} thread(s): mlpext {mine} ({share:.0%} of peak)"
                  + (f"; NumPy {numpy_text}" if numpy_text else ""))


if __name__ == "__main__":
    main()
