"""Types of mlpext._core, the C extension (see the docstrings of each function)."""
from typing import Any, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

_Param = NDArray[Any]  # float32 or float64, C-contiguous; writable where it is updated
_Real = Union[int, float, np.integer[Any], np.floating[Any]]

def forward(
    X: ArrayLike, W1: _Param, b1: _Param, W2: _Param, b2: _Param,
    out: Optional[Tuple[NDArray[Any], NDArray[Any]]] = None,
) -> Tuple[NDArray[Any], NDArray[Any]]: ...
def backward(
    y: ArrayLike, hidden_activation: NDArray[Any], predicted_output: NDArray[Any], W2: _Param,
    out: Optional[Tuple[NDArray[Any], NDArray[Any]]] = None,
) -> Tuple[NDArray[Any], NDArray[Any]]: ...
def update(
    X: ArrayLike, hidden_activation: NDArray[Any], delta_output: NDArray[Any], delta_hidden: NDArray[Any],
    W1: _Param, b1: _Param, W2: _Param, b2: _Param, learning_rate: _Real,
) -> None: ...
def train_step(
    X: ArrayLike, y: ArrayLike, W1: _Param, b1: _Param, W2: _Param, b2: _Param, learning_rate: _Real
) -> float: ...
@overload
def train(
    X: ArrayLike, y: ArrayLike, W1: _Param, b1: _Param, W2: _Param, b2: _Param, learning_rate: _Real,
    epochs: int, log_every: int = 0, history: Literal["all", "log"] = "all",
) -> NDArray[np.float64]: ...
@overload
def train(
    X: ArrayLike, y: ArrayLike, W1: _Param, b1: _Param, W2: _Param, b2: _Param, learning_rate: _Real,
    epochs: int, log_every: int = 0, *, history: None,
) -> None: ...  # history=None keeps no losses (runs too long for 8 bytes an epoch)
def predict(
    X: ArrayLike, W1: _Param, b1: _Param, W2: _Param, b2: _Param,
    out: Union[None, NDArray[Any], Tuple[NDArray[Any]]] = None,
) -> NDArray[Any]: ...
def trace_step(
    X: ArrayLike, y: ArrayLike, W1: _Param, b1: _Param, W2: _Param, b2: _Param, learning_rate: _Real
) -> dict[str, NDArray[Any]]: ...

# Private: the C side of mlpext.MLP (mlpext/network.py).
def net_forward(X: ArrayLike, weights: Sequence[_Param], biases: Sequence[_Param], activations: Sequence[str],
                slope: _Real, out: Optional[NDArray[Any]] = None,
                expect: Optional[Tuple[int, ...]] = None) -> NDArray[Any]: ...
def net_loss(X: ArrayLike, y: ArrayLike, weights: Sequence[_Param], biases: Sequence[_Param],
             activations: Sequence[str], slope: _Real, loss: str,
             grads: Optional[Sequence[NDArray[Any]]] = None, expect: Optional[Tuple[int, ...]] = None) -> float: ...
def net_fit(X: ArrayLike, y: ArrayLike, weights: Sequence[_Param], biases: Sequence[_Param],
            activations: Sequence[str], slope: _Real, loss: str, optimizer: str,
            hyper: Tuple[float, float, bool, float, float, float, float, float], state: Sequence[NDArray[Any]],
            epochs: int, batch_size: int, shuffle: bool, rng: NDArray[np.uint64],
            record: Optional[list[Any]] = None, expect: Optional[Tuple[int, ...]] = None) -> NDArray[np.float64]: ...
# Private: the C side of mlpext.distributed (data-parallel fit).
def net_apply(weights: Sequence[_Param], biases: Sequence[_Param], grads: Sequence[_Param], optimizer: str,
              hyper: Tuple[float, float, bool, float, float, float, float, float],
              state: Sequence[NDArray[Any]]) -> None: ...
def net_shuffle(n: int, rng: NDArray[np.uint64]) -> NDArray[np.intp]: ...
def build_info() -> dict[str, Any]: ...
def release_memory() -> int: ...
def optimizer_state(optimizer: str, momentum: float) -> tuple[str, ...]: ...
# Private: mlpext/__init__.py registers it with os.register_at_fork(after_in_child=...); a forked child forgets
# the parent's helper threads.
def _after_fork_in_child() -> None: ...
