"""Handwritten digit recognition with an mlpext.MLP: the lecture's set-up demo, without TensorFlow.

    python -m mlpext.digits                 # asks for image paths until you type exit
    python -m mlpext.digits a.png b.jpg     # predicts these images and exits
    python -m mlpext.digits --show          # also draws the 8x8 picture the network sees
    python -m mlpext.digits --train         # trains a new network now instead of loading the shipped one
    python -m mlpext.digits --save-model mlpext/data/digits_mlp.npz   # (re)generates the shipped network

The lecture's set-up section downloads a Keras model and a script that asks for an image path and prints

    --- Prediction Result ---
    Predicted Digit: 8
    Confidence: 59.83%

This module does the same with a small MLP (64-64-10, ReLU, softmax) trained on scikit-learn's bundled digits:
1797 images of 8x8 pixels with values 0-16 (white ink on black). A trained network ships with the package
(``mlpext/data/digits_mlp.npz``, loaded with :meth:`mlpext.MLP.load`); without it, or with ``--train``, one is
trained in a second or two (that needs scikit-learn for the data set).

Your image (PNG, JPEG, anything Pillow reads) is turned into the data set's format by :func:`image_to_digit`:
grayscale; inverted when its background is light (dark ink on white paper); cropped to the ink; padded to a
square; shrunk to 8x8 by averaging; scaled to 0-16. The network was trained on the digits as given, on the
digits normalized the same way, and on the digits drawn as pictures (small, turned a little, with thicker or
thinner strokes) and read back (see training_set), so a digit anywhere in the picture and of any size is read
alike. Best results: one handwritten digit, thick strokes, a plain background. (Typed digits in a font are
further from the data set's handwriting and are read less reliably.)

Needs Pillow to read images, and scikit-learn to train (``pip install "mlpext[digits]"``).
"""
import argparse
import os
import sys
import time

import numpy as np

__all__ = [
    "MODEL_PATH", "load_model", "train_model", "training_set", "normalize_digit", "image_to_digit", "predict_digit",
    "main",
]

MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits_mlp.npz")

# The demo network and how it is trained (also what --save-model writes).
LAYERS = [64, 64, 10]
EPOCHS = 80
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
SEED = 0

PROMPT = "Please enter the path to your image (or type 'exit' to quit): "
INK_THRESHOLD = 0.1  # of the strongest ink: what counts as ink when cropping
MIN_COVERAGE = 0.25  # the least mean ink (of the strongest pixel's) of an 8x8 result before thickening strokes
MAX_DILATIONS = 4


def _mlp_class():
    from mlpext import MLP

    return MLP


# --------------------------------------------------------------------------------------------- preprocessing
def normalize_digit(ink):
    """A 2-D array of ink strengths (0 = background, larger = more ink, any size) → the digits format.

    Crops to the ink (pixels above INK_THRESHOLD of the strongest), pads the crop to a centred square, shrinks it
    to 8x8 by area averaging (or enlarges a smaller crop) and scales the result so that its strongest pixel is 16.
    Strokes too thin for the data set's style are first thickened (see MIN_COVERAGE). Returns 64 float64 values
    in 0-16, row by row, as in ``sklearn.datasets.load_digits().data``. Raises ValueError when there is no ink.
    """
    from PIL import Image, ImageFilter

    ink = np.asarray(ink, dtype=np.float64)
    if ink.ndim != 2 or ink.size == 0:
        raise ValueError(f"expected a 2-D image, got shape {ink.shape}")
    peak = float(ink.max())
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError("no digit found: the image is blank")
    ink = np.clip(ink / peak, 0.0, 1.0)
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = ink.shape
    side = max(h, w)
    if (side - h) % 2 or (side - w) % 2:  # centre exactly: a half-pixel margin becomes a whole one at 2x
        ink = np.repeat(np.repeat(ink, 2, axis=0), 2, axis=1)
        h, w, side = 2 * h, 2 * w, 2 * side
    square = np.zeros((side, side))
    top, left = (side - h) // 2, (side - w) // 2
    square[top:top + h, left:left + w] = ink
    # Thin strokes (a fine pen, a typed font) are thickened at 32x32 until the 8x8 result is as inked as the
    # data set's digits, which all cover 22-40% of their 8x8 grid (their strokes are about a quarter as wide as
    # the digit is tall).
    if side < 64:  # enlarge by whole pixels first, so that the box average below is by area, evenly
        square = np.repeat(np.repeat(square, -(-64 // side), axis=0), -(-64 // side), axis=1)
    work = Image.fromarray(square.astype(np.float32)).resize((32, 32), Image.BOX)
    for _ in range(MAX_DILATIONS + 1):
        small = np.asarray(work.resize((8, 8), Image.BOX), dtype=np.float64)
        if small.max() <= 0 or small.mean() / small.max() >= MIN_COVERAGE:
            break
        work = work.filter(ImageFilter.MaxFilter(3))
    top = small.max()
    if top <= 0:
        raise ValueError("no digit found: the image is blank")
    return (small / top * 16.0).ravel()


def image_to_digit(image):
    """An image (a path, or a PIL image) → 64 values in the digits format (see normalize_digit).

    The image is made grayscale (transparent pixels count as background); if its border is mostly light, the
    image is taken as dark ink on light paper and inverted. The background level (the border's median) is
    subtracted, so grey paper or a camera's uneven white become 0.
    """
    from PIL import Image

    if not isinstance(image, Image.Image):
        with Image.open(os.path.expanduser(os.fspath(image))) as opened:
            opened.load()
            image = opened.copy()
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
        gray = np.asarray(rgba.convert("L"), dtype=np.float64) / 255.0
        # Transparent pixels become paper of the colour opposite to the drawn pixels: dark strokes on
        # transparency (a drawing app's export) are put on white, light strokes on black.
        drawn = float(np.average(gray, weights=alpha)) if alpha.sum() > 0 else 0.0
        paper = 1.0 if drawn < 0.5 else 0.0
        gray = gray * alpha + paper * (1.0 - alpha)
    else:
        gray = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        gray = 1.0 - gray
        background = 1.0 - background
    return normalize_digit(np.clip(gray - background, 0.0, None))


# --------------------------------------------------------------------------------------------- the network
def _normalized_digits(X):
    """load_digits().data rows passed through normalize_digit, as the images at prediction time are."""
    return np.array([normalize_digit(row.reshape(8, 8)) for row in X])


def _rendered_digits(X, size=20):
    """load_digits().data rows drawn as a user's picture would be (dark on light, size x size pixels, smoothed)
    and read back through image_to_digit: teaches the network the blur of an image shrunk to 8x8."""
    from PIL import Image

    out = []
    for row in X:
        pixels = (255 - np.asarray(row, dtype=np.float64).reshape(8, 8) / 16.0 * 255).round().astype(np.uint8)
        big = Image.fromarray(pixels).resize((64, 64), Image.NEAREST).resize((size, size), Image.BILINEAR)
        out.append(image_to_digit(big))
    return np.array(out)


def _varied_digits(X, seed):
    """load_digits().data rows drawn large, turned by up to 12 degrees either way, with strokes made thicker or
    thinner at random (or left), as dark ink on white, and read back through image_to_digit."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    out = []
    for row in X:
        pixels = (np.asarray(row, dtype=np.float64).reshape(8, 8) / 16.0 * 255).round().astype(np.uint8)
        big = Image.fromarray(pixels).resize((64, 64), Image.BILINEAR)
        big = big.rotate(float(rng.uniform(-12.0, 12.0)), resample=Image.BILINEAR)
        stroke = int(rng.integers(3))
        if stroke == 1:
            big = big.filter(ImageFilter.MaxFilter(5))
        elif stroke == 2:
            big = big.filter(ImageFilter.MinFilter(5))
        out.append(image_to_digit(Image.fromarray(255 - np.asarray(big))))
    return np.array(out)


def training_set(X, y, seed=SEED):
    """The demo network's training data from digits-format rows (X, y), 4 x len(X) rows: each digit as it is;
    normalized as image_to_digit normalizes a picture; drawn as a small picture and read back; and drawn turned
    a little, with thicker or thinner strokes, and read back (the variations drawn from seed)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    rows = [X, _normalized_digits(X), _rendered_digits(X), _varied_digits(X, seed)]
    return np.vstack(rows), np.concatenate([y] * len(rows))


def train_model(X=None, y=None, epochs=None, seed=SEED, progress=False):
    """Train the demo network (64-64-10, ReLU, softmax, Adam, batch 32) on digits-format rows (X, y).

    X, y default to all 1797 of scikit-learn's digits (needs scikit-learn). Either way they are expanded by
    training_set() and fed as X / 16.
    """
    if X is None:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ImportError("training the digits network needs scikit-learn for its data set: "
                              'pip install "mlpext[digits]"') from None
        X, y = load_digits(return_X_y=True)
    X, y = training_set(X, y, seed)
    epochs = EPOCHS if epochs is None else epochs
    net = _mlp_class()(LAYERS, activation="relu", loss="cross_entropy", optimizer="adam",
                       learning_rate=LEARNING_RATE, dtype=np.float32, seed=seed)
    net.fit(np.asarray(X, dtype=np.float32) / 16.0, np.asarray(y, dtype=np.int64), epochs, batch_size=BATCH_SIZE,
            progress=progress)
    return net


def load_model(path=None, train=False, quiet=False, epochs=None, seed=SEED):
    """The shipped network (or the one at path); trains one when there is none, or when train is true."""
    path = MODEL_PATH if path is None else path
    if not train:
        try:
            return _mlp_class().load(path)
        except FileNotFoundError:
            if not quiet:
                print(f"No trained network at {path}; training one now.", file=sys.stderr)
        except (ValueError, KeyError, OSError) as exc:
            if not quiet:
                print(f"Cannot load {path} ({exc}); training a network now.", file=sys.stderr)
    started = time.perf_counter()
    net = train_model(epochs=epochs, seed=seed)
    if not quiet:
        print(f"Trained a {'-'.join(map(str, LAYERS))} MLP on scikit-learn's digits in "
              f"{time.perf_counter() - started:.1f} s.", file=sys.stderr)
    return net


def predict_digit(net, image):
    """(digit, confidence in [0, 1], the 64 input values) for an image path or PIL image."""
    x = image_to_digit(image)
    proba = np.asarray(net.predict_proba(x.reshape(1, 64).astype(np.float32) / 16.0), dtype=np.float64)[0]
    digit = int(np.argmax(proba))
    return digit, float(proba[digit]), x


def _draw(x):
    shades = " .:-=+*#%@"
    rows = []
    for r in range(8):
        rows.append("    " + "".join(shades[min(int(v / 16.0 * (len(shades) - 1) + 0.5), len(shades) - 1)] * 2
                                     for v in x[r * 8:(r + 1) * 8]))
    return "\n".join(rows)


def _report(net, path, show, out):
    try:
        digit, confidence, x = predict_digit(net, path)
    except FileNotFoundError:
        print(f"Error: no such file: {path}", file=out)
        return False
    except Exception as exc:  # not an image, unreadable, blank, ...
        print(f"Error: cannot read a digit from {path}: {exc}", file=out)
        return False
    print(file=out)
    if show:
        print("The network sees (8x8):", file=out)
        print(_draw(x), file=out)
    print("--- Prediction Result ---", file=out)
    print(f"Predicted Digit: {digit}", file=out)
    print(f"Confidence: {confidence * 100:.2f}%", file=out)
    print("-------------------------", file=out)
    return True


def _clean_path(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":  # Windows' "Copy as path", drag and drop
        text = text[1:-1]
    return os.path.expanduser(text)


def _save_model(path, epochs, seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    started = time.perf_counter()
    held_out = train_model(X_train, y_train, epochs=epochs, seed=seed)
    seconds = time.perf_counter() - started
    for name, rows in (("as given", X_test), ("normalized like an image", _normalized_digits(X_test)),
                       ("drawn at 20x20 and read back", _rendered_digits(X_test))):
        accuracy = float(np.mean(held_out.predict(rows.astype(np.float32) / 16.0) == y_test))
        print(f"75/25 split, test digits {name}: accuracy {accuracy * 100:.2f}%")
    print(f"(trained in {seconds:.2f} s)")
    net = train_model(X, y, epochs=epochs, seed=seed)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    net.save(path)
    print(f"Trained on all {len(y)} digits, saved to {path} ({os.path.getsize(path)} bytes)")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m mlpext.digits",
        description="Recognize a handwritten digit in an image with an mlpext MLP trained on scikit-learn's "
                    "8x8 digits. Without IMAGE arguments, asks for paths until you type 'exit'.")
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files to predict, then exit")
    parser.add_argument("--show", action="store_true", help="draw the 8x8 picture that the network sees")
    parser.add_argument("--model", metavar="PATH", help="a network saved by MLP.save (default: the shipped one)")
    parser.add_argument("--train", action="store_true", help="train a new network now instead of loading one")
    parser.add_argument("--save-model", metavar="PATH",
                        help="train the demo network on all the digits, save it to PATH and exit "
                             "(regenerates mlpext/data/digits_mlp.npz)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs when training (default {EPOCHS})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed when training (default {SEED})")
    args = parser.parse_args(argv)

    if args.save_model:
        _save_model(args.save_model, args.epochs, args.seed)
        return 0
    try:
        import PIL  # noqa: F401
    except ImportError:
        print('mlpext.digits reads images with Pillow: pip install "mlpext[digits]"', file=sys.stderr)
        return 1
    net = load_model(args.model, train=args.train, epochs=args.epochs, seed=args.seed)

    if args.images:
        ok = [_report(net, _clean_path(p), args.show, sys.stdout) for p in args.images]
        return 0 if all(ok) else 1
    while True:
        try:
            text = input(PROMPT)
        except (EOFError, KeyboardInterrupt):
            print()
            break
        path = _clean_path(text)
        if path.lower() in ("exit", "quit", "q"):
            break
        if not path:
            continue
        _report(net, path, args.show, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
