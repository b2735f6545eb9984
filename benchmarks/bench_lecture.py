"""The lecture's training loop in NumPy against mlpext in three modes, in one run.

    python benchmarks/bench_lecture.py [--epochs 10000] [--repeats 7] [--markdown]

The network is the lecture's: XOR, 2-3-1 sigmoid, float64 parameters, batch 4 (X and y are the lecture's integer
arrays), learning_rate 0.5, seed 0. Each mode runs `--epochs` epochs from the same initial weights; the best of
`--repeats` runs is kept (time.perf_counter, garbage collector off, modes taking turns within each repeat).

    numpy       the lecture's loop as on its slides (np.dot, sigmoid, in-place +=)
    phases      the same loop with mlpext.forward / mlpext.backward / mlpext.update
    train_step  a Python loop of mlpext.train_step (one C call per epoch)
    train       mlpext.train (the whole loop in one C call)

Prints the time per epoch of each mode and its speed-up over NumPy, against the project's floors (reported, never
asserted: the exit status is 0 whatever the figures). The loops themselves are the ones examples/demo.py times and
are imported from it, so this script runs from a checkout with mlpext installed or built in place.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples"))

from demo import format_time, machine_info, machine_line, time_modes, tolerant_stdout  # noqa: E402

# The speed-ups over the NumPy loop that mlpext aims at (per epoch, this network).
FLOORS = {"phases": 30.0, "train_step": 80.0, "train": 300.0}

DESCRIPTIONS = {
    "numpy": "NumPy, the lecture's loop",
    "phases": "mlpext forward/backward/update",
    "train_step": "mlpext.train_step loop",
    "train": "mlpext.train",
}


def rows(per_epoch):
    base = per_epoch["numpy"]
    for name, seconds in per_epoch.items():
        ratio = base / seconds
        floor = FLOORS.get(name)
        if floor is None:
            verdict = ""
        else:
            verdict = "meets floor" if ratio >= floor else "BELOW floor"
        yield name, seconds, ratio, floor, verdict


def print_text(per_epoch, epochs, repeats):
    print(f"best of {repeats} runs of {epochs} epochs; float64, 2-3-1, batch 4\n")
    print(f"{'mode':<12} {'':<32} {'per epoch':>10} {'speed-up':>9} {'floor':>7}")
    for name, seconds, ratio, floor, verdict in rows(per_epoch):
        floor_text = f"{floor:.0f}×" if floor else ""
        print(f"{name:<12} {DESCRIPTIONS[name]:<32} {format_time(seconds):>10} {ratio:>8.1f}× {floor_text:>7}  "
              f"{verdict}")


def print_markdown(per_epoch, epochs, repeats, info):
    print(f"Machine: {machine_line(info)}  ")
    print(f"Best of {repeats} runs of {epochs} epochs; float64, 2-3-1, batch 4.\n")
    print("| mode | what runs | time per epoch | speed-up over NumPy | floor |")
    print("|---|---|---:|---:|---:|")
    for name, seconds, ratio, floor, verdict in rows(per_epoch):
        floor_text = f"{floor:.0f}× ({verdict})" if floor else "—"
        print(f"| `{name}` | {DESCRIPTIONS[name]} | {format_time(seconds)} | {ratio:.1f}× | {floor_text} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10000, help="epochs per timed run (default: 10000)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per mode; the best is kept (default: 7)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table (for docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1:
        parser.error("--epochs and --repeats must be at least 1")

    info = machine_info()
    per_epoch = time_modes(args.epochs, args.repeats)
    if args.markdown:
        print_markdown(per_epoch, args.epochs, args.repeats, info)
    else:
        print(machine_line(info))
        print_text(per_epoch, args.epochs, args.repeats)
    return 0


if __name__ == "__main__":
    tolerant_stdout()
    sys.exit(main())
