"""benchmarks/bench_ab.py's machinery: two builds of the extension loaded into one process, timed in turns, their
results compared bit for bit. Here both are the build these tests import (no timing is asserted)."""
import pathlib
import re
import subprocess
import sys

import mlpext
from mlp_helpers import subprocess_env

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_ab.py"


def test_two_builds_take_turns_and_agree():
    core = mlpext._core.__file__
    done = subprocess.run([sys.executable, str(SCRIPT), core, core, "--rounds", "2", "--only", "predict",
                           "--only", "minibatch", "--only", "digits", "--markdown"], capture_output=True, text=True,
                          env=subprocess_env(), cwd=str(ROOT.parent), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "same bits: yes" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == ["minibatch", "predict", "digits"]
    for row in rows:
        # each build's time in µs, or in ms from 10 ms on (a slow build: the sanitizers')
        assert row.rstrip().endswith("× |") and len(re.findall(r" (µs|ms) \|", row)) == 2, row


def test_the_lecture_loops_take_turns_and_agree():
    """The lecture's loops, a call or three an epoch: times below 1 µs are printed in ns."""
    core = mlpext._core.__file__
    done = subprocess.run([sys.executable, str(SCRIPT), core, core, "--rounds", "1", "--only", "step",
                           "--only", "phases", "--markdown"], capture_output=True, text=True,
                          env=subprocess_env(), cwd=str(ROOT.parent), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "same bits: yes" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == ["step", "phases"]
    for row in rows:
        assert row.rstrip().endswith("× |") and len(re.findall(r" (ns|µs) \|", row)) == 2, row
