"""Draws docs/xor_loss.png, the README's picture: the lecture's XOR training in NumPy and in mlpext, one loss curve
each, and how far apart they are, all from this one run.

    python docs/xor_loss.py [--out PATH]

Needs matplotlib (and uses Pillow, when installed, to store the picture in 128 colours). The figure carries no
timing: times depend on the machine and the run, and live in docs/benchmarks.md, written by benchmarks/run.py.
"""
import argparse
import io
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mlpext  # noqa: E402
from mlpext import reference  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "xor_loss.png"


def lecture_run():
    """The lecture's XOR (section 6): 2-3-1 sigmoid, learning rate 0.5, 10000 epochs, weights from seed 0; trained
    by the lecture's NumPy loop (mlpext.reference.train) and by mlpext.train from copies of the same weights."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    np.random.seed(0)
    initial = [np.random.randn(2, 3), np.random.randn(3), np.random.randn(3, 1), np.random.randn(1)]
    numpy_params = [p.copy() for p in initial]
    mlpext_params = [p.copy() for p in initial]
    numpy_losses = reference.train(X, y, *numpy_params, 0.5, 10000)
    mlpext_losses = mlpext.train(X, y, *mlpext_params, 0.5, 10000)
    loss_gap = float(np.max(np.abs(mlpext_losses - numpy_losses) / numpy_losses))
    weight_gap = max(float(np.max(np.abs(a - b) / np.abs(b))) for a, b in zip(mlpext_params, numpy_params))
    return numpy_losses, mlpext_losses, loss_gap, weight_gap


def draw(numpy_losses, mlpext_losses, loss_gap, weight_gap):
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(numpy_losses, lw=5, alpha=0.35, color="tab:blue", label="NumPy, the lecture's loop")
    ax.plot(mlpext_losses, lw=1.2, color="tab:red", label="mlpext.train")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss = mean |y − ŷ|")
    ax.set_yscale("log")
    ax.set_title("XOR, 2-3-1 sigmoid network, learning rate 0.5")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    ax.text(0.03, 0.04, f"largest relative difference, mlpext vs NumPy:\n"
                        f"loss {loss_gap:.0e} (any epoch), trained weights {weight_gap:.0e}",
            transform=ax.transAxes, fontsize=9, bbox=dict(facecolor="white", edgecolor="0.8"))
    fig.tight_layout()
    return fig


def png_bytes(fig):
    full = io.BytesIO()
    fig.savefig(full, format="png", dpi=100, metadata={"Software": None})
    try:
        from PIL import Image
    except ImportError:
        return full.getvalue()
    small = io.BytesIO()
    Image.open(full).convert("RGB").quantize(colors=128).save(small, format="png", optimize=True)
    return small.getvalue()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help=f"where to write the PNG (default {OUT})")
    args = parser.parse_args(argv)
    numpy_losses, mlpext_losses, loss_gap, weight_gap = lecture_run()
    args.out.write_bytes(png_bytes(draw(numpy_losses, mlpext_losses, loss_gap, weight_gap)))
    print(f"{args.out}: loss curves of 10000 epochs; largest relative difference: loss {loss_gap:.1e}, "
          f"weights {weight_gap:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
