"""benchmarks/run.py's machinery, on tiny networks (--tiny): a smoke test that needs NumPy and scikit-learn only.

- The printed table has one row per implementation of each workload: a time, or "not installed" for a peer
  (Numba, JAX, PyTorch) that is not importable, and every installed implementation's weights agree with
  mlpext's within the workload's tolerance.
- The weights check catches an implementation that does other work: a wrong learning rate, a missing sigmoid
  derivative, Adam without its bias correction, float64 where float32 is claimed.
- The peak-memory method sees an allocation made during the measured run.
- Run as a script, run.py removes OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE before NumPy is imported, and says so.
- benchmarks/bench_run_length.py prints a row per implementation and run length, and counts the stalled runs
  where it can read the helper thread's scheduling.

No timing is asserted: the figures of a tiny run mean nothing.
"""
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

from mlp_helpers import subprocess_env

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the repository: this file is tests/<concern>/*.py
RUN = ROOT / "benchmarks" / "run.py"
sys.path.insert(0, str(RUN.parent))
run = pytest.importorskip("run")  # benchmarks/run.py, imported: the environment is left alone


def tiny_run(*args, **env):
    done = subprocess.run([sys.executable, str(RUN), "--tiny", "--no-write", "--no-callgrind", *args],
                          capture_output=True, text=True, env=subprocess_env(**env), cwd=str(ROOT.parent),
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def table(out):
    """{workload title: [(label, rest of the row)]} from the printed table."""
    sections, current = {}, None
    lines = out.split("floors are reported, never asserted", 1)[1].splitlines()
    for line in lines:
        if line.startswith("load average after"):
            break
        if re.match(r"\S.*\(\d+ epochs; weights tolerance", line):
            current = sections.setdefault(line.split(" (")[0], [])
        elif line.startswith("  ") and not line.startswith("  WARNING") and current is not None:
            label, rest = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            current.append((label, rest))
    return sections


def importable_peers():
    """The peers run.py, run by this interpreter, can import (found, not imported here: importing JAX or PyTorch
    would change this process)."""
    def found(module):
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # tests/conftest.py's answer for a name only tests/<name>/ has (sklearn)
            return False
    return {name for name in ("numba", "jax", "torch", "sklearn") if found(name)}


def expected_rows():
    """{title: (workload, [(label, installed)])}. A peer's rows have the same labels whether it is installed or not;
    installed are mlpext's and NumPy's rows and those of every importable peer (a test environment with the bench
    extra has them all, and their weights must agree too)."""
    found = importable_peers()
    peers = run.import_peers(("sklearn",) if "sklearn" in found else ())
    out = {}
    for w in run.WORKLOADS:
        w = w.shrink()
        setup = run.workload_setup(w, peers)
        if setup is not None:
            out[w.title] = (w, [(i.label, i.run is not None or i.family in found) for i in setup[1]])
    return out


def test_the_table_has_a_row_per_implementation_and_all_agree():
    out = tiny_run("--no-memory", OPENBLAS_CORETYPE="Haswell", OPENBLAS_L2_SIZE="262144")
    assert "unset for this run (before NumPy was imported): OPENBLAS_CORETYPE (was 'Haswell'), " \
           "OPENBLAS_L2_SIZE (was '262144')" in out
    for needed in ("machine: ", "versions: ", "BLAS (threadpoolctl): ", "load average before: "):
        assert needed in out
    printed = table(out)
    expected = expected_rows()
    assert set(printed) == set(expected)
    # run.py names the peers it could not import: those this interpreter cannot find, no more, no fewer
    said_missing = set(re.findall(r"^(\w+): not installed", out, re.M))
    assert said_missing == set(run.PEERS) - importable_peers(), out
    # every floor's verdict, with the two runs (--tiny) of each implementation compared round by round
    verdicts = re.findall(r"(?:meets|BELOW) \([\d.]+× \S+; rounds ([\d.]+)–([\d.]+)×\)", out)
    assert verdicts and len(verdicts) == len(re.findall(r"(?:meets|BELOW) \(", out)), out
    assert all(float(lo) <= float(hi) for lo, hi in verdicts)
    for title, (w, impls) in expected.items():
        rows = printed[title]
        assert [label for label, _ in rows] == [label for label, _ in impls], title
        for (label, rest), (_, installed) in zip(rows, impls):
            if not installed:
                assert rest == "not installed"
                continue
            cells = re.split(r"\s{2,}", rest)
            assert re.fullmatch(r"[\d.]+ (ns|µs|ms)", cells[0]), (title, label, rest)
            assert cells[1].endswith("×") and cells[2].endswith("×")
            assert cells[3] == "—"  # --no-memory
            if label == impls[0][0]:
                assert cells[4] == "(reference)"
            else:  # the same work as mlpext: the weights agree within the tolerance
                assert "DISAGREES" not in rest
                assert float(cells[4]) <= w.tolerance(), (title, label, rest)


def has_avx2_kernels():
    from mlpext import _core
    return _core.build_info()["simd"].startswith(("avx2", "avx512"))


def test_isa_avx2_holds_every_library_to_avx2_and_leaves_jax_out():
    if not has_avx2_kernels():
        pytest.skip("this CPU or build has no AVX2 kernels")
    out = tiny_run("--no-memory", "--only", "xor", "--only", "mnist", "--isa", "avx2",
                   OPENBLAS_CORETYPE="SkylakeX")
    held = next(line for line in out.splitlines() if line.startswith("held to avx2: "))
    assert "MLPEXT_SIMD=avx2" in held and "OPENBLAS_CORETYPE=Haswell" in held and held.endswith("left out: jax")
    reported = next(line for line in out.splitlines() if line.startswith("the libraries report: "))
    assert "mlpext avx2 kernels" in reported and "NumPy AVX-512 targets off" in reported
    if "blas: openblas" in out.lower().split("held to")[0]:  # threadpoolctl saw OpenBLAS
        assert "OpenBLAS Haswell kernels" in reported  # not the SkylakeX the caller set: the cap replaces it
    printed = table(out)
    assert len(printed) == 2
    for title, rows in printed.items():
        assert rows and not any(label.startswith("JAX") for label, _ in rows), title
        for label, rest in rows[1:]:
            assert rest == "not installed" or "DISAGREES" not in rest, (title, label, rest)


def test_isa_is_refused_when_run_py_is_imported():
    with pytest.raises(SystemExit) as exc:  # the caps must be set before NumPy loads: a script's job
        run.main(["--tiny", "--isa", "avx2"])
    assert exc.value.code == 2


def test_an_isa_run_writes_its_own_section(tmp_path, monkeypatch):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n" + run.BEGIN + "\nthe native run's table\n" + run.END + "\n", encoding="utf-8")
    monkeypatch.setattr(run, "DOC", str(doc))
    env = {"machine": "m", "versions": {"NumPy": "2"}, "blas": [], "env": {}, "load": None, "unset": [],
           "isa": ["mlpext avx2 kernels"]}
    for text in ("first", "second"):
        section = run.markdown_section([], {}, {"skipped": text}, env, 1, False, None, "avx2")
        flat = " ".join(section.split())
        assert "speedup.png" not in flat and "mlpext avx2 kernels" in flat and "Left out: jax" in flat
        run.write_doc(section, "avx2")
    written = doc.read_text(encoding="utf-8")
    assert "the native run's table" in written  # the native section untouched
    assert written.count(run.MARKERS["avx2"][0]) == 1 and "second" in written and "first" not in written


def wrong_sigmoid(key, run_loop):
    return run.Impl(key, key, lambda a: {"params": run.copies(a[2])}, run_loop)


@pytest.mark.parametrize("name", ["xor", "mnist", "deep"])
def test_the_weights_check_catches_a_wrong_implementation(name):
    w = next(w for w in run.WORKLOADS if w.name == name).shrink()
    arrays, impls = run.workload_setup(w, run.import_peers(()))
    lr = w.lr

    def lr_off(s, epochs, a):  # a learning rate 2 % too large
        run.numpy_sigmoid_loop(a[0], a[1], s["params"], lr * 1.02, epochs)

    def no_derivative(s, epochs, a):  # δ_L = y − ŷ: the output sigmoid's derivative forgotten
        Ws, bs = s["params"][0::2], s["params"][1::2]
        for _ in range(epochs):
            acts = [np.asarray(a[0], Ws[0].dtype)]
            for W, b in zip(Ws, bs):
                acts.append(run.sigmoid(acts[-1] @ W + b))
            delta = a[1] - acts[-1]
            for k in range(len(Ws) - 1, -1, -1):
                below = (delta @ Ws[k].T) * acts[k] * (1 - acts[k]) if k else None
                Ws[k] += acts[k].T @ delta * lr
                bs[k] += delta.sum(0) * lr
                delta = below

    impls += [wrong_sigmoid("lr off", lr_off), wrong_sigmoid("no derivative", no_derivative)]
    with np.errstate(over="ignore"):
        check = run.check_weights(w, impls, arrays, w.epochs)
    assert not check["lr off"][1] and not check["no derivative"][1], check
    right = {k: v for k, v in check.items() if k not in ("lr off", "no derivative")}
    assert right and all(agrees for _, agrees in right.values()), right
    # and the table says so
    result = {"impls": impls, "per_epoch": {i.key: 1.0 for i in impls if i.run}, "check": check, "epochs": 1}
    rows = {row["key"]: row for row in run.rows(w, result)}
    assert rows["lr off"]["weights"].endswith("DISAGREES")
    assert "DISAGREES" not in rows["numpy"]["weights"]


def test_the_weights_check_catches_an_implementation_in_float64_where_float32_is_claimed():
    # float64 ends nearer the exact weights than mlpext's float32: within any tolerance, so the dtype decides
    w = next(w for w in run.WORKLOADS if w.name == "mnist").shrink()
    assert w.dtype == np.float32
    arrays, impls = run.workload_setup(w, run.import_peers(()))

    def in_float64(s, epochs, a):
        s["params"][:] = [p.astype(np.float64) for p in s["params"]]
        run.numpy_sigmoid_loop(np.asarray(a[0], np.float64), np.asarray(a[1], np.float64), s["params"], w.lr,
                               epochs)

    impls.append(wrong_sigmoid("float64", in_float64))
    with np.errstate(over="ignore"):
        check = run.check_weights(w, impls, arrays, w.epochs)
    assert check["float64"] == (float("inf"), False), check
    assert check["numpy"][1], check
    gap = run.weight_gap([np.asarray(p, np.float64) for p in arrays[2]], arrays[2])
    assert gap == 0.0  # without a dtype the values alone are compared
    assert run.weight_gap([np.asarray(p, np.float64) for p in arrays[2]], arrays[2], np.float32) == float("inf")
    # mlpext's own float64 row of the digits claims float64, and agrees
    if "sklearn" in importable_peers():
        digits = next(w for w in run.WORKLOADS if w.kind == "digits").shrink()
        arrays, impls = run.workload_setup(digits, run.import_peers(("sklearn",)))
        f64 = next(i for i in impls if i.key == "fit f64")
        assert f64.dtype == np.float64
        assert run.check_weights(digits, [impls[0], f64], arrays, 1)["fit f64"][1]


def test_a_verdict_gives_the_ratio_round_by_round():
    # the verdict compares the best runs; "rounds" is the same ratio within each round, lowest to highest, against
    # the fastest of the floor's peers in that round (here numpy in round 0, jax in rounds 1 and 2)
    w = next(w for w in run.WORKLOADS if w.name == "mnist")
    assert w.floors["train"] == (1.5, None)
    impls = [run.Impl("train", "mlpext.train", None, print, mlpext_side=True),
             run.Impl("train_step", "mlpext.train_step loop", None, print, mlpext_side=True),
             run.Impl("numpy", "NumPy loop", None, print), run.Impl("jax", "JAX", None, print)]
    by_round = {"train": [2.0, 1.0, 4.0], "train_step": [1.0, 1.0, 1.0], "numpy": [3.0, 9.0, 5.0],
                "jax": [5.0, 1.8, 4.2]}
    result = {"impls": impls, "per_epoch": {k: min(v) for k, v in by_round.items()}, "by_round": by_round,
              "check": {}, "epochs": 1}
    assert run.round_ratios(result, "train", None) == [1.5, 1.8, 4.2 / 4.0]
    assert run.round_ratios(result, "train", ("numpy",)) == [1.5, 9.0, 1.25]
    row = {r["key"]: r for r in run.rows(w, result)}["train"]
    assert row["verdict"] == "meets (1.80× jax; rounds 1.05–1.80×)"  # best 1.8 / best 1.0
    by_round["train"] = [3.0, 1.25, 4.0]  # best 1.25: 1.8 / 1.25 = 1.44
    result["per_epoch"]["train"] = 1.25
    row = {r["key"]: r for r in run.rows(w, result)}["train"]
    assert row["verdict"] == "BELOW (1.44× jax; rounds 1.00–1.44×)"
    # one round, or no per-round times: the best runs' ratio alone
    one = {k: v[:1] for k, v in by_round.items()}
    row = {r["key"]: r for r in run.rows(w, {**result, "by_round": one})}["train"]
    assert row["verdict"] == "BELOW (1.44× jax)"
    result.pop("by_round")
    assert run.round_ratios(result, "train", None) == []
    assert {r["key"]: r for r in run.rows(w, result)}["train"]["verdict"] == "BELOW (1.44× jax)"
    # a verdict against a peer whose weights ended elsewhere says so
    result["check"] = {"train_step": (0.0, True), "numpy": (1e-7, True), "jax": (5e-3, False)}
    assert {r["key"]: r for r in run.rows(w, result)}["train"]["verdict"] == "BELOW (1.44× jax; jax DISAGREES)"
    result["check"]["jax"] = (1e-7, True)
    assert {r["key"]: r for r in run.rows(w, result)}["train"]["verdict"] == "BELOW (1.44× jax)"
    # just below the floor: shown rounded down, never a BELOW that reads as the floor itself
    result["per_epoch"].update(train=1.2, jax=1.2 * 1.4996)
    assert {r["key"]: r for r in run.rows(w, result)}["train"]["verdict"] == "BELOW (1.49× jax)"
    result["per_epoch"].update(jax=1.2 * 1.5004)
    assert {r["key"]: r for r in run.rows(w, result)}["train"]["verdict"] == "meets (1.50× jax)"


def test_the_weights_check_catches_adam_without_bias_correction():
    pytest.importorskip("sklearn")
    w = next(w for w in run.WORKLOADS if w.kind == "digits").shrink()
    arrays, impls = run.workload_setup(w, run.import_peers(("sklearn",)))
    numpy_impl = next(i for i in impls if i.key == "numpy")

    def prepare(a, shuffle=True, eps=run.EPS):
        state = numpy_impl.prepare(a, shuffle=shuffle, eps=eps)
        net = state["net"]
        original = net._update

        def update(*args, **kwargs):  # Adam as if always at its first step: no bias correction after it
            state_t = net._state[0]
            saved = int(state_t[0])
            state_t[0] = 0
            try:
                return original(*args, **kwargs)
            finally:
                state_t[0] = saved + 1
        net._update = update
        return state

    impls.append(run.Impl("no bias correction", "no bias correction", prepare, numpy_impl.run, numpy_impl.weights))
    check = run.check_weights(w, impls, arrays, run.DIGITS_CHECK_EPOCHS)
    assert not check["no bias correction"][1], check
    assert check["numpy"][1] and check["sklearn"][1], check


def test_no_sigmoid_workload_trains_into_subnormal_deltas():
    # At full size and for the epochs of a timed run: a network driven into saturation makes subnormal deltas,
    # and the peers that keep them (NumPy here) would be timed on microcode assists instead of their code.
    for w in run.WORKLOADS:
        if w.kind != "sigmoid":
            continue
        X, y, params = run.sigmoid_arrays(w)
        with np.errstate(over="ignore"):
            run.numpy_sigmoid_loop(X, y, params, w.lr, w.epochs)
        assert run.subnormal_share(X, y, params) == 0.0, w.name


def test_the_subnormal_share_counts_saturated_deltas():
    # sizes 4-3-2, float32: the output's z = -88 gives ŷ ≈ 6e-39, so ŷ(1 − ŷ) and δ_L are subnormal where y = 1,
    # and δ_1 = δ_L·W2ᵀ·a(1 − a) is too (a = 0.5)
    X = np.ones((5, 4), np.float32)
    y = np.zeros((5, 2), np.float32)
    y[:2] = 1  # 4 of the 10 output deltas
    params = [np.zeros((4, 3), np.float32), np.zeros(3, np.float32), np.zeros((3, 2), np.float32),
              np.full(2, -88, np.float32)]
    share = run.subnormal_share(X, y, params)
    assert share == 4 / (10 + 15)  # δ_1 is 0 times W2 = 0: only the output's
    params[2][...] = 1.0
    params[3][...] = -89.5  # z = 3·0.5 − 89.5 = −88 again
    assert run.subnormal_share(X, y, params) == (4 + 6) / (10 + 15)  # δ_1's first two rows, ~3e-39 each
    params[3][...] = 0.0
    assert run.subnormal_share(X, y, params) == 0.0
    note = run.subnormal_note(run.WORKLOADS[0], {"subnormal": share, "epochs": 3})
    assert note.startswith("WARNING: 16.00% of xor's deltas are subnormal after its 3 epochs")
    assert run.subnormal_note(run.WORKLOADS[0], {"subnormal": 0.0, "epochs": 3}) is None
    # the written section gives every sigmoid workload's share, and the warning where one is not 0
    impl = run.Impl("train", "mlpext.train", None, lambda *a: None, mlpext_side=True)
    results = [(w, {"impls": [impl], "per_epoch": {"train": 1e-3}, "check": {}, "epochs": 3, "subnormal": s})
               for w, s in zip(run.WORKLOADS[1:3], (0.0, share))]
    env = {"machine": "m", "versions": {}, "blas": [], "env": {}, "load": None, "unset": [], "isa": []}
    flat = " ".join(run.markdown_section(results, {}, {"skipped": "x"}, env, 1, False, None).split())
    assert "Subnormal deltas after the epochs, at mlpext's weights: small 0.00%, mnist 16.00%." in flat
    assert "WARNING: 16.00% of mnist's deltas" in flat and "small's deltas" not in flat


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory is measured through /proc (Linux)")
def test_peak_memory_sees_an_allocation_during_the_run():
    if not run.reset_peak():
        pytest.skip("/proc/self/clear_refs is not writable here")
    before = run.rss_status()["VmRSS"]
    block = np.ones(64 << 20, dtype=np.uint8)  # 64 MiB, touched
    del block
    peak = run.rss_status()["VmHWM"] - before
    assert peak >= 60 << 20, peak
    out = tiny_run("--only", "xor")
    rows = table(out)[next(iter(table(out)))]
    for label, rest in rows:
        if rest != "not installed":
            assert re.fullmatch(r"\d+ KiB|[\d.]+ MiB", re.split(r"\s{2,}", rest)[3]), (label, rest)


def test_the_commands_of_docs_benchmarks_md_exist():
    """docs/benchmarks.md's run.py commands use options run.py has; its extra is pyproject's, with every peer."""
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    commands = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]
    runs = [c for c in commands if c.startswith("python benchmarks/run.py")]
    assert runs
    parser = run.make_parser()
    for command in runs:
        parser.parse_args(command.split()[2:])  # SystemExit on an unknown option
    assert 'pip install ".[bench]"' in commands
    try:
        import tomllib
    except ImportError:
        pytest.skip("reading pyproject.toml needs tomllib (Python >= 3.11)")
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    names = {re.split(r"[<>=;\[ ]", spec)[0] for spec in extra["bench"]}
    assert names == {"numba", "jax", "torch", "scikit-learn", "threadpoolctl", "matplotlib", "psutil"}


def test_bench_run_length_times_each_length_and_reads_the_helpers():
    """benchmarks/bench_run_length.py: a row per implementation and run length, each with positive times in order
    (best ≤ median ≤ worst); on Linux with a helper thread, its stalled runs are counted out of the runs made."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_run_length.py"), "--epochs", "2,3",
                           "--runs", "3", "--pause", "0", "--markdown", "--per-run"], capture_output=True, text=True,
                          env=subprocess_env(), cwd=str(ROOT.parent), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in done.stdout.splitlines()
            if line.startswith("| ")]
    assert [cells[0] for cells in rows[1:]] == [
        "mlpext.train, 2 epochs a run", "mlpext.train, 3 epochs a run", "NumPy loop, 2 epochs a run",
        "NumPy loop, 3 epochs a run"]
    helpers = int(re.search(r"helper threads: (\d+)", done.stdout).group(1))
    per_run = re.findall(r"^mlpext\.train, \d epochs a run: [\d.]+ ms; the helpers ran [\d.]+ ms and waited",
                         done.stdout, re.M)
    read = helpers > 0 and os.path.exists(f"/proc/self/task/{threading.get_native_id()}/schedstat")
    for cells in rows[1:]:
        best, median, worst = (float(c) for c in cells[1:4])
        assert 0 < best <= median <= worst, cells
        if read and cells[0].startswith("mlpext"):
            assert re.fullmatch(r"[0-3] of 3", cells[4]), cells
        else:
            assert cells[4] == "—", cells
    assert len(per_run) == (6 if read else 0)


def test_bench_rows_times_each_implementation_and_checks_the_outputs(monkeypatch, capsys):
    """benchmarks/bench_rows.py: a row per dtype and batch with mlpext's and NumPy's times, and the exit status 1
    when mlpext's output differs from NumPy's beyond float tolerance (here a wrong predict)."""
    script = ROOT / "benchmarks" / "bench_rows.py"
    done = subprocess.run([sys.executable, str(script), "--rounds", "1", "--only", "64-64-10", "--settle", "0",
                           "--markdown"], capture_output=True, text=True, env=subprocess_env(), cwd=str(ROOT.parent),
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in done.stdout.splitlines()
            if line.startswith("| 64-64-10")]
    assert [(r[1], r[2]) for r in rows] == [("float32", "1"), ("float32", "4"), ("float64", "1"), ("float64", "4")]
    for cells in rows:
        assert all(float(t) > 0 for t in cells[3:5]) and cells[-1].endswith("×"), cells
    spec = importlib.util.spec_from_file_location("bench_rows", script)
    bench_rows = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_rows)
    right = bench_rows.mlpext.predict
    monkeypatch.setattr(bench_rows.mlpext, "predict", lambda X, *p: right(X, *p) + 1e-3)
    monkeypatch.setattr(sys, "argv", ["bench_rows.py", "--rounds", "1", "--only", "64-64-10", "--settle", "0"])
    assert bench_rows.main() == 1
    assert "outputs differ beyond tolerance: 64-64-10 float32 1 row(s)" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["bench_rows.py", "--rounds", "1", "--only", "64-64-10", "--settle", "0",
                                      "--rows", "3,7"])
    assert bench_rows.main() == 1
    out = capsys.readouterr().out
    assert "float32 3 row(s): mlpext" in out and "float64 7 row(s): mlpext" in out and " 1 row(s)" not in out, out
    for bad in ("0", "2,x", ""):
        monkeypatch.setattr(sys, "argv", ["bench_rows.py", "--rows", bad])
        with pytest.raises(SystemExit) as exit_info:
            bench_rows.main()
        assert exit_info.value.code == 2
        assert "expected positive whole numbers separated by commas" in capsys.readouterr().err
