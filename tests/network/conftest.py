"""mlpext.MLP: against the NumPy baseline NumpyMLP, gradient checks, save/load (hostile files too), data-parallel
training on MPI, and the digits demo built on it."""
