"""Handwritten digit recognition with an mlpext.MLP: the lecture's set-up demo, without TensorFlow.

    python -m mlpext.digits                 # asks for image paths until you type exit
    python -m mlpext.digits a.png b.jpg     # reads these images (each result names its file) and exits
    python -m mlpext.digits --show          # also draws the 8x8 picture the network sees
    python -m mlpext.digits --model my.npz  # uses a network saved by MLP.save instead of the shipped one
    python -m mlpext.digits --train         # trains a new network now instead of loading the shipped one
    python -m mlpext.digits --save-model mlpext/data/digits_mlp.npz   # (re)generates the shipped network

The lecture's set-up section downloads a Keras model and a script that asks for an image path and prints

    --- Prediction Result ---
    Predicted Digit: 8
    Confidence: 59.83%

This module does the same with a small MLP (64-64-10, ReLU, softmax) trained on scikit-learn's bundled digits:
1797 images of 8x8 pixels with values 0-16 (white ink on black). A trained network ships with the package
(``mlpext/data/digits_mlp.npz``, loaded with :meth:`mlpext.MLP.load`); with ``--train`` one is trained now,
which takes tens of seconds, most of them spent drawing the data set's digits as pictures and reading them back
(it needs scikit-learn for the data set). A reading the network is unsure of (a low probability, a close second
guess, or another mark of a similar size beside the digit) says so on an ``Unsure:`` line.

Your image (PNG, JPEG, TIFF, anything Pillow reads, 8-bit, 16-bit or float) is turned into the data set's format
by :func:`image_to_digit` the way the data set was made: grayscale; lightly blurred; the paper (the border's
level) and its noise subtracted, dark ink on light paper and light ink on dark alike; thresholded with Otsu's
method; the largest mark and the marks near it kept, specks and distant marks dropped; its box scaled so that
the longer side is 32 pixels, centred by its centre of mass in 32x32; thin strokes thickened; the ink of each
4x4 block summed (0-16). The network was trained on the digits as given and on the digits drawn as pictures and
read back (see training_set). Memory stays bounded whatever the file (see image_to_digit). Best results: one
handwritten digit, a plain background. (Typed digits in a font are further from the data set's handwriting and
are read less reliably.)

Needs Pillow to read images, and scikit-learn to train: ``pip install scikit-learn Pillow``, or from a checkout
of mlpext ``pip install ".[digits]"`` (``pip install "mlpext[digits]"`` once mlpext is published).
"""
import argparse
import os
import sys
import time
from typing import NamedTuple

import numpy as np

__all__ = [
    "MODEL_PATH", "Reading", "load_model", "train_model", "training_set", "normalize_digit", "image_to_digit",
    "read_digit", "predict_digit", "main",
]

MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits_mlp.npz")

# The demo network and how it is trained (also what --save-model writes).
LAYERS = [64, 64, 10]
EPOCHS = 80
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
SEED = 0

PROMPT = "Please enter the path to your image (or type 'exit' to quit): "

# Reading an image: memory stays bounded whatever the file holds.
MAX_DECODE_BYTES = 128 * 2**20  # the most an image may take to decode (and convert at full size)
WORK_PIXELS = 2**20  # images are box-averaged to at most this many pixels before any arithmetic
# Finding the digit (see normalize_digit).
SEGMENT_PIXELS = 2**18  # the digit is first looked for on a copy of at most this many pixels...
FINE_SIDE = 128  # ...then again in its box, at FINE_SIDE to 2 * FINE_SIDE pixels on the longer side
NOISE_MARGIN = 3.0  # ink must stand this many noise deviations out of the paper
MIN_CONTRAST = 0.05  # an image whose ink differs from the paper by less than this (of black to white) is blank
PART_OF_DIGIT = 0.1  # a mark near the digit is part of it when at least this fraction of the largest mark
NEAR = 0.25  # "near": within this fraction of the digit's longer side of its box
SIMILAR = 0.5  # a mark farther away but at least this fraction of the largest makes the reading unsure
WIDE = 1.5  # so does a digit this many times wider than tall (the data set's are at most about as wide as tall)
MIN_COVERAGE = 0.28  # the least mean of an 8x8 result (of 16) before strokes are thickened (the data set: median 0.31)
MAX_DILATIONS = 8
# A reading is reported as unsure below this probability, or below this margin to the second guess.
UNSURE_CONFIDENCE = 0.7
UNSURE_MARGIN = 0.5
INSTALL_HINT = ('pip install scikit-learn Pillow (or, from a checkout of mlpext, pip install ".[digits]"; '
                'once mlpext is published, pip install "mlpext[digits]")')


def _mlp_class():
    from mlpext import MLP

    return MLP


# ------------------------------------------------------------------------------------------ reading an image
def _open_image(path):
    """A regular file's image, decoded within the memory budget and reduced to at most WORK_PIXELS (see _reduced).

    Refuses a path that is not a regular file (a FIFO or a device would block or never end) before reading it,
    and an image whose decoding would take more than MAX_DECODE_BYTES."""
    import stat
    import warnings

    from PIL import Image

    path = os.path.expanduser(os.fspath(path))
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    if not nonblocking and not stat.S_ISREG(os.stat(path).st_mode):  # no non-blocking open (Windows)
        raise ValueError(f"not a regular file: {path}")
    # non-blocking: opening a FIFO without a writer returns at once, and fstat then tells what was opened
    fd = os.open(path, os.O_RDONLY | nonblocking | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"not a regular file: {path}")
        if nonblocking:
            os.set_blocking(fd, True)
        file = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file, warnings.catch_warnings():
        # Pillow warns above 89 Mpixels (and refuses above twice that); the budget below bounds the memory here.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            opened = Image.open(file)
        except Image.UnidentifiedImageError:
            raise ValueError(f"not an image file that Pillow can read: {path}") from None
        with opened:
            return _reduced(opened, path)


def _decode_cost(image):
    """Bytes per pixel that decoding image and the full-size conversions of _reduced take (Pillow keeps 1 byte
    per pixel for modes 1, L and P, 2 for I;16, and 4 for every other mode), counting a decoder's own buffer of
    up to 4 bytes per pixel for formats not in _STREAMED."""
    mode = image.mode
    if mode in ("1", "L"):
        cost = 1 + (mode == "1")
    elif mode == "P":
        cost = 1 + (8 if "transparency" in image.info else 1)
    elif mode.startswith("I;16"):
        cost = 2 + 4
    elif mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        cost = 4 + 8
    else:
        cost = 4
    if getattr(image, "format", None) not in _STREAMED:  # the format's library may decode into its own buffer
        cost += 4
    return cost


# Formats that Pillow decodes row by row straight into the image (others may first fill a buffer of their own).
_STREAMED = {"PNG", "JPEG", "BMP", "DIB", "GIF", "PPM", "TGA", "PCX"}
_ORIENTATION = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
                7: "TRANSVERSE", 8: "ROTATE_90"}


def _reduced(image, name="the image"):
    """image (opened, maybe not yet decoded) as a small image: box-averaged by a whole factor to at most
    WORK_PIXELS, in a mode that needs no more than 4 bytes a pixel, upright as its EXIF orientation says.

    A JPEG is decoded at 1/2, 1/4 or 1/8 of its size when that is enough (Image.draft); any other image is
    decoded whole, so an image whose decoding would need more than MAX_DECODE_BYTES is refused (ValueError)
    before it is decoded. (An image already decoded is only reduced.)"""
    from PIL import Image

    try:
        orientation = image.getexif().get(0x0112)
    except Exception:  # a malformed EXIF block: read the pixels as stored
        orientation = None
    width, height = image.size
    decoded = not getattr(image, "tile", None)  # an image still to be decoded has tiles to decode
    if not decoded and width * height > WORK_PIXELS and getattr(image, "format", None) == "JPEG":
        k = int(np.sqrt(width * height / WORK_PIXELS))
        image.draft("L" if image.mode in ("L", "RGB", "YCbCr") else None, (-(-width // k), -(-height // k)))
        width, height = image.size
    need = width * height * _decode_cost(image)
    if not decoded and need > MAX_DECODE_BYTES:
        raise ValueError(f"{name} is too large to read: {width} x {height} pixels in mode {image.mode} take "
                         f"{need / 2**20:.0f} MB to decode, more than {MAX_DECODE_BYTES / 2**20:.0f} MB; "
                         "save a smaller copy (or a JPEG, which is decoded at a reduced size)")
    image.load()
    factor = int(np.ceil(np.sqrt(width * height / WORK_PIXELS)))
    if factor > 1:
        if image.mode == "1" or (image.mode == "P" and "transparency" not in image.info):
            image = image.convert("L")
        elif image.mode.startswith("I;16"):
            image = image.convert("I")
        elif image.mode in ("P", "LA"):
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "PA"):  # premultiplied, so that the average weights colours by their alpha
            image = image.convert("RGBa")
        image = image.reduce(factor)
    else:
        image = image.copy()
    if orientation in _ORIENTATION:
        image = image.transpose(getattr(Image.Transpose, _ORIENTATION[orientation]))
    return image


def _gray(image):
    """A small PIL image → 2-D float64 array in [0, 1] (0 black, 1 white).

    8-bit images are read as Pillow's luminance (L); 16-bit, 32-bit integer and float images are scaled by their
    own range (their minimum becomes 0, their maximum 1; non-finite values count as the median). Transparent
    pixels become paper of the colour opposite to the drawn pixels: dark strokes on transparency (a drawing
    app's export) are put on white, light strokes on black."""
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        values = np.asarray(image.convert("F") if mode != "F" else image, dtype=np.float64)
        finite = np.isfinite(values)
        if not finite.any():
            raise ValueError("no digit found: the image has no finite values")
        values = np.where(finite, values, np.median(values[finite]))
        low, high = float(values.min()), float(values.max())
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in image.info):
        if mode == "La":
            image = image.convert("LA")
        if mode != "RGBa":
            image = image.convert("RGBA").convert("RGBa")
        rgba = np.frombuffer(image.tobytes(), np.uint8).reshape(image.height, image.width, 4) / 255.0
        alpha = rgba[..., 3]
        weighted = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])  # the premultiplied luminance: gray * alpha
        drawn = float(weighted.sum() / alpha.sum()) if alpha.sum() > 0 else 0.0
        paper = 1.0 if drawn < 0.5 else 0.0
        return np.clip(weighted + paper * (1.0 - alpha), 0.0, 1.0)
    if mode == "LAB":
        image = image.getchannel("L")
    elif mode not in ("L", "RGB", "CMYK", "YCbCr", "1", "P"):
        image = image.convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


# ------------------------------------------------------------------------------------------ finding the digit
def _blur(a):
    """A light blur: the 3x3 binomial filter ([1, 2, 1] / 4 each way), edges repeated."""
    p = np.empty((a.shape[0] + 2, a.shape[1]))
    p[1:-1], p[0], p[-1] = a, a[0], a[-1]
    a = (p[:-2] + 2.0 * p[1:-1] + p[2:]) * 0.25
    p = np.empty((a.shape[0], a.shape[1] + 2))
    p[:, 1:-1], p[:, 0], p[:, -1] = a, a[:, 0], a[:, -1]
    return (p[:, :-2] + 2.0 * p[:, 1:-1] + p[:, 2:]) * 0.25


def _block_mean(a, k):
    """a averaged over k x k blocks (the last row and column of blocks may be smaller); no copy bigger than a."""
    if k <= 1:
        return a
    starts = [np.arange(0, n, k) for n in a.shape]
    sizes = [np.diff(np.append(s, n)) for s, n in zip(starts, a.shape)]
    rows = np.add.reduceat(a, starts[0], axis=0) / sizes[0][:, None]
    return np.add.reduceat(rows, starts[1], axis=1) / sizes[1]


def _otsu(values):
    """Otsu's threshold of values (the one that maximizes the between-class variance of a 256-bin histogram):
    values above it are one class. None when all values are equal."""
    low, high = float(values.min()), float(values.max())
    if not high - low > 1e-9 * max(abs(low), abs(high)):  # equal, or too close for 256 distinct bins
        return None
    width = (high - low) / 256
    hist = np.bincount(np.minimum(((values - low) / width).astype(np.intp), 255).ravel(), minlength=256)
    p = hist / hist.sum()
    edges = low + width * np.arange(257)
    centres = edges[:-1] + width * 0.5
    w0 = np.cumsum(p)[:-1]
    m0 = np.cumsum(p * centres)[:-1]
    total = m0[-1] + p[-1] * centres[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * (1.0 - w0))
    between[~np.isfinite(between)] = -1.0
    return float(edges[int(np.argmax(between)) + 1])


def _runs(mask):
    """The runs of True in each row of a 2-D bool array: (row, start, stop) arrays, in row-major order."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    row, start = np.nonzero(edges == 1)
    _, stop = np.nonzero(edges == -1)
    return row, start, stop


def _components(mask):
    """8-connected components of a 2-D bool array, as runs: (row, start, stop, label) with labels 0..n-1."""
    row, start, stop = _runs(mask)
    n = len(row)
    if n == 0:
        return row, start, stop, row
    width = mask.shape[1] + 2
    # Run b (row r + 1) touches run a (row r), diagonals included, when start_a <= stop_b and start_b <= stop_a.
    # Runs of a row are sorted and disjoint, so the runs of row r that b touches are a contiguous range.
    lo = np.searchsorted(row * width + stop, (row - 1) * width + start, side="left")
    hi = np.searchsorted(row * width + start, (row - 1) * width + stop, side="right")
    count = np.maximum(hi - lo, 0)
    b = np.repeat(np.arange(n), count)
    a = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
    parent = np.arange(n)
    while True:  # hook roots onto the smaller root across each edge, then compress every path to its root
        pa, pb = parent[a], parent[b]
        differ = pa != pb
        if not differ.any():
            break
        np.minimum.at(parent, np.maximum(pa, pb)[differ], np.minimum(pa, pb)[differ])
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return row, start, stop, np.unique(parent, return_inverse=True)[1]


def _find_digit(ink):
    """The digit in a 2-D array of ink strengths (0 = paper): (bool mask of the pixels kept, box, notes).

    The blurred ink is thresholded with Otsu's method; of its 8-connected components the largest is the digit,
    with every other component at least PART_OF_DIGIT of its size that lies within NEAR of the digit's box (a
    stroke broken by a thin pen); smaller marks and marks farther away are dropped. box = (top, bottom, left,
    right), bottom and right exclusive. notes says when marks of a similar size were left out. Raises ValueError
    when there is no ink."""
    smooth = _blur(ink)
    threshold = _otsu(smooth)
    if threshold is None or float(smooth.max()) <= 0:
        raise ValueError("no digit found: the image is blank")
    row, start, stop, label = _components(smooth > threshold)
    n = int(label.max()) + 1
    size = np.bincount(label, weights=stop - start, minlength=n)
    top = np.full(n, row.max()); np.minimum.at(top, label, row)
    bottom = np.zeros(n, row.dtype); np.maximum.at(bottom, label, row + 1)
    left = np.full(n, stop.max()); np.minimum.at(left, label, start)
    right = np.zeros(n, stop.dtype); np.maximum.at(right, label, stop)
    order = np.argsort(-size, kind="stable")
    main = order[0]
    box = [top[main], bottom[main], left[main], right[main]]
    keep = [main]
    notes = []
    for c in order[1:]:
        if size[c] < PART_OF_DIGIT * size[main]:
            break
        reach = NEAR * max(box[1] - box[0], box[3] - box[2])
        gap = max(box[0] - bottom[c], top[c] - box[1], box[2] - right[c], left[c] - box[3], 0)
        if gap <= reach:
            keep.append(c)
            box = [min(box[0], top[c]), max(box[1], bottom[c]), min(box[2], left[c]), max(box[3], right[c])]
        elif size[c] >= SIMILAR * size[main]:
            notes.append("another mark of a similar size was left out (more than one digit?)")
    selected = np.isin(label, keep)
    # paint the kept runs: +1 at each start, -1 at each stop, then a running sum along each row
    flat = np.zeros(ink.shape[0] * (ink.shape[1] + 1), np.int32)
    np.add.at(flat, row[selected] * (ink.shape[1] + 1) + start[selected], 1)
    np.add.at(flat, row[selected] * (ink.shape[1] + 1) + stop[selected], -1)
    mask = np.cumsum(flat.reshape(ink.shape[0], ink.shape[1] + 1), axis=1)[:, :-1] > 0
    return mask, tuple(int(v) for v in box), sorted(set(notes))


def _dilate(a, r):
    """a grown by r pixels each way: each pixel the maximum of the (2r+1) x (2r+1) square around it, the array
    enlarged by r on every side to hold it."""
    from numpy.lib.stride_tricks import sliding_window_view

    p = np.pad(a, 2 * r)
    p = sliding_window_view(p, 2 * r + 1, axis=0).max(axis=-1)
    return sliding_window_view(p, 2 * r + 1, axis=1).max(axis=-1)


def _crop(a):
    """a cut to the box of its non-zero values."""
    rows = np.flatnonzero((a > 0).any(axis=1))
    cols = np.flatnonzero((a > 0).any(axis=0))
    return a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _to_32(shape):
    """A digit's ink (0-1, the fraction of each pixel covered), cropped to it → the data set's 32x32 bitmap, each
    pixel the fraction of it that is ink: the longer side scaled to 32 pixels (by area), centred by its centre
    of mass as far as it fits."""
    from PIL import Image

    h, w = shape.shape
    scale = 32.0 / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    cover = np.asarray(Image.fromarray(shape.astype(np.float32)).resize((nw, nh), Image.BOX), dtype=np.float64)
    weight = cover.sum()
    cy = float((cover.sum(axis=1) * (np.arange(nh) + 0.5)).sum() / weight) if weight > 0 else nh / 2
    cx = float((cover.sum(axis=0) * (np.arange(nw) + 0.5)).sum() / weight) if weight > 0 else nw / 2
    top = min(max(int(round(16.0 - cy)), 0), 32 - nh)
    left = min(max(int(round(16.0 - cx)), 0), 32 - nw)
    bitmap = np.zeros((32, 32))
    bitmap[top:top + nh, left:left + nw] = cover
    return bitmap


def _normalize(ink):
    """normalize_digit, with the notes of _find_digit."""
    ink = np.array(ink, dtype=np.float64)  # a copy: non-finite values are cleared below
    if ink.ndim != 2 or ink.size == 0:
        raise ValueError(f"expected a 2-D image, got shape {ink.shape}")
    ink[~np.isfinite(ink) | (ink < 0)] = 0.0
    if float(ink.max()) <= 0:
        raise ValueError("no digit found: the image is blank")
    # A large image: first find the digit on a copy of at most SEGMENT_PIXELS, then again in its box at
    # FINE_SIDE to 2 * FINE_SIDE pixels.
    box, notes = ink, []
    if max(ink.shape) > 2 * FINE_SIDE:
        k = int(np.ceil(np.sqrt(ink.size / SEGMENT_PIXELS)))
        _, (t, b, l, r), notes = _find_digit(_block_mean(ink, k))
        margin = max(k, (max(b - t, r - l) * k) // 8)
        t, b = max(t * k - margin, 0), min(b * k + margin, ink.shape[0])
        l, r = max(l * k - margin, 0), min(r * k + margin, ink.shape[1])
        box = ink[t:b, l:r]
    side = max(box.shape)
    if side > 2 * FINE_SIDE:
        box = _block_mean(box, side // FINE_SIDE)
    elif side < FINE_SIDE // 2:  # a tiny digit: enlarge by whole pixels, so that its strokes stay strokes
        f = -(-FINE_SIDE // (2 * side))
        box = np.repeat(np.repeat(box, f, axis=0), f, axis=1)
    framed = np.zeros((box.shape[0] + 4, box.shape[1] + 4))  # paper all round, also where the box met the edge
    framed[2:-2, 2:-2] = box
    mask, (t, b, l, r), more = _find_digit(framed)
    # The digit's ink as the fraction of a pixel it covers: its strength over the strokes' (their median), kept
    # where the digit's marks are and on the pixel around them (their anti-aliased edge).
    level = float(np.median(framed[mask]))
    if not level > 0:  # the blur's reach around a thin mark: then its strongest pixel is its level
        level = float(framed.max())
    shape = (np.clip(framed / level, 0.0, 1.0) * _dilate(mask, 1)[1:-1, 1:-1])[t:b, l:r]
    if not shape.max() > 0:
        raise ValueError("no digit found: the image is blank")
    if r - l > WIDE * (b - t):
        more = more + ["the mark is much wider than a digit"]
    # Thin strokes (a fine pen, a typed font) are thickened until the digit covers as much of its 8x8 grid as
    # the data set's digits do (at least MIN_COVERAGE; the data set's strokes are about a quarter as wide as
    # the digit is tall).
    step = max(1, int(round(max(shape.shape) / 64)))
    for _ in range(MAX_DILATIONS + 1):
        counts = _to_32(shape).reshape(8, 4, 8, 4).sum(axis=(1, 3))
        if counts.mean() / 16.0 >= MIN_COVERAGE:
            break
        shape = _crop(_dilate(shape, step))
    counts = np.clip(counts, 0.0, 16.0)
    if counts.max() == 0:
        raise ValueError("no digit found: the image is blank")
    return counts.astype(np.float64).ravel(), sorted(set(notes) | set(more))


def normalize_digit(ink):
    """A 2-D array of ink strengths (0 = paper, larger = more ink, any size) → the digits data set's format.

    The data set's 8x8 digits were made from 32x32 black-and-white bitmaps whose digit fills the height (or the
    width, if wider), centred, by counting the black pixels of each 4x4 block. This does the same: the ink is
    lightly blurred and thresholded (Otsu's method); the largest connected mark, with the marks near it of at
    least PART_OF_DIGIT of its size, is the digit (specks and marks farther away are dropped); its ink, as the
    fraction of each pixel covered (its strength over the strokes' median strength), is scaled so that the
    box's longer side is 32 pixels and put into 32x32 centred by its centre of mass; strokes too thin for the
    data set's style are first thickened. Returns 64 float64 values in 0-16, the ink of each 4x4 block, row by
    row, as in ``sklearn.datasets.load_digits().data``. Raises ValueError when there is no ink.
    """
    return _normalize(ink)[0]


def _ink(gray):
    """Grayscale in [0, 1] → ink strengths (0 = paper), lightly blurred.

    The paper is what the border mostly shows (its median); the ink is the side of the paper on which the image
    goes farther (dark ink on light paper, or light on dark). The paper's level is subtracted, and so is its
    noise with a margin of NOISE_MARGIN deviations (the deviation estimated from differences of neighbouring
    pixels, which a digit hardly changes). Raises ValueError when no ink stands out of the paper and its noise."""
    smooth = _blur(gray)
    border = np.concatenate([smooth[0], smooth[-1], smooth[:, 0], smooth[:, -1]])
    paper = float(np.median(border))
    dark = paper - float(smooth.min())
    light = float(smooth.max()) - paper
    signed = (paper - smooth) if dark >= light else (smooth - paper)
    steps = np.concatenate([np.diff(gray, axis=0).ravel(), np.diff(gray, axis=1).ravel()])
    # a neighbour difference has sqrt(2) times the pixels' deviation; the blur leaves 3/8 of it
    noise = 0.375 * 1.4826 * float(np.median(np.abs(steps))) / np.sqrt(2.0) if steps.size else 0.0
    if float(signed.max()) <= max(MIN_CONTRAST, 2 * NOISE_MARGIN * noise):
        raise ValueError("no digit found: the image is blank (nothing stands out of the paper and its noise)")
    return np.clip(signed - NOISE_MARGIN * noise, 0.0, None)


def _read(image):
    """image_to_digit, with notes on the reading."""
    from PIL import Image

    if isinstance(image, Image.Image):
        image = _reduced(image)
    elif isinstance(image, (str, bytes, os.PathLike)):
        image = _open_image(image)
    else:
        raise TypeError(f"expected an image file's path or a PIL image, got {type(image).__name__}"
                        + (": for an array of pixels pass PIL.Image.fromarray(array); for an array of ink "
                           "strengths (0 = paper) call normalize_digit" if isinstance(image, np.ndarray) else ""))
    gray = _gray(image)
    if gray.size == 0:
        raise ValueError("no digit found: the image is empty (0 pixels)")
    if max(gray.shape) < FINE_SIDE // 2:  # a tiny image: enlarged by whole pixels before it is blurred
        f = -(-FINE_SIDE // (2 * max(gray.shape)))
        gray = np.repeat(np.repeat(gray, f, axis=0), f, axis=1)
    return _normalize(_ink(gray))


def image_to_digit(image):
    """An image (a path, or a PIL image) → 64 values in the digits format (see normalize_digit).

    Memory stays bounded whatever the image: a path must name a regular file; the image is decoded at a reduced
    size when its format allows (JPEG) and refused when decoding it would take more than MAX_DECODE_BYTES; it is
    then box-averaged to at most WORK_PIXELS before any arithmetic. It is made grayscale (16-bit and float
    images scaled by their own range, transparent pixels counted as paper), lightly blurred, and the paper
    (the border's level) and its noise are subtracted; whichever side of the paper the image goes farther to is
    the ink, so dark ink on light paper and light ink on dark paper are read alike. Raises ValueError for a path
    that is not a regular file, an image too large to decode, or an image with no digit; OSError when the file
    cannot be read; TypeError for anything but a path or a PIL image (a NumPy array: Image.fromarray it).
    """
    return _read(image)[0]


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


def _digits_rows(X, y):
    """(X, y) checked as load_digits(return_X_y=True) gives them: X (n, 64) (or n 8x8 images) of values 0-16,
    y n labels. Rows on another scale would be drawn as wrong pictures (0-255 ones wrap around in uint8)."""
    if y is None:
        raise ValueError("y is None: pass the labels of X (or neither, for all of scikit-learn's digits)")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 3 and X.shape[1:] == (8, 8):
        X = X.reshape(len(X), 64)
    if X.ndim != 2 or X.shape[1] != 64 or len(X) == 0:
        raise ValueError(f"X must be digits-format rows, shape (n, 64) or (n, 8, 8) with n >= 1; got shape "
                         f"{X.shape}")
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y must hold one label per row of X: shape ({len(X)},), got {y.shape}")
    low, high = float(X.min()), float(X.max())
    if not (np.isfinite(low) and np.isfinite(high) and low >= 0 and high <= 16):
        raise ValueError(f"X must hold the data set's values 0-16 (load_digits().data); got {low:g} to {high:g}")
    if high <= 1:
        raise ValueError("X's values are all at most 1: pass the data set's values 0-16, not X / 16 (the "
                         "network is fed X / 16 by train_model)")
    return X, y


def training_set(X, y, seed=SEED):
    """The demo network's training data from digits-format rows (X, y), 4 x len(X) rows: each digit as it is;
    normalized as image_to_digit normalizes a picture; drawn as a small picture and read back; and drawn turned
    a little, with thicker or thinner strokes, and read back (the variations drawn from seed). X: (n, 64) rows or
    (n, 8, 8) images of values 0-16, y: n labels (ValueError otherwise)."""
    X, y = _digits_rows(X, y)
    rows = [X, _normalized_digits(X), _rendered_digits(X), _varied_digits(X, seed)]
    return np.vstack(rows), np.concatenate([y] * len(rows))


def train_model(X=None, y=None, epochs=None, seed=SEED, progress=False):
    """Train the demo network (64-64-10, ReLU, softmax, Adam, batch 32) on digits-format rows (X, y).

    X, y default to all 1797 of scikit-learn's digits (needs scikit-learn). Either way they are expanded by
    training_set() and fed as X / 16. X must hold the data set's values 0-16 (not X / 16, not 0-255 pixels),
    as (n, 64) rows or (n, 8, 8) images, and y one label per row; ValueError otherwise.
    """
    if X is None:
        if y is not None:
            raise ValueError("y given without X: pass both, or neither for all of scikit-learn's digits")
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ImportError(f"training the digits network needs scikit-learn for its data set: {INSTALL_HINT}") \
                from None
        X, y = load_digits(return_X_y=True)
    X, y = training_set(X, y, seed)
    epochs = EPOCHS if epochs is None else epochs
    net = _mlp_class()(LAYERS, activation="relu", loss="cross_entropy", optimizer="adam",
                       learning_rate=LEARNING_RATE, dtype=np.float32, seed=seed)
    net.fit(np.asarray(X, dtype=np.float32) / 16.0, np.asarray(y, dtype=np.int64), epochs, batch_size=BATCH_SIZE,
            progress=progress)
    return net


def load_model(path=None, train=False, quiet=False, epochs=None, seed=SEED):
    """The network saved at path, or the shipped one (path None); with train, a network trained now.

    A path given explicitly must hold a network saved by MLP.save: anything else raises (FileNotFoundError when
    there is no such file, ValueError when it holds no such network). Only when the shipped network is missing
    or unreadable or holds another network than the digits' (a broken installation) is one trained instead, with
    a message on stderr unless quiet."""
    if not train:
        if path is not None:
            return _load_explicit(path)
        try:
            return _check_network(_mlp_class().load(MODEL_PATH), MODEL_PATH)
        except FileNotFoundError:
            if not quiet:
                print(f"No trained network at {MODEL_PATH}; training one now.", file=sys.stderr)
        except (ValueError, KeyError, OSError) as exc:
            if not quiet:
                print(f"Cannot load {MODEL_PATH} ({exc}); training a network now.", file=sys.stderr)
    started = time.perf_counter()
    net = train_model(epochs=epochs, seed=seed)
    if not quiet:
        print(f"Trained a {'-'.join(map(str, LAYERS))} MLP on scikit-learn's digits in "
              f"{time.perf_counter() - started:.1f} s.", file=sys.stderr)
    return net


def _load_explicit(path):
    import stat

    path = os.path.expanduser(os.fspath(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"not a regular file: {path}")
    try:
        net = _mlp_class().load(path)
    except Exception as exc:  # np.load's messages (allow_pickle, zip errors) do not say what the file should be
        raise ValueError(f"{path} is not a network saved by mlpext.MLP.save ({type(exc).__name__}: {exc})") \
            from None
    return _check_network(net, path)


def _check_network(net, path):
    """net, if it can read digits (64 inputs, 10 outputs, a classifier's loss); ValueError otherwise."""
    sizes = [W.shape for W, _ in net.params]
    if not sizes or sizes[0][0] != 64 or sizes[-1][1] != 10:
        raise ValueError(f"{path} holds a network of {sizes[0][0] if sizes else 0} inputs and "
                         f"{sizes[-1][1] if sizes else 0} outputs; the digits need 64 inputs and 10 outputs")
    if net.loss_name not in ("cross_entropy", "bce"):
        raise ValueError(f"{path} holds a network whose loss is {net.loss_name!r}; reading digits needs a "
                         f"classifier's probabilities (loss 'cross_entropy')")
    return net


class Reading(NamedTuple):
    """What read_digit found. doubts: reasons to distrust the reading (empty when it looks sure)."""

    digit: int
    confidence: float  # the digit's probability
    probabilities: np.ndarray  # all 10
    pixels: np.ndarray  # the 64 values (0-16) the network saw
    doubts: tuple

    @property
    def unsure(self):
        return bool(self.doubts)


def read_digit(net, image):
    """Read the digit in an image (a path or a PIL image) with net: a Reading.

    The reading is unsure (doubts not empty) when the top probability is below UNSURE_CONFIDENCE, when the
    second guess comes within UNSURE_MARGIN of it, when another mark of a similar size was left out of the
    picture (more than one digit, or the digit was not found), or when the mark is more than WIDE times wider
    than tall (no digit of the data set is)."""
    x, notes = _read(image)
    proba = np.asarray(net.predict_proba(x.reshape(1, 64).astype(np.float32) / 16.0), dtype=np.float64)[0]
    first, second = np.argsort(-proba, kind="stable")[:2]
    doubts = []
    if proba[first] < UNSURE_CONFIDENCE:
        doubts.append(f"low confidence ({proba[first] * 100:.2f}%)")
    if proba[first] - proba[second] < UNSURE_MARGIN:
        doubts.append(f"it could also be {int(second)} ({proba[second] * 100:.2f}%)")
    doubts.extend(notes)
    return Reading(int(first), float(proba[first]), proba, x, tuple(doubts))


def predict_digit(net, image):
    """(digit, confidence in [0, 1], the 64 input values) for an image path or PIL image (see read_digit)."""
    reading = read_digit(net, image)
    return reading.digit, reading.confidence, reading.pixels


def _draw(x):
    shades = " .:-=+*#%@"
    rows = []
    for r in range(8):
        rows.append("    " + "".join(shades[min(int(v / 16.0 * (len(shades) - 1) + 0.5), len(shades) - 1)] * 2
                                     for v in x[r * 8:(r + 1) * 8]))
    return "\n".join(rows)


def _report(net, path, show, out, name=False):
    """Print the reading of the image at path (naming the file first when name is true); True when read."""
    try:
        reading = read_digit(net, path)
    except FileNotFoundError:
        print(f"Error: no such file: {path}", file=out)
        return False
    except Exception as exc:  # not an image, unreadable, too large, not a regular file, blank, ...
        print(f"Error: cannot read a digit from {path}: {exc}", file=out)
        return False
    print(file=out)
    if name:
        print(f"Image: {path}", file=out)
    if show:
        print("The network sees (8x8):", file=out)
        print(_draw(reading.pixels), file=out)
    print("--- Prediction Result ---", file=out)
    print(f"Predicted Digit: {reading.digit}", file=out)
    print(f"Confidence: {reading.confidence * 100:.2f}%", file=out)
    if reading.unsure:
        print(f"Unsure: {'; '.join(reading.doubts)}", file=out)
    print("-------------------------", file=out)
    return True


def _clean_path(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":  # Windows' "Copy as path", drag and drop
        text = text[1:-1]
    return os.path.expanduser(text)


def _unwritable(path):
    """Why a network cannot be saved at path (checked before training), or None."""
    if not path.strip():
        return "needs a file name"
    if path.endswith(("/", os.sep)) or (os.altsep and path.endswith(os.altsep)):
        return "ends with a separator; give a file name"
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        return "is a folder; give a file name in it"
    folder = os.path.dirname(path)
    while not os.path.lexists(folder) and os.path.dirname(folder) != folder:  # save makes the missing ones
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):  # a file, or a symbolic link to nothing
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK) and not os.access(path, os.W_OK):
        return f"cannot write in {folder}"
    return None


def _epochs_error(epochs, exc):
    """The message for epochs that training refused (too many for int64, or for their losses in memory)."""
    return f"Error: --epochs {epochs}: {str(exc) or 'too many to keep their losses in memory'}"


def _save_model(path, epochs, seed):
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError(f"training the digits network needs scikit-learn for its data set: {INSTALL_HINT}") \
            from None

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
    path = os.path.expanduser(path)
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
    if args.epochs < 0:
        parser.error(f"--epochs must be >= 0, got {args.epochs}")
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.save_model is not None:
        if args.seed >= 2**32:
            parser.error(f"--seed must be below 2**32 with --save-model (scikit-learn's random_state for the "
                         f"held-out split), got {args.seed}")
        if args.model is not None or args.train or args.images:
            parser.error("--save-model trains a network, saves it and exits: it takes no --model, --train or IMAGE")
        problem = _unwritable(args.save_model)
        if problem:
            parser.error(f"--save-model {args.save_model!r}: {problem}")

    try:
        import PIL  # noqa: F401
    except ImportError:
        print(f"mlpext.digits reads images with Pillow: {INSTALL_HINT}", file=sys.stderr)
        return 1
    if args.save_model is not None:
        try:
            _save_model(args.save_model, args.epochs, args.seed)
        except (ValueError, MemoryError) as exc:  # from training: --epochs too large for memory or for int64
            print(_epochs_error(args.epochs, exc), file=sys.stderr)
            return 2
        except (ImportError, OSError) as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.model is not None and args.train:
        parser.error("--model and --train exclude each other")
    try:
        net = load_model(args.model, train=args.train, epochs=args.epochs, seed=args.seed)
    except (OSError, ValueError, MemoryError) as exc:
        if args.model is None and isinstance(exc, OSError):  # training's own I/O, not an argument's fault
            print(f"Error: {exc}", file=sys.stderr)
            return 1
        message = f"Error: --model: {exc}" if args.model is not None else _epochs_error(args.epochs, exc)
        print(message, file=sys.stderr)  # training refuses only the epochs
        return 2
    except ImportError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1

    if args.images:
        name = len(args.images) > 1
        ok = [_report(net, _clean_path(p), args.show, sys.stdout, name=name) for p in args.images]
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
