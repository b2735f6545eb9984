"""Data-parallel training on MPI (mlpext.distributed): `mpiexec -n 1/2/3` jobs of tests/mpi_worker.py against
single-process fit on the concatenated data.

Each job trains every case on its ranks' shards (uneven, one of them empty) and writes each rank's parameters,
optimizer state, generator state and loss history; the tests compare them with MLP.fit in this process on the
whole data set: 1 rank bit for bit, 2 and 3 ranks within 1e-12 (float64) or 1e-5 (float32) of the largest value
(the sums run in another order), every rank bit-identical to rank 0, and a second 3-rank job bit-identical to the
first. The tests skip, saying why, only where mpi4py or mpiexec is missing (pip install ".[mpi]" provides both).
"""
import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from mlp_helpers import subprocess_env
from mpi_worker import make_data, make_net, replace_params, result_arrays, sklearn_data

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/, this file being in tests/network/
WORKER = os.path.join(TESTS, "mpi_worker.py")
TIMEOUT = 300  # seconds for one job on a busy machine; a hang fails the test instead of blocking the suite


def _mpiexec():
    """The mpiexec that goes with this interpreter's mpi4py (the mpich wheel puts one next to python), or None."""
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return local if os.access(local, os.X_OK) else shutil.which("mpiexec")


try:
    import mpi4py  # noqa: F401 (imported only to know it is there; MPI itself starts in the jobs)
    _missing = None if _mpiexec() else "no mpiexec on PATH or next to the interpreter (pip install mpich)"
except ImportError:
    _missing = "mpi4py is not installed (pip install '.[mpi]' installs mpi4py and MPICH)"

needs_mpi = pytest.mark.skipif(_missing is not None, reason=f"MPI tests need mpi4py and mpiexec: {_missing}")

N_ROWS = 37
SHARDS = {1: ([37], [37]), 2: ([15, 22], [30, 7]), 3: ([20, 0, 17], [5, 19, 13])}  # two splits for each size


def _case(name, net, fit, data_seed, split, rows=False):
    net = dict({"learning_rate": 0.05, "seed": 11}, **net)
    return {"name": name, "net": net, "fit": fit, "data": {"n": N_ROWS, "seed": data_seed, "rows": rows},
            "split": split}


CASES = [
    _case("adam_mse64", {"layer_sizes": [5, 7, 3], "activation": "tanh", "loss": "mse", "optimizer": "adam",
                         "learning_rate": 0.01, "weight_decay": 0.01, "dtype": "float64"},
          {"epochs": 3, "batch_size": 8, "shuffle": True, "verbose": 1}, 1, 0),
    _case("adam_mse32", {"layer_sizes": [5, 7, 3], "activation": "tanh", "loss": "mse", "optimizer": "adam",
                         "learning_rate": 0.01, "dtype": "float32"},
          {"epochs": 3, "batch_size": 8, "shuffle": True}, 2, 1),
    _case("sgd_ce32", {"layer_sizes": [5, 7, 4], "activation": "relu", "loss": "cross_entropy", "optimizer": "sgd",
                       "momentum": 0.9, "dtype": "float32"},
          {"epochs": 3, "batch_size": 8, "shuffle": True}, 3, 0),
    _case("sgd_ce64_nesterov", {"layer_sizes": [5, 6, 4], "activation": "sigmoid", "loss": "cross_entropy",
                                "optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 0.001,
                                "dtype": "float64"},
          {"epochs": 4, "batch_size": 6, "shuffle": True}, 4, 1),
    _case("ce_rows_adam64", {"layer_sizes": [5, 8, 6, 3], "activation": "leaky_relu", "loss": "cross_entropy",
                             "optimizer": "adam", "learning_rate": 0.01, "dtype": "float64"},
          {"epochs": 3, "batch_size": 7, "shuffle": True}, 5, 0, rows=True),
    _case("rmsprop_mse32", {"layer_sizes": [5, 7, 3], "activation": "tanh", "loss": "mse", "optimizer": "rmsprop",
                            "learning_rate": 0.01, "alpha": 0.9, "weight_decay": 0.01, "dtype": "float32"},
          {"epochs": 3, "batch_size": 8, "shuffle": True}, 8, 1),
    _case("mae_gelu64", {"layer_sizes": [5, 7, 3], "activation": "gelu", "loss": "mae", "optimizer": "sgd",
                         "momentum": 0.5, "dtype": "float64"},
          {"epochs": 3, "batch_size": 8, "shuffle": True}, 10, 1),
    _case("adamw_ce64", {"layer_sizes": [5, 7, 4], "activation": "relu", "loss": "cross_entropy",
                         "optimizer": "adamw", "learning_rate": 0.01, "dtype": "float64"},
          {"epochs": 3, "batch_size": 8, "shuffle": True}, 9, 0),
    _case("bce_in_order64", {"layer_sizes": [5, 4, 2], "activation": "tanh", "loss": "bce", "optimizer": "sgd",
                             "dtype": "float64"},
          {"epochs": 3, "batch_size": 5, "shuffle": False}, 6, 1),
    _case("lecture_whole_batch64", {"layer_sizes": [5, 4, 1], "activation": "sigmoid", "loss": "lecture",
                                    "optimizer": "sgd", "learning_rate": 0.1, "dtype": "float64"},
          {"epochs": 5, "batch_size": None, "shuffle": True}, 7, 0),
]


def _run_job(tmp_path, size, mode, cases, check=True):
    """mpiexec -n size python mpi_worker.py job.json, in tmp_path; returns the finished process."""
    out = tmp_path / f"{mode}{size}"
    out.mkdir(exist_ok=True)
    job = out / "job.json"
    job.write_text(json.dumps({"mode": mode, "out": str(out), "cases": cases}))
    done = subprocess.run([_mpiexec(), "-n", str(size), sys.executable, WORKER, str(job)], capture_output=True,
                          text=True, env=subprocess_env(), cwd=tmp_path, timeout=TIMEOUT)
    if check:
        assert done.returncode == 0, f"mpiexec -n {size} failed:\n{done.stdout}\n{done.stderr}"
    return done, out


def _cases_for(size):
    return [dict(case, counts=SHARDS[size][case["split"]]) for case in CASES]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """The fit jobs, each run once per module: {key: (process, output directory)}."""
    cache = {}

    def run(size, repeat=0):
        if (size, repeat) not in cache:
            cache[size, repeat] = _run_job(tmp_path_factory.mktemp(f"n{size}r{repeat}"), size, "fit",
                                           _cases_for(size))
        return cache[size, repeat]
    return run


def _single_process(case):
    X, y = make_data(case)
    net = make_net(case)
    f = case["fit"]
    history = net.fit(X, y, epochs=f["epochs"], batch_size=f["batch_size"], shuffle=f["shuffle"])
    return result_arrays(net, history)


def _load(out, case, rank):
    with np.load(out / f"{case['name']}.rank{rank}.npz") as f:
        return {k: f[k] for k in f.files}


@needs_mpi
@pytest.mark.parametrize("size", [1, 2, 3])
def test_matches_single_process_fit(jobs, size):
    _, out = jobs(size)
    for case in _cases_for(size):
        expected = _single_process(case)
        got = _load(out, case, 0)
        assert sorted(got) == sorted(expected)
        for key, want in expected.items():
            have = got[key]
            assert have.dtype == want.dtype and have.shape == want.shape, (case["name"], key)
            if size == 1 or want.dtype.kind != "f":  # one rank: the same operations; counters: exact
                np.testing.assert_array_equal(have, want, err_msg=f"{case['name']} {key}")
                continue
            rtol = 1e-12 if case["net"]["dtype"] == "float64" else 1e-5  # (the history is float64 in both)
            scale = float(np.max(np.abs(want))) if want.size else 0.0
            np.testing.assert_allclose(have, want, rtol=rtol, atol=rtol * scale, err_msg=f"{case['name']} {key}")


@needs_mpi
@pytest.mark.parametrize("size", [2, 3])
def test_every_rank_holds_the_same_network(jobs, size):
    _, out = jobs(size)
    for case in _cases_for(size):
        first = _load(out, case, 0)
        for rank in range(1, size):
            other = _load(out, case, rank)
            for key in first:
                np.testing.assert_array_equal(other[key], first[key], err_msg=f"{case['name']} rank {rank} {key}")


@needs_mpi
def test_bit_reproducible_for_a_fixed_number_of_ranks(jobs):
    _, first = jobs(3)
    _, second = jobs(3, repeat=1)
    for case in _cases_for(3):
        a, b = _load(first, case, 0), _load(second, case, 0)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{case['name']} {key}")


@needs_mpi
def test_only_rank_0_prints(jobs):
    done, _ = jobs(3)
    case = next(c for c in _cases_for(3) if c["fit"].get("verbose"))
    history = _single_process(case)["history"]
    lines = [line for line in done.stdout.splitlines() if line.startswith("Epoch: ")]
    assert lines == [f"Epoch: {e}, Loss: {loss:.4g}" for e, loss in enumerate(history)]


ERROR_CASE = dict(CASES[3], name="errors", counts=[12, 12, 13])


@needs_mpi
def test_errors_raise_on_every_rank_and_write_nothing(tmp_path):
    _, out = _run_job(tmp_path, 3, "errors", [ERROR_CASE])
    outcomes = [json.loads((out / f"errors.rank{r}.json").read_text()) for r in range(3)]
    # bad data or arguments on the last rank: it raises its own error, the others name it; nothing trained
    for name, error in (("bad_shape", "ValueError"), ("bad_label", "ValueError"), ("batch_mismatch", "ValueError"),
                        ("bad_param_shape", "ValueError"), ("read_only_param", "ValueError")):
        for rank, outcome in enumerate(outcomes):
            got = outcome[name]
            if name == "batch_mismatch":  # every rank sees that the arguments differ
                assert got["raised"] == "ValueError" and "rank 2" in got["message"], (name, rank, got)
            elif rank == 2:
                assert got["raised"] == error, (name, rank, got)
            else:
                assert got["raised"] == "DistributedError" and "rank 2 of 3" in got["message"], (name, rank, got)
            assert got["unchanged"], (name, rank)
    # a direct distributed.fit whose network is not an mlpext.MLP on the last rank: a TypeError there, the others
    # name it (before, they waited for it in the first collective for ever)
    assert "params[0][1] must have shape" in outcomes[2]["bad_param_shape"]["message"]
    assert "params[1][1] is read-only" in outcomes[2]["read_only_param"]["message"]
    assert [o["not_mlp"]["raised"] for o in outcomes] == ["DistributedError", "DistributedError", "TypeError"]
    assert "rank 2 of 3" in outcomes[0]["not_mlp"]["message"] and "NumpyMLP" in outcomes[0]["not_mlp"]["message"]
    # a callback that raises on the last rank after epoch 1: every rank stops there, with the same parameters
    assert [o["callback_raises"]["raised"] for o in outcomes] == ["DistributedError", "DistributedError",
                                                                 "ValueError"]
    assert "callback failed on purpose" in outcomes[0]["callback_raises"]["message"]
    first = _load(out, {"name": "callback_raises"}, 0)
    for rank in (1, 2):
        other = _load(out, {"name": "callback_raises"}, rank)
        for key in first:
            np.testing.assert_array_equal(other[key], first[key], err_msg=f"rank {rank} {key}")
    # ... and those parameters are the ones two epochs of single-process training give
    X, y = make_data(ERROR_CASE)
    net = make_net(ERROR_CASE)
    net.fit(X, y, epochs=2, batch_size=4)
    expected = result_arrays(net)
    for key, want in expected.items():
        if want.dtype.kind == "f":
            np.testing.assert_allclose(first[key], want, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(want))))
        else:
            np.testing.assert_array_equal(first[key], want)
    # a callback that changes the learning rate on one rank only: the ranks' parameters part ways, and fit's
    # closing check says so on every rank
    for outcome in outcomes:
        assert outcome["diverges"]["raised"] == "DistributedError", outcome["diverges"]
        assert "differ across ranks" in outcome["diverges"]["message"]
    # a callback asking rank 0 to stop after epoch 1 stops every rank there
    assert [o["callback_stops"]["epochs"] for o in outcomes] == [2, 2, 2]
    # a callback that puts new arrays in net.params: the ranks train those, as single-process fit does
    net = make_net(ERROR_CASE)
    expected = result_arrays(net, net.fit(X, y, epochs=3, batch_size=4, callback=replace_params(net)))
    replaced = [_load(out, {"name": "replaced"}, rank) for rank in range(3)]
    for key, want in expected.items():
        for rank in (1, 2):
            np.testing.assert_array_equal(replaced[rank][key], replaced[0][key], err_msg=f"rank {rank} {key}")
        if want.dtype.kind == "f":
            np.testing.assert_allclose(replaced[0][key], want, rtol=1e-12,
                                       atol=1e-12 * float(np.max(np.abs(want))), err_msg=key)
        else:
            np.testing.assert_array_equal(replaced[0][key], want, err_msg=key)
    # ... and a read-only one on the last rank is that rank's ValueError, the others' DistributedError
    assert [o["replaced_read_only"]["raised"] for o in outcomes] == ["DistributedError", "DistributedError",
                                                                    "ValueError"]
    assert "params[0][0] is read-only" in outcomes[2]["replaced_read_only"]["message"]


@needs_mpi
def test_keyboard_interrupt_on_one_rank_ends_the_job(tmp_path):
    started = time.monotonic()
    done, out = _run_job(tmp_path, 2, "abort", [dict(ERROR_CASE, counts=[18, 19])], check=False)
    assert done.returncode != 0
    said = (out / "stderr.1").read_text(encoding="utf-8")
    assert "rank 1 of 2: KeyboardInterrupt in fit(comm=...); aborting the MPI job" in said, said
    assert time.monotonic() - started < TIMEOUT


@needs_mpi
def test_ctrl_c_stops_every_rank(tmp_path):
    out = tmp_path / "long"
    out.mkdir()
    job = out / "job.json"
    job.write_text(json.dumps({"mode": "long", "out": str(out), "cases": [dict(ERROR_CASE, counts=[18, 19])]}))
    proc = subprocess.Popen([_mpiexec(), "-n", "2", sys.executable, WORKER, str(job)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=tmp_path)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / "started").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the job did not start training"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends mpiexec
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
            pytest.fail("mpiexec was still running 60 s after SIGINT")
    assert proc.returncode != 0
    said = "".join((out / f"stderr.{rank}").read_text(encoding="utf-8") for rank in (0, 1))
    assert "KeyboardInterrupt in fit(comm=...); aborting the MPI job" in said, (said, stderr)


@needs_mpi
def test_sklearn_estimators_fit_across_ranks(tmp_path):
    """The scikit-learn face's route: fit(X, y, comm=comm). Rank 0's rows lack one class; the classes, the batch
    size and the result are the whole data set's, on both ranks; only rank 0 prints; early_stopping is refused; a
    partial_fit whose own checks fail on one rank raises on both."""
    pytest.importorskip("sklearn")
    from mlpext.sklearn import MLPClassifier, MLPRegressor
    done, out = _run_job(tmp_path, 2, "sklearn", [])
    X, y, _ = sklearn_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 6 epochs on purpose
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=6, batch_size=7, random_state=0).fit(X, y)
    reg = MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=0.01, random_state=0)
    for _ in range(3):
        reg.partial_fit(X, X[:, 0] - X[:, 1])
    ranks = []
    for rank in range(2):
        with np.load(out / f"sklearn.rank{rank}.npz") as f:
            ranks.append({k: f[k] for k in f.files})
    for got in ranks:
        assert list(got["classes"]) == ["a", "b", "c"] and int(got["t"]) == clf.t_
        assert str(got["refused"]) == "ValueError"
        np.testing.assert_allclose(got["loss_curve"], clf.loss_curve_, rtol=1e-12)
        np.testing.assert_allclose(got["reg_loss_curve"], reg.loss_curve_, rtol=1e-12)
        for k, W in enumerate(clf.coefs_):
            np.testing.assert_allclose(got[f"coef{k}"], W, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(W))))
        for k, W in enumerate(reg.coefs_):
            np.testing.assert_allclose(got[f"reg{k}"], W, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(W))))
    # partial_fit's checks failing on rank 1 only raise on both ranks (before, rank 0 waited for rank 1 for ever)
    assert list(ranks[1]["partial"]) == ["ValueError", "ValueError"]
    assert list(ranks[0]["partial"]) == ["DistributedError", "DistributedError"]
    # ranks that would make different networks: every rank raises before the estimator changes (no rank waits)
    assert list(ranks[1]["disagree"])[:2] == ["ValueError fitted=False", "ValueError t_=50 same=True"]
    assert list(ranks[0]["disagree"])[:2] == ["ValueError fitted=False", "DistributedError t_=50 same=True"]
    assert [str(r["disagree"][2]) for r in ranks] == ["ValueError t_=100", "ValueError t_=None"]
    for key in set(ranks[0]) - {"partial", "disagree"}:
        np.testing.assert_array_equal(ranks[1][key], ranks[0][key], err_msg=key)
    assert done.stdout.count("Iteration 1, loss = ") == 1


@needs_mpi
def test_digits_example_matches_one_process(tmp_path):
    """The README's command, shortened: mpiexec -n 2 python examples/digits_mpi.py, with --check (rank 0 compares
    with training alone) and --save (rank 0 saves a network MLP.load reads back)."""
    pytest.importorskip("sklearn")
    import re

    import mlpext
    example = os.path.join(os.path.dirname(TESTS), "examples", "digits_mpi.py")
    if not os.path.exists(example):
        pytest.skip("examples/ is not next to the tests (an installed mlpext)")
    saved = tmp_path / "digits.npz"
    done = subprocess.run([_mpiexec(), "-n", "2", sys.executable, example, "--epochs", "3", "--check", "--save",
                           str(saved)], capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Epoch: 0, Loss: ") == 1 and "2 rank(s)" in done.stdout
    found = re.search(r"parameters differ by at most (\S+) of their largest value, losses by (\S+) relative",
                      done.stdout)
    assert found, done.stdout
    assert float(found.group(1)) < 1e-12 and float(found.group(2)) < 1e-12
    assert mlpext.MLP.load(saved).layer_sizes == (64, 128, 10)


def _run_singleton(script, tmp_path):
    """Runs script in one process without mpiexec (MPI's singleton start); it must print "ok"."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=subprocess_env(),
                          cwd=tmp_path, timeout=TIMEOUT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


@needs_mpi
def test_comm_self_and_argument_checks(tmp_path):
    """One process without mpiexec (MPI's singleton start): comm=MPI.COMM_SELF is plain fit, bit for bit; a comm
    that is not a communicator and a network that is not mlpext.MLP are TypeErrors."""
    script = """
import numpy as np, mlpext
from mpi4py import MPI
from mlpext.reference_net import NumpyMLP
rng = np.random.default_rng(0)
X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, size=30)
a = mlpext.MLP([4, 6, 3], loss="cross_entropy", optimizer="adam", seed=5, dtype=np.float64)
b = mlpext.MLP([4, 6, 3], loss="cross_entropy", optimizer="adam", seed=5, dtype=np.float64)
ha = a.fit(X, y, epochs=3, batch_size=7)
hb = b.fit(X, y, epochs=3, batch_size=7, comm=MPI.COMM_SELF)
assert np.array_equal(ha, hb)
assert all(np.array_equal(p, q) for pa, pb in zip(a.params, b.params) for p, q in zip(pa, pb))
assert all(np.array_equal(p, q) for p, q in zip(a._state, b._state)) and np.array_equal(a._rng, b._rng)
for net, comm, words in ((a, "world", "intracommunicator"), (NumpyMLP([4, 6, 3], seed=5), MPI.COMM_SELF, "MLP")):
    try:
        net.fit(X, y, epochs=1, comm=comm)
    except TypeError as exc:
        assert words in str(exc), exc
    else:
        raise AssertionError("no TypeError")
print("ok")
"""
    _run_singleton(script, tmp_path)


@needs_mpi
def test_comm_self_reports_as_single_process_fit(tmp_path):
    """What fit says besides its result is the same with comm=MPI.COMM_SELF as without: NaN targets propagate
    (no error), verbose prints the same lines, and an exception from the callback carries the same mlpext_epochs,
    mlpext_losses and mlpext_batches."""
    script = """
import contextlib, io, numpy as np, mlpext
from mpi4py import MPI
rng = np.random.default_rng(1)
X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1)) * 1e-3
y[3] = np.nan
make = lambda: mlpext.MLP([3, 4, 1], seed=2, dtype=np.float64)
for comm in (None, MPI.COMM_SELF):
    h = make().fit(X, y, epochs=2, batch_size=5, comm=comm)
    assert np.isnan(h).all(), (comm, h)
lines = []
for comm in (None, MPI.COMM_SELF):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        make().fit(X, np.zeros_like(y), epochs=3, verbose=1, comm=comm)  # losses below 0.01: 4 digits, not 4 places
    lines.append(out.getvalue())
assert lines[0] == lines[1] and lines[0].count("Epoch") == 3, lines
def stop(epoch, loss):
    if epoch == 1:
        raise RuntimeError("stop")
got = []
for comm in (None, MPI.COMM_SELF):
    try:
        make().fit(X, y, epochs=4, batch_size=6, callback=stop, comm=comm)
    except RuntimeError as exc:
        got.append((exc.mlpext_epochs, exc.mlpext_losses.tolist(), exc.mlpext_batches))
assert len(got) == 2 and got[0][0] == 2 and got[0][2] == 0, got
assert got[0][0] == got[1][0] and got[0][2] == got[1][2] and np.allclose(got[0][1], got[1][1], equal_nan=True), got
for comm in (None, MPI.COMM_SELF):  # a check of the data: nothing ran, and the exception says so
    try:
        make().fit(X, y[:5], epochs=2, comm=comm)
    except ValueError as exc:
        assert (exc.mlpext_epochs, exc.mlpext_losses.size, exc.mlpext_batches) == (0, 0, 0), comm
    else:
        raise AssertionError("no ValueError")
print("ok")
"""
    _run_singleton(script, tmp_path)


def test_without_mpi4py_the_error_says_what_to_install(monkeypatch):
    import mlpext
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py raises ImportError
    net = mlpext.MLP([2, 3, 1], seed=0)
    with pytest.raises(ImportError, match=r"pip install 'mlpext\[mpi\]'"):
        net.fit(np.zeros((4, 2)), np.zeros(4), epochs=1, comm=object())


# ------------------------------------------------------------------------------------------------------------
# The C side of a distributed step (no MPI needed): net_apply and net_shuffle
# ------------------------------------------------------------------------------------------------------------

OPTIMIZERS = [dict(optimizer="sgd"), dict(optimizer="sgd", momentum=0.9, weight_decay=0.01),
              dict(optimizer="sgd", momentum=0.9, nesterov=True), dict(optimizer="adam", weight_decay=0.01),
              dict(optimizer="rmsprop", weight_decay=0.01), dict(optimizer="adamw")]


def _flat_state(net):
    return [a for pair in net.params for a in pair] + list(net._state)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", OPTIMIZERS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_net_apply_is_the_step_fit_takes(options, dtype):
    """gradients() then net_apply == step(): the same C optimizer loop, bit for bit, three steps in a row (Adam's
    step count included); and the NumPy reference's torch formulas agree within rounding."""
    import mlpext
    from mlpext import _core
    from mlpext.reference_net import NumpyMLP
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((9, 5)), rng.integers(0, 3, 9)
    stepped, applied = (mlpext.MLP([5, 6, 3], loss="cross_entropy", dtype=dtype, seed=2, **options)
                        for _ in range(2))
    reference = NumpyMLP([5, 6, 3], loss="cross_entropy", dtype=dtype, seed=2, **options)
    for _ in range(3):
        stepped.step(X, y)
        grads = [g for pair in applied.gradients(X, y) for g in pair]
        _core.net_apply(applied._weights(), applied._biases(), grads, applied.optimizer, applied._hyper(),
                        applied._optimizer_state())
        reference.step(X, y)
    for a, b, c in zip(_flat_state(applied), _flat_state(stepped), _flat_state(reference)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-6)


def test_net_apply_takes_the_deepest_network():
    """At MLP's most layers (64) Adam's net_apply takes 8L + 1 arrays (parameters, gradients, step count, two
    buffers) and equals step(); it once ran out of argument slots there and blamed the state list's length."""
    import mlpext
    from mlpext import _core
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    stepped, applied = (mlpext.MLP([2] * 65, loss="mse", optimizer="adam", seed=3) for _ in range(2))
    stepped.step(X, y)
    grads = [g for pair in applied.gradients(X, y) for g in pair]
    _core.net_apply(applied._weights(), applied._biases(), grads, applied.optimizer, applied._hyper(),
                    applied._optimizer_state())
    for a, b in zip(_flat_state(applied), _flat_state(stepped)):
        np.testing.assert_array_equal(a, b)


def test_messages_name_the_last_items_of_the_deepest_lists():
    """The names of list items ("weights[63]", "grads[127]", "state[256]") are made once for every index a call can
    have; the last of each list is named right."""
    import mlpext
    from mlpext import _core
    net = mlpext.MLP([2] * 65, loss="mse", optimizer="adam", dtype=np.float64, seed=3)
    W, b, hyper, state = net._weights(), net._biases(), net._hyper(), net._optimizer_state()
    grads = [np.zeros_like(a) for pair in net.params for a in pair]
    wrong = np.zeros(2, dtype=np.float32)
    cases = {"biases[63]": lambda: _core.net_apply(W, b[:-1] + [wrong], grads, "adam", hyper, state),
             "grads[127]": lambda: _core.net_apply(W, b, grads[:-1] + [wrong], "adam", hyper, state),
             "state[256]": lambda: _core.net_apply(W, b, grads, "adam", hyper, state[:-1] + [wrong]),
             "state[0] (step)": lambda: _core.net_apply(W, b, grads, "adam", hyper, [wrong] + state[1:])}
    for name, call in cases.items():
        with pytest.raises(TypeError, match=re.escape(name) + " must"):
            call()


def test_net_apply_checks_before_writing():
    """Bad gradients or state raise TypeError / ValueError naming the argument, and nothing is written."""
    import mlpext
    from mlpext import _core
    net = mlpext.MLP([3, 4, 2], optimizer="adam", dtype=np.float64, seed=0)
    grads = [np.ones_like(a) for pair in net.params for a in pair]
    before = [a.copy() for a in _flat_state(net)]
    W, b, hyper, state = net._weights(), net._biases(), net._hyper(), net._optimizer_state()
    bad = {
        "grads (dW_0": (ValueError, lambda: _core.net_apply(W, b, grads[:3], "adam", hyper, state)),
        "grads[1] must have dtype float64": (
            TypeError, lambda: _core.net_apply(W, b, grads[:1] + [grads[1].astype(np.float32)] + grads[2:],
                                               "adam", hyper, state)),
        "grads[2] must have shape": (ValueError, lambda: _core.net_apply(W, b, grads[:2] + [grads[2].T] + grads[3:],
                                                                         "adam", hyper, state)),
        "state (the optimizer's buffers)": (ValueError, lambda: _core.net_apply(W, b, grads, "adam", hyper, [])),
        "optimizer": (ValueError, lambda: _core.net_apply(W, b, grads, "lbfgs", hyper, state)),
        "hyper": (TypeError, lambda: _core.net_apply(W, b, grads, "adam", hyper[:6], state)),
        "shares memory": (ValueError, lambda: _core.net_apply(W, b, [W[0]] + grads[1:], "adam", hyper, state)),
    }
    read_only = W[1].copy()
    read_only.flags.writeable = False
    bad["read-only"] = (ValueError, lambda: _core.net_apply([W[0], read_only], b, grads, "adam", hyper, state))
    for words, (error, call) in bad.items():
        with pytest.raises(error, match=re.escape(words)):
            call()
        for a, c in zip(_flat_state(net), before):
            np.testing.assert_array_equal(a, c, err_msg=words)


def test_net_apply_nan_gradients_give_nan_parameters():
    import mlpext
    from mlpext import _core
    net = mlpext.MLP([3, 4, 2], optimizer="sgd", momentum=0.5, dtype=np.float32, seed=0)
    grads = [np.full_like(a, np.nan) for pair in net.params for a in pair]
    _core.net_apply(net._weights(), net._biases(), grads, "sgd", net._hyper(), net._optimizer_state())
    assert all(np.isnan(a).all() for a in _flat_state(net))


def test_net_shuffle_is_the_permutation_fit_draws():
    """net_shuffle(n, rng) is reference_net.shuffled_order (the C core's Fisher–Yates), advancing rng as an epoch
    of fit does; n = 0 draws nothing; bad generators are refused without being written."""
    from mlpext import _core
    from mlpext.reference_net import shuffled_order
    rng = np.array([1, 2, 3, 2**64 - 1], dtype=np.uint64)
    state = [int(s) for s in rng]
    for n in (1, 2, 7, 100):
        np.testing.assert_array_equal(_core.net_shuffle(n, rng), shuffled_order(n, state))
        assert [int(s) for s in rng] == state
    kept = rng.copy()
    assert _core.net_shuffle(0, rng).shape == (0,) and np.array_equal(rng, kept)
    for bad, error, words in ((np.zeros(4, np.uint64), ValueError, "all zero"),
                              (np.ones(3, np.uint64), ValueError, "shape"),
                              (np.ones(4, np.int64), TypeError, "uint64")):
        with pytest.raises(error, match=words):
            _core.net_shuffle(5, bad)
    read_only = rng.copy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.net_shuffle(5, read_only)
    with pytest.raises(ValueError, match="non-negative"):
        _core.net_shuffle(-1, rng)


def test_net_apply_and_net_shuffle_do_not_leak():
    """Reference counts unchanged and traced memory flat over many calls, on success and on error."""
    import gc
    import tracemalloc

    import mlpext
    from mlpext import _core
    net = mlpext.MLP([3, 4, 2], optimizer="adam", seed=0)
    grads = [np.zeros_like(a) for pair in net.params for a in pair]
    rng = np.array([1, 2, 3, 4], dtype=np.uint64)
    arrays = _flat_state(net) + grads + [rng]

    def run(count):
        for _ in range(count):
            _core.net_apply(net._weights(), net._biases(), grads, "adam", net._hyper(), net._optimizer_state())
            _core.net_shuffle(10, rng)
            with pytest.raises(ValueError):
                _core.net_apply(net._weights(), net._biases(), grads[:2], "adam", net._hyper(),
                                net._optimizer_state())
            with pytest.raises(TypeError):
                _core.net_shuffle(10, rng.view(np.int64))

    run(100)
    refs = [sys.getrefcount(a) for a in arrays]
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        run(5000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(a) for a in arrays] == refs
    assert grown < 64 * 1024, grown
