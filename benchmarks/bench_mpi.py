"""Data-parallel training on MPI: fit(..., comm=...) on 1 and on 2 ranks of one thread each, and the share of the
time spent in communication.

    python benchmarks/bench_mpi.py [--ranks 1,2] [--repeats 3] [--markdown]

This driver starts `mpiexec -n R python bench_mpi.py --worker ...` for each R (MLPEXT_NUM_THREADS=1, so that R
ranks use R cores), for two float32 workloads of random data, cross-entropy, SGD with momentum, batch 128:

    784-128-10          12,800 rows (100 steps an epoch), 2 epochs     P = 101,770 parameters
    784-1024-1024-10     2,560 rows (20 steps an epoch),  1 epoch      P = 1,863,690 parameters

Each worker times fit(X_mine, y_mine, comm=comm) on its shard (the best of --repeats, after a warm-up epoch) and,
through a communicator whose Allreduce and Bcast are timed, the seconds spent inside MPI calls (which includes
waiting for the slower rank). The 1-rank row also times plain fit() in the same process, the cost of the
distributed loop itself. Prints, per workload and rank count: seconds per step, speed-up over 1 rank, and the
share of each step inside MPI. The exit status is 0 whatever the figures (they depend on the machine and on what
else runs on it). Needs mpi4py and mpiexec (pip install "mlpext[mpi]").
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

WORKLOADS = {
    "784-128-10": {"sizes": [784, 128, 10], "rows": 12800, "epochs": 2},
    "784-1024-1024-10": {"sizes": [784, 1024, 1024, 10], "rows": 2560, "epochs": 1},
}
BATCH = 128


def worker(args):
    from mpi4py import MPI

    import mlpext
    from mlpext.distributed import shard

    class TimedComm(MPI.Intracomm):
        """COMM_WORLD, with the time spent in its Allreduce and Bcast calls added up."""
        seconds = 0.0

        def Allreduce(self, *a, **k):
            started = time.perf_counter()
            try:
                return super().Allreduce(*a, **k)
            finally:
                TimedComm.seconds += time.perf_counter() - started

        def Bcast(self, *a, **k):
            started = time.perf_counter()
            try:
                return super().Bcast(*a, **k)
            finally:
                TimedComm.seconds += time.perf_counter() - started

    comm = TimedComm(MPI.COMM_WORLD)
    rank = comm.Get_rank()
    results = {}
    for name, w in WORKLOADS.items():
        rng = np.random.default_rng(0)
        n = w["rows"]
        X = rng.standard_normal((n, w["sizes"][0])).astype(np.float32)
        y = rng.integers(0, w["sizes"][-1], size=n)
        mine = shard(n, comm)
        Xr, yr = X[mine], y[mine]
        net = mlpext.MLP(w["sizes"], activation="relu", loss="cross_entropy", optimizer="sgd", momentum=0.9,
                         learning_rate=0.01, seed=0)
        net.fit(Xr, yr, epochs=1, batch_size=BATCH, comm=comm)  # warm-up: pages, caches, the MPI's buffers
        best = None
        for _ in range(args.repeats):
            comm.Barrier()
            TimedComm.seconds = 0.0
            started = time.perf_counter()
            net.fit(Xr, yr, epochs=w["epochs"], batch_size=BATCH, comm=comm)
            elapsed = time.perf_counter() - started
            pair = comm.allreduce(elapsed, op=MPI.MAX), comm.allreduce(TimedComm.seconds, op=MPI.MAX)
            best = pair if best is None or pair[0] < best[0] else best
        plain = None
        if comm.Get_size() == 1:
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                net.fit(X, y, epochs=w["epochs"], batch_size=BATCH)
                times.append(time.perf_counter() - started)
            plain = min(times)
        steps = w["epochs"] * -(-n // BATCH)
        params = sum(a.size for pair in net.params for a in pair)
        results[name] = {"seconds": best[0], "mpi_seconds": best[1], "steps": steps, "plain": plain,
                         "params": int(params)}
    if rank == 0:
        print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="1,2", help="rank counts to run (default 1,2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per workload; the best is kept")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    here = os.path.dirname(os.path.abspath(__file__))
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = mpiexec if os.access(mpiexec, os.X_OK) else "mpiexec"
    env = dict(os.environ, MLPEXT_NUM_THREADS="1", OMP_NUM_THREADS="1")
    root = os.path.dirname(here)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    runs = {}
    for ranks in [int(r) for r in args.ranks.split(",")]:
        done = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, os.path.abspath(__file__), "--worker",
                               "--repeats", str(args.repeats)], capture_output=True, text=True, env=env, check=True)
        runs[ranks] = json.loads(done.stdout.strip().splitlines()[-1])
    import platform
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, MLPEXT_NUM_THREADS=1 per rank, float32, batch {BATCH}, "
          f"best of {args.repeats}")
    if args.markdown:
        print("| network (parameters) | ranks | ms per step | speed-up | share of a step in MPI | plain fit, ms per "
              "step |")
        print("|---|---:|---:|---:|---:|---:|")
    for name in WORKLOADS:
        base = runs[min(runs)][name]["seconds"] if 1 in runs else None
        for ranks, result in runs.items():
            r = result[name]
            step_ms = r["seconds"] / r["steps"] * 1e3
            speedup = f"{base / r['seconds']:.2f}x" if base else "-"
            share = f"{r['mpi_seconds'] / r['seconds'] * 100:.0f}%"
            plain = f"{r['plain'] / r['steps'] * 1e3:.2f}" if r["plain"] else "-"
            if args.markdown:
                print(f"| {name} ({r['params']:,}) | {ranks} | {step_ms:.2f} | {speedup} | {share} | {plain} |")
            else:
                print(f"{name:18s} P={r['params']:>9,}  ranks={ranks}  {step_ms:8.2f} ms/step  speed-up {speedup:>6s}"
                      f"  MPI {share:>4s} of a step  plain fit {plain} ms/step")


if __name__ == "__main__":
    main()
