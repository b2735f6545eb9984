"""The MPI side of tests/network/test_distributed.py: run as `mpiexec -n N python mpi_worker.py job.json`.

job.json: {"mode": ..., "out": a directory, "cases": [...]} (see test_distributed.py). Each rank writes its
results to files in `out`; the test compares them with single-process fits and across ranks. make_data and
make_net are imported by the test too, so both sides build the same data and networks.
"""
import json
import os
import sys
import time

import numpy as np


def make_data(case):
    """The whole data set of a case (every rank builds it, then keeps its shard)."""
    d = case["data"]
    rng = np.random.default_rng(d["seed"])
    n, inputs, outputs = d["n"], case["net"]["layer_sizes"][0], case["net"]["layer_sizes"][-1]
    X = rng.normal(size=(n, inputs))
    loss = case["net"]["loss"]
    if loss == "cross_entropy" and d.get("rows"):
        y = rng.dirichlet(np.ones(outputs), size=n)  # probability rows
    elif loss == "cross_entropy":
        y = rng.integers(0, outputs, size=n)
    elif loss == "bce":
        y = (rng.random((n, outputs)) < 0.5).astype(np.float64)
    elif loss == "lecture":
        y = rng.random((n, outputs))
    else:
        y = rng.normal(size=(n, outputs))
    return X, y


def make_net(case, seed_offset=0):
    import mlpext
    kwargs = dict(case["net"])
    kwargs["seed"] = kwargs["seed"] + seed_offset
    return mlpext.MLP(**kwargs)


def shard_of(case, X, y, rank):
    counts = case["counts"]
    lo = sum(counts[:rank])
    return X[lo:lo + counts[rank]], y[lo:lo + counts[rank]]


def result_arrays(net, history=None):
    arrays = {f"p{k}": a for k, a in enumerate(a for pair in net.params for a in pair)}
    arrays.update({f"s{k}": a for k, a in enumerate(net._state)})
    arrays["rng"] = net._rng
    if history is not None:
        arrays["history"] = history
    return arrays


def run_fit(job, comm):
    rank = comm.Get_rank()
    for case in job["cases"]:
        X, y = make_data(case)
        Xr, yr = shard_of(case, X, y, rank)
        net = make_net(case, seed_offset=rank)  # the other ranks' own initial values must not matter
        f = case["fit"]
        history = net.fit(Xr, yr, epochs=f["epochs"], batch_size=f["batch_size"], shuffle=f["shuffle"], comm=comm,
                          verbose=f.get("verbose", 0))
        np.savez(os.path.join(job["out"], f"{case['name']}.rank{rank}.npz"), **result_arrays(net, history))


def replace_params(net, read_only=False):
    """A callback that puts copies of the parameters in net.params after epoch 0 (read-only ones if asked)."""
    def callback(epoch, loss):
        if epoch == 0:
            net.params = [(W.copy(), b.copy()) for W, b in net.params]
            if read_only:
                net.params[0][0].flags.writeable = False
    return callback


def run_errors(job, comm):
    """Each scenario raises on every rank; the rank records what it raised and the parameters it ends with."""
    from mlpext.distributed import DistributedError  # noqa: F401 (the name the test expects)
    rank, size = comm.Get_rank(), comm.Get_size()
    case = job["cases"][0]
    X, y = make_data(case)
    Xr, yr = shard_of(case, X, y, rank)
    outcomes = {}

    def attempt(name, net, **kwargs):
        before = [a.copy() for pair in net.params for a in pair]
        args = dict(X=Xr, y=yr, epochs=3, batch_size=4, comm=comm)
        args.update(kwargs)
        try:
            net.fit(**args)
            outcomes[name] = {"raised": None}
        except Exception as exc:
            outcomes[name] = {"raised": type(exc).__name__, "message": str(exc)}
        after = [a for pair in net.params for a in pair]
        outcomes[name]["unchanged"] = all(np.array_equal(a, b) for a, b in zip(before, after))
        np.savez(os.path.join(job["out"], f"{name}.rank{rank}.npz"), **result_arrays(net))

    last = size - 1
    attempt("bad_shape", make_net(case), X=Xr[:, :-1] if rank == last else Xr)
    bad_y = yr.copy()
    if rank == last and len(bad_y):
        bad_y[0] = case["net"]["layer_sizes"][-1]  # a label out of range
    attempt("bad_label", make_net(case), y=bad_y)
    attempt("batch_mismatch", make_net(case), batch_size=5 if rank == last else 4)
    # net.params arrays the computation refuses, on the last rank only: checked with the data, before rank 0's
    # parameters are broadcast into them (a wider W ended the job in the broadcast, a read-only one in the copy)
    wide = make_net(case)
    if rank == last:
        W, b = wide.params[0]
        wide.params[0] = (np.zeros((W.shape[0], W.shape[1] + 1), dtype=W.dtype), b)
    attempt("bad_param_shape", wide)
    frozen = make_net(case)
    if rank == last:
        frozen.params[-1][1].flags.writeable = False
    attempt("read_only_param", frozen)
    # mlpext.distributed.fit called directly, with a network that is not an mlpext.MLP on the last rank only
    from mlpext import distributed
    from mlpext.reference_net import NumpyMLP
    net = make_net(case)
    other = NumpyMLP(case["net"]["layer_sizes"], seed=0) if rank == last else net
    try:
        distributed.fit(other, Xr, yr, epochs=3, batch_size=4, comm=comm)
        outcomes["not_mlp"] = {"raised": None}
    except Exception as exc:
        outcomes["not_mlp"] = {"raised": type(exc).__name__, "message": str(exc)}

    def failing(epoch, loss):
        if rank == last and epoch == 1:
            raise ValueError("callback failed on purpose")

    attempt("callback_raises", make_net(case), callback=failing)

    diverging = make_net(case)

    def change_one_rank(epoch, loss):
        if rank == last:
            diverging.learning_rate = 0.5  # on one rank only: the ranks part ways

    attempt("diverges", diverging, callback=change_one_rank)

    def stopping(epoch, loss):
        return rank == 0 and epoch == 1

    net = make_net(case)
    history = net.fit(Xr, yr, epochs=4, batch_size=4, comm=comm, callback=stopping)
    outcomes["callback_stops"] = {"epochs": len(history)}

    # a callback that puts new arrays in net.params on every rank: training goes on with them, as single-process
    # fit's does (replace_params, which the test runs alone too); then one whose new array is read-only on the last
    # rank only: a ValueError there, DistributedError on the others (it used to end the job, or train the old arrays)
    net = make_net(case)
    history = net.fit(Xr, yr, epochs=3, batch_size=4, comm=comm, callback=replace_params(net))
    np.savez(os.path.join(job["out"], f"replaced.rank{rank}.npz"), **result_arrays(net, history))
    frozen = make_net(case)
    attempt("replaced_read_only", frozen, callback=replace_params(frozen, read_only=rank == last))
    with open(os.path.join(job["out"], f"errors.rank{rank}.json"), "w") as f:
        json.dump(outcomes, f)


def stderr_to_file(job, rank):
    """Sends this rank's sys.stderr to stderr.{rank} in the job's folder: MPI_Abort may end the launcher before it
    forwards what the ranks wrote, so the test reads the message where the library wrote it."""
    sys.stderr = open(os.path.join(job["out"], f"stderr.{rank}"), "w", encoding="utf-8")


def run_abort(job, comm):
    """Rank 1's callback raises KeyboardInterrupt: the job must end (MPI_Abort), not hang in rank 0's next
    collective. Each rank's stderr goes to a file (stderr_to_file)."""
    rank = comm.Get_rank()
    stderr_to_file(job, rank)
    case = job["cases"][0]
    X, y = make_data(case)
    Xr, yr = shard_of(case, X, y, rank)

    def interrupt(epoch, loss):
        if rank == 1:
            raise KeyboardInterrupt

    make_net(case).fit(Xr, yr, epochs=1000, batch_size=4, comm=comm, callback=interrupt)


def run_long(job, comm):
    """Trains long enough to be interrupted from outside; rank 0 writes `started` after the first epoch. Each
    rank's stderr goes to a file (stderr_to_file)."""
    rank = comm.Get_rank()
    stderr_to_file(job, rank)
    case = job["cases"][0]
    X, y = make_data(case)
    Xr, yr = shard_of(case, X, y, rank)
    started = os.path.join(job["out"], "started")

    def mark(epoch, loss):
        if rank == 0 and epoch == 0:
            with open(started, "w"):
                pass

    make_net(case).fit(Xr, yr, epochs=10**6, batch_size=4, comm=comm, callback=mark)


def sklearn_data():
    """Digit-like data with string labels; rank 0's shard in the 2-rank split lacks the class "c"."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 6))
    y = np.array(["a", "b"] * 10 + ["a", "b", "c"] * 10)
    return X, y, [20, 30]


def run_sklearn(job, comm):
    """MLPClassifier.fit(comm=...) and MLPRegressor.partial_fit(comm=...) on this rank's rows; early_stopping is
    refused on every rank."""
    from mlpext.sklearn import MLPClassifier, MLPRegressor
    rank = comm.Get_rank()
    X, y, counts = sklearn_data()
    lo = sum(counts[:rank])
    Xr, yr = X[lo:lo + counts[rank]], y[lo:lo + counts[rank]]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=6, batch_size=7, random_state=rank, verbose=True)
    clf.fit(Xr, yr, comm=comm)
    reg = MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=0.01, random_state=0)
    target = X[:, 0] - X[:, 1]
    for _ in range(3):
        reg.partial_fit(Xr, target[lo:lo + counts[rank]], comm=comm)
    try:
        MLPClassifier(early_stopping=True).fit(Xr, yr, comm=comm)
        refused = None
    except Exception as exc:
        refused = type(exc).__name__
    # partial_fit's own checks, failing on the last rank only (a label outside classes; no classes on a first
    # call): what each rank raised (every rank must raise, or the others would wait for it for ever)
    last = comm.Get_size() - 1
    partial = []
    for bad_label, classes in ((True, ["a", "b", "c"]), (False, None if rank == last else ["a", "b", "c"])):
        yb = yr.copy()
        if bad_label and rank == last:
            yb[0] = "z"
        try:
            MLPClassifier(hidden_layer_sizes=(4,), random_state=0).partial_fit(Xr, yb, classes=classes, comm=comm)
            partial.append("none")
        except Exception as exc:
            partial.append(type(exc).__name__)
    # the ranks would make different networks (a feature fewer on the last rank; an activation changed there before
    # a partial_fit goes on; a warm start where only rank 0 has a network): every rank raises, and the estimator
    # is left as it was (before, fit left an untrained network behind, and partial_fit waited for ever on rank 0)
    disagree = []
    fresh = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    outcome = []
    try:
        fresh.fit(Xr[:, :-1] if rank == last else Xr, yr, comm=comm)
        outcome.append("none")
    except Exception as exc:
        outcome.append(type(exc).__name__)
    disagree.append(f"{outcome[-1]} fitted={hasattr(fresh, 'coefs_')}")
    going = MLPClassifier(hidden_layer_sizes=(4,), random_state=0).partial_fit(Xr, yr, classes=["a", "b", "c"],
                                                                               comm=comm)
    before = [W.copy() for W in going.coefs_]
    going.set_params(activation="tanh" if rank == last else "relu")
    try:
        going.partial_fit(Xr, yr, comm=comm)
        outcome.append("none")
    except Exception as exc:
        outcome.append(type(exc).__name__)
    same = all(np.array_equal(a, b) for a, b in zip(before, going.coefs_))
    disagree.append(f"{outcome[-1]} t_={going.t_} same={same}")
    warm = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0, warm_start=True)
    if rank == 0:
        warm.fit(X, y)
    try:
        warm.fit(Xr, yr, comm=comm)
        outcome.append("none")
    except Exception as exc:
        outcome.append(type(exc).__name__)
    disagree.append(f"{outcome[-1]} t_={getattr(warm, 't_', None)}")
    np.savez(os.path.join(job["out"], f"sklearn.rank{rank}.npz"), classes=clf.classes_, partial=np.array(partial),
             disagree=np.array(disagree),
             loss_curve=np.array(clf.loss_curve_), t=clf.t_, refused=np.array(refused),
             reg_loss_curve=np.array(reg.loss_curve_),
             **{f"coef{k}": W for k, W in enumerate(clf.coefs_)}, **{f"reg{k}": W for k, W in enumerate(reg.coefs_)})


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    started = time.perf_counter()
    modes = {"fit": run_fit, "errors": run_errors, "abort": run_abort, "long": run_long, "sklearn": run_sklearn}
    modes[job["mode"]](job, comm)
    comm.Barrier()
    if comm.Get_rank() == 0:
        print(f"mpi_worker: {job['mode']} done in {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
