"""mlpext.distributed — data-parallel training of mlpext.MLP across MPI processes, on mpi4py.

    from mpi4py import MPI
    net = mlpext.MLP([784, 128, 10], loss="cross_entropy", seed=0)
    history = net.fit(X_mine, y_mine, epochs=10, batch_size=128, comm=MPI.COMM_WORLD)

Contract (net.fit(..., comm=comm) calls fit() below):
- X, y on each rank are that rank's rows; the data set is the concatenation of every rank's rows in rank order
  (shards may differ in size, and may be empty). Every rank passes the same epochs, batch_size and shuffle and a
  network of the same configuration (checked).
- Training starts from rank 0's parameters, optimizer state and shuffle generator state (broadcast), so the
  other ranks' initial values do not matter.
- Each step takes the rows that single-process fit with that generator state takes from the concatenated data
  (the same permutation: every rank draws it, none sends it). Each rank computes the gradient of the loss on its
  share of the step's rows in C (the GIL released), weighted by its share of the batch (the gradients are of
  means, but the lecture's is of a sum and is not weighted; every loss value is a mean); one Allreduce of one contiguous buffer sums them; every rank
  then takes the same optimizer step in C (the code single-process fit runs). The returned losses are the global
  ones, the same on every rank. So N ranks give the single-process result up to the order of the sums (the
  tests hold them to 1e-12 of the largest value in float64), bit-reproducibly for a fixed N, and 1 rank gives it
  bit for bit.
- The parameters are identical on every rank after every step; fit checks it at the end (DistributedError if
  the MPI's Allreduce did not give every rank the same sums).
- Only rank 0 prints (verbose) and shows a progress bar; the callback runs on every rank with the global loss,
  and training stops after an epoch where it returned True on any rank. A callback that changes the network
  (net.learning_rate = ...) must do so on every rank, or the ranks part ways (DistributedError at the end).
- Errors: bad arguments on any rank (the data, fit's arguments, or net.params arrays of another dtype or shape,
  read-only or not C-contiguous) raise on every rank before anything is written (the rank at fault raises
  its own TypeError / ValueError, the others DistributedError naming it). An exception on one rank during
  training (a callback's, say) is carried by the next collective, so every rank raises at the same step with
  the parameters still identical (that step not taken). KeyboardInterrupt (Ctrl-C) or an MPI error on one rank
  of several aborts the whole job (MPI_Abort): the other ranks may be blocked in a collective it will not join.

Also here: shard(n, comm), an even split of n rows in rank order; agree(comm, compute), the all-or-none check
before training that fit and the scikit-learn estimators use.
"""
import functools
import sys
import zlib

import numpy as np

from mlpext import _core
from mlpext.network import LOSS_TABLE, _count

__all__ = ["fit", "agree", "shard", "DistributedError"]


class DistributedError(RuntimeError):
    """Raised on every rank but the one at fault when a rank's arguments are bad or a rank fails during fit."""


class _Agreed(Exception):
    """Internal: an exception every rank raises at the same point (propagated without aborting the job)."""

    def __init__(self, exc):
        super().__init__(exc)
        self.exc = exc


def shard(n, comm):
    """The slice of range(n) that rank comm.rank holds when n rows are split as evenly as possible in rank order
    (the first n % size ranks one row more): a convenience for splitting a data set every rank can read."""
    size, rank = comm.Get_size(), comm.Get_rank()
    n = _count(n, "n")
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError("fit(comm=...) trains across MPI processes and needs mpi4py: pip install 'mlpext[mpi]' "
                          "(mpi4py and an MPI), or pip install mpi4py against the cluster's MPI") from None
    return MPI


def _local_data(net, X, y):
    """This rank's X and y, checked and converted once: X (n, inputs) of the network's dtype, C-contiguous; y
    (n, outputs) of that dtype, or for cross_entropy's labels (n,) intp. TypeError / ValueError as MLP.fit's."""
    X = X if isinstance(X, np.ndarray) else np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"MLP.fit(): X must hold real numbers (bool, int, uint or float), got dtype {X.dtype}")
    inputs, outputs = net.layer_sizes[0], net.layer_sizes[-1]
    if X.ndim != 2 or X.shape[1] != inputs:
        raise ValueError(f"MLP.fit(): X must have shape (n, {inputs}) (this rank's rows), got shape {X.shape}")
    n = X.shape[0]
    y, _ = net._prepare_y(y)
    y = y if isinstance(y, np.ndarray) else np.asarray(y)
    if net.loss_name == "cross_entropy" and y.ndim == 1 and y.dtype.kind in "iu":
        if y.shape != (n,):
            raise ValueError(f"MLP.fit(): y must have shape ({n},) (one label per row of X), got shape {y.shape}")
        if n and (y.min() < 0 or y.max() >= outputs):
            raise ValueError(f"MLP.fit(): y holds class labels in [{y.min()}, {y.max()}], but the network has "
                             f"{outputs} outputs (labels 0 to {outputs - 1})")
        return np.ascontiguousarray(X, dtype=net.dtype), np.ascontiguousarray(y, dtype=np.intp)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"MLP.fit(): y must hold real numbers (bool, int, uint or float), got dtype {y.dtype}")
    if y.shape != (n, outputs):
        raise ValueError(f"MLP.fit(): y must have shape ({n}, {outputs}) (one row per row of X), got shape "
                         f"{y.shape}")
    return np.ascontiguousarray(X, dtype=net.dtype), np.ascontiguousarray(y, dtype=net.dtype)


def agree(comm, compute):
    """Runs compute() on every rank of comm, then one collective: returns every rank's result, in rank order; if
    compute raised an Exception on any rank, raises on every rank instead (that rank its own exception, the others
    DistributedError naming it). For the checks before training, so that no rank waits for one that gave up."""
    failure = result = None
    try:
        result = compute()
    except Exception as exc:
        failure = exc
    reports = comm.allgather((None if failure is None else f"{type(failure).__name__}: {failure}", result))
    if failure is not None:
        raise failure
    bad = next((r for r, report in enumerate(reports) if report[0] is not None), None)
    if bad is not None:
        raise DistributedError(f"rank {bad} of {len(reports)} raised {reports[bad][0]}; rank {comm.Get_rank()} "
                               "stopped with it")
    return [report[1] for report in reports]


def _raise_agreed(comm, failure, what):
    """After a collective showed that some rank failed: every rank learns which (one more collective) and raises,
    the failing rank its own exception, the others DistributedError."""
    rank = comm.Get_rank()
    reports = comm.allgather(None if failure is None else f"{type(failure).__name__}: {failure}")
    if failure is not None:
        raise _Agreed(failure)
    first = next(r for r, report in enumerate(reports) if report is not None)
    raise _Agreed(DistributedError(f"rank {first} of {len(reports)} raised {reports[first]} {what}; rank {rank} "
                                   "stopped with it"))


def _record_progress(exc, losses, batches):
    """exc.mlpext_epochs, .mlpext_losses and .mlpext_batches, as MLP.fit sets them, for training stopped by exc."""
    from mlpext.network import _record_run
    _record_run(exc, losses, from_computation=False)
    if getattr(exc, "mlpext_epochs", None) is not None:
        exc.mlpext_batches = batches


def _checksum(arrays):
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a).view(np.uint8), crc)
    return crc


def fit(net, X, y, epochs, batch_size=None, shuffle=True, verbose=0, callback=None, progress=False, comm=None):
    """net.fit(X, y, ..., comm=comm) across the ranks of comm (an mpi4py intracommunicator): see the module's
    docstring for the contract and mlpext.MLP.fit for the arguments. Returns the global per-epoch losses."""
    MPI = _mpi()
    from mlpext.network import MLP  # (network imports this module lazily: no cycle)

    if not isinstance(comm, MPI.Intracomm):
        raise TypeError(f"comm must be an mpi4py intracommunicator (MPI.COMM_WORLD or one split from it), got "
                        f"{type(comm).__name__}")
    size, rank = comm.Get_size(), comm.Get_rank()
    try:
        return _fit(MPI, MLP, net, X, y, epochs, batch_size, shuffle, verbose, callback, progress, comm)
    except _Agreed as agreed:
        raise agreed.exc from None
    except BaseException as exc:
        if size > 1:  # the others may wait in a collective this rank will not join: end the job, not just this rank
            detail = f": {exc}" if str(exc) else ""
            sys.stderr.write(f"mlpext: rank {rank} of {size}: {type(exc).__name__} in fit(comm=...){detail}; "
                             "aborting the MPI job\n")
            sys.stderr.flush()
            comm.Abort(1)
        raise


def _fit(MPI, MLP, net, X, y, epochs, batch_size, shuffle, verbose, callback, progress, comm):
    rank = comm.Get_rank()
    # --- every rank checks its arguments and data; then all agree (one collective) before anything is written.
    # (comm's own type is checked before: a rank without a communicator cannot take part.)
    def check():
        nonlocal epochs, batch_size, verbose, shuffle, X, y, tqdm
        if not isinstance(net, MLP):
            raise TypeError(f"fit(comm=...) trains mlpext.MLP, got {type(net).__name__}")
        epochs = _count(epochs, "epochs")
        if batch_size is not None:
            batch_size = _count(batch_size, "batch_size", low=1)
        verbose = _count(int(verbose) if isinstance(verbose, (bool, np.bool_)) else verbose, "verbose")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        if progress and rank == 0:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                raise ImportError("fit(progress=True) shows a tqdm progress bar and needs the tqdm package: "
                                  "pip install tqdm (or pass progress=False)") from None
        shuffle = bool(shuffle)
        try:  # the checks of X and y: their errors carry mlpext_epochs = 0, as single-process fit's do
            X, y = _local_data(net, X, y)
            # the parameters, optimizer state and generator state, as the computation checks them (dtype, shapes,
            # C-contiguous, writable): 0 epochs on one row of zeros, which writes nothing. Here, before the
            # broadcast writes into them: a bad array on one rank must raise on every rank, not end the job
            net._net_fit(np.zeros((1, X.shape[1]), dtype=X.dtype), np.zeros((1,) + y.shape[1:], dtype=y.dtype), 0,
                         1, False)
        except Exception as exc:
            _record_progress(exc, np.empty(0), 0)
            raise
        config = net.get_config()
        config.pop("seed")  # the parameters come from rank 0, whatever seed the others were built with
        return X.shape[0], (config, epochs, batch_size, shuffle), bool(verbose or callback is not None or progress)

    tqdm = bar = None
    try:
        reports = agree(comm, check)
    except Exception as exc:
        raise _Agreed(exc) from None
    for r, report in enumerate(reports[1:], 1):
        if report[1] != reports[0][1]:
            raise _Agreed(ValueError(
                f"fit(comm=...): rank {r} passes a different network or different arguments from rank 0's (the "
                f"configuration, epochs, batch_size and shuffle must agree): {report[1]!r} against "
                f"{reports[0][1]!r}"))
    n_local = X.shape[0]
    counts = [report[0] for report in reports]
    epoch_status = any(report[2] for report in reports)  # a collective after each epoch if any rank has hooks
    n = sum(counts)
    if n == 0:
        raise _Agreed(ValueError("MLP.fit(): X has no rows on any rank"))
    lo = sum(counts[:rank])
    hi = lo + n_local

    # --- rank 0's parameters, optimizer state and shuffle generator state, everywhere
    params = [a for pair in net.params for a in pair]
    state = net._optimizer_state()
    # the state's integer arrays (a step count, in the C core's layout) travel with the shuffle generator's state
    steps = [a for a in state if a.dtype == np.int64]
    floats = params + [a for a in state if a.dtype != np.int64]
    flat = np.concatenate([a.ravel() for a in floats]) if rank == 0 else np.empty(sum(a.size for a in floats),
                                                                                    dtype=net.dtype)
    counters = np.concatenate([net._rng] + [a.view(np.uint64) for a in steps])
    comm.Bcast(flat, root=0)
    comm.Bcast(counters, root=0)
    offset = 0
    for a in floats:
        a[...] = flat[offset:offset + a.size].reshape(a.shape)
        offset += a.size
    net._rng[...] = counters[:4]
    for k, a in enumerate(steps):
        a[...] = counters[4 + k:5 + k].view(np.int64)

    # --- the training loop
    P = sum(a.size for a in params)
    buf = np.zeros(P + 1, dtype=net.dtype)  # the gradients, then a count of the ranks that failed this step
    grads, offset = [], 0
    for a in params:
        grads.append(buf[offset:offset + a.size].reshape(a.shape))
        offset += a.size
    flag = buf[P:]
    batch = n if batch_size is None else min(batch_size, n)
    gather = shuffle and batch_size is not None and batch < n
    steps = -(-n // batch)
    # a gradient of a mean over the batch (each rank's weighted by its share), from the C core's loss table; or of
    # a sum
    mean = LOSS_TABLE[net.loss_name]["mean"]
    weights, biases = net._weights(), net._biases()
    X1, y1 = np.zeros((1, X.shape[1]), dtype=X.dtype), np.zeros((1,) + y.shape[1:], dtype=y.dtype)  # (checks)
    Xb = np.empty((min(batch, n_local), X.shape[1]), dtype=X.dtype)
    yb = np.empty((min(batch, n_local),) + y.shape[1:], dtype=y.dtype)
    history = np.empty(epochs, dtype=np.float64)
    write = functools.partial(print, flush=True)  # (mpiexec pipes stdout: unflushed lines would come late)
    if progress and rank == 0:
        bar = tqdm(total=epochs, unit="epoch")
        write = bar.write
    applied = [0, 0]  # complete epochs (history[:applied[0]]), and steps applied of the next
    try:
        for epoch in range(epochs):
            contributions = np.zeros(steps, dtype=np.float64)  # this rank's part of each step's batch loss
            failure = None
            try:
                if epoch and epoch_status:  # a callback may have put other arrays in net.params (single-process fit
                    # trains those): check them as before the first epoch, and train them
                    net._net_fit(X1, y1, 0, 1, False)
                    weights, biases = net._weights(), net._biases()
                if gather:
                    position = _core.net_shuffle(n, net._rng) - lo  # every rank draws the same permutation
                    mine = (position >= 0) & (position < n_local)
            except Exception as exc:
                failure = exc
            for s in range(steps):
                start = s * batch
                stop = min(start + batch, n)
                m = stop - start
                try:
                    if failure is not None:
                        raise failure
                    if gather:
                        rows = position[start:stop][mine[start:stop]]  # in the batch's order, as fit gathers them
                        m_r = rows.size
                        Xm = np.take(X, rows, axis=0, out=Xb[:m_r], mode="clip")  # (in range; "raise" would copy)
                        ym = np.take(y, rows, axis=0, out=yb[:m_r], mode="clip")
                    else:  # consecutive rows start..stop of the concatenation
                        a, b = max(start, lo) - lo, min(stop, hi) - lo
                        m_r = max(b - a, 0)
                        Xm, ym = X[a:a + m_r], y[a:a + m_r]
                    if m_r:
                        loss = net._net_loss(Xm, ym, grads)
                        if m_r != m:  # each rank's mean weighted by its share of the batch
                            share = m_r / m
                            if mean:  # (the lecture's gradient is of a sum: not weighted)
                                np.multiply(buf[:P], np.float64(share), out=buf[:P], casting="same_kind")
                            loss *= share
                        contributions[s] = loss
                    else:
                        buf[:P] = 0
                    flag[0] = 0
                except Exception as exc:
                    failure = exc
                    buf[:] = 0
                    flag[0] = 1
                comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
                if flag[0] != 0:
                    _raise_agreed(comm, failure, f"at epoch {epoch}, step {s}")
                _core.net_apply(weights, biases, grads, net.optimizer, net._hyper(), state)
                applied[1] = s + 1
            comm.Allreduce(MPI.IN_PLACE, contributions, op=MPI.SUM)
            total = 0.0
            for s in range(steps):  # as single-process fit sums them: each batch's mean loss times its rows
                total += contributions[s] * (min(batch, n - s * batch))
            history[epoch] = contributions[0] if steps == 1 else total / n  # one batch: its loss as it is
            applied[:] = epoch + 1, 0
            if not epoch_status:
                continue
            status = np.zeros(2, dtype=np.int64)  # (ranks that failed, ranks whose callback asked to stop)
            failure = None
            try:
                loss = float(history[epoch])
                if rank == 0 and verbose and epoch % verbose == 0:
                    write(net._verbose_line(epoch, loss))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                if callback is not None:
                    result = callback(epoch, loss)
                    status[1] = isinstance(result, (bool, np.bool_)) and bool(result)
            except Exception as exc:
                failure = exc
                status[0] = 1
            comm.Allreduce(MPI.IN_PLACE, status, op=MPI.SUM)
            if status[0]:
                _raise_agreed(comm, failure, f"after epoch {epoch}")
            if status[1]:
                history = history[:epoch + 1].copy()
                break
    except BaseException as exc:  # what ran, as single-process fit reports it (the same on every rank)
        _record_progress(exc.exc if isinstance(exc, _Agreed) else exc, history[:applied[0]], applied[1])
        raise
    finally:
        if bar is not None:
            bar.close()

    # --- the contract: every rank holds the same parameters, optimizer state and generator state
    params = [a for pair in net.params for a in pair]  # (a callback may have replaced them)
    sums = comm.allgather(_checksum(params + state + [net._rng]))
    if len(set(sums)) != 1:
        raise _Agreed(DistributedError(
            "fit(comm=...): the parameters differ across ranks after training: this MPI's Allreduce did not give "
            "every rank the same sums (checksums by rank: " + ", ".join(f"{s:08x}" for s in sums) + ")"))
    return history
