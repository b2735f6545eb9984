"""Train an mlpext.MLP on scikit-learn's handwritten digits across MPI processes (data parallel).

    mpiexec -n 2 python examples/digits_mpi.py [--epochs 60] [--save digits_mpi.npz] [--check]
    srun -n 4 python examples/digits_mpi.py          (under Slurm; the same script)

Every rank reads the data set and keeps its own share of the training rows (mlpext.distributed.shard: the
rows split evenly in rank order); fit(..., comm=MPI.COMM_WORLD) trains one network on all of them: each step's
mini-batch is the one a single process would take from the whole training set, each rank computes the gradient
of its rows in that batch, one Allreduce sums them, and every rank takes the same Adam step. Rank 0 prints the
progress and the test accuracy and saves the network (--save); every rank ends with the same parameters.

--check: rank 0 then trains the same network in this process alone, on the whole training set, and prints the
largest difference between the two (float64: about 1e-15 relative, from the sums' order; 0 with one rank).

The set-up is examples/digits_train.py's: 64-128-10, ReLU, softmax output with cross-entropy, Adam (lr 1e-3),
mini-batches of 32, a 75/25 stratified split. Needs mpi4py with an MPI and scikit-learn
(pip install "mlpext[mpi,sklearn]").
"""
import argparse
import time

import numpy as np
from mpi4py import MPI
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mlpext
from mlpext.distributed import shard


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60, help="epochs (default 60)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size of the whole job (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="the network's seed (default 0)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--save", metavar="PATH", help="rank 0 saves the trained network there (MLP.load reads it)")
    parser.add_argument("--check", action="store_true", help="compare with training in one process (rank 0)")
    args = parser.parse_args()
    if args.epochs < 1:  # the report divides by the epochs (and reads the last epoch's loss)
        parser.error(f"--epochs must be >= 1, got {args.epochs}")

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    mine = shard(len(X_train), comm)  # this rank's rows of the training set
    dtype = np.dtype(args.dtype).type

    def network():
        return mlpext.MLP([64, 128, 10], activation="relu", loss="cross_entropy", optimizer="adam",
                          learning_rate=1e-3, dtype=dtype, seed=args.seed)

    net = network()
    started = time.perf_counter()
    history = net.fit(X_train[mine], y_train[mine], epochs=args.epochs, batch_size=args.batch_size,
                      verbose=10, comm=comm)  # only rank 0 prints
    seconds = time.perf_counter() - started
    if rank == 0:
        accuracy = float(np.mean(net.predict(X_test) == y_test))
        print(f"{size} rank(s), {len(X_train)} training rows ({mine.stop - mine.start} on rank 0), {args.epochs} "
              f"epochs of batches of {args.batch_size}: {seconds:.2f} s; final loss {history[-1]:.4f}; test "
              f"accuracy {accuracy * 100:.2f}%")
        if args.save:
            net.save(args.save)
            print(f"saved to {args.save}")
        if args.check:
            alone = network()
            alone_history = alone.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size)
            params = [a for pair in net.params for a in pair]
            expected = [a for pair in alone.params for a in pair]
            worst = max(float(np.max(np.abs(p - q))) / float(np.max(np.abs(q))) for p, q in zip(params, expected))
            loss_diff = float(np.max(np.abs(history - alone_history) / alone_history))
            print(f"check against one process: parameters differ by at most {worst:.2e} of their largest value, "
                  f"losses by {loss_diff:.2e} relative")


if __name__ == "__main__":
    main()
