"""The digits demo (python -m mlpext.digits), its image preprocessing, and examples/digits_train.py.

Skipped when scikit-learn or Pillow is missing (pip install "mlpext[digits]").
"""
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("PIL")

from PIL import Image  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import mlpext  # noqa: E402
from mlp_helpers import subprocess_env  # noqa: E402
from mlpext import digits  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLP = mlpext.MLP


@pytest.fixture(scope="module")
def data():
    return load_digits(return_X_y=True)


def draw(x, size=64, dark_on_light=True):
    """A digits row (64 values 0-16) as a user's picture: scaled up to size x size, dark ink on light paper."""
    pixels = (np.asarray(x, dtype=np.float64).reshape(8, 8) / 16.0 * 255).round().astype(np.uint8)
    if dark_on_light:
        pixels = 255 - pixels
    return Image.fromarray(pixels).resize((size, size), Image.NEAREST)


def run_demo(args, stdin, cwd, timeout=120):
    """python -m mlpext.digits with the mlpext that this test imported (installed or in the source tree), run
    in cwd (not the checkout, whose mlpext/ may have no built extension)."""
    return subprocess.run([sys.executable, "-m", "mlpext.digits", *args], input=stdin, capture_output=True,
                          text=True, env=subprocess_env(), timeout=timeout, cwd=cwd)


def predicted(stdout):
    return [int(d) for d in re.findall(r"^Predicted Digit: (\d)$", stdout, flags=re.M)]


# ---------------------------------------------------------------------------------------------------- the CLI
def test_demo_reads_png_paths_from_stdin(data, tmp_path):
    X, y = data
    samples = [int(np.flatnonzero(y == d)[k]) for d in range(10) for k in (0, 1)]  # two of each digit
    paths = []
    for i in samples:
        path = tmp_path / f"digit_{i}.png"
        draw(X[i]).save(path)
        paths.append(str(path))
    result = run_demo([], "\n".join(paths) + "\nexit\n", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("--- Prediction Result ---") == len(samples)
    assert predicted(out) == [int(y[i]) for i in samples]
    confidences = [float(c) for c in re.findall(r"^Confidence: (\d+\.\d\d)%$", out, flags=re.M)]
    assert len(confidences) == len(samples) and all(10.0 <= c <= 100.0 for c in confidences)
    assert "Please enter the path to your image (or type 'exit' to quit): " in out
    assert "Training" not in result.stderr and "Trained" not in result.stderr  # the shipped network was used


def test_demo_bad_input_keeps_asking_and_eof_ends(data, tmp_path):
    X, y = data
    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    not_image = tmp_path / "notes.txt"
    not_image.write_text("hello")
    good = tmp_path / "my digit.jpg"  # a space, a quoted path, JPEG, RGB
    draw(X[5]).convert("RGB").save(good, quality=95)
    stdin = f"{tmp_path / 'missing.png'}\n{blank}\n{not_image}\n\n\"{good}\"\n"  # then EOF, no exit
    result = run_demo([], stdin, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Error: no such file" in result.stdout
    assert "Error: cannot read a digit from" in result.stdout and "blank" in result.stdout
    assert predicted(result.stdout) == [int(y[5])]


def test_demo_image_arguments_and_show(data, tmp_path):
    X, y = data
    path = tmp_path / "seven.png"
    draw(X[np.flatnonzero(y == 7)[0]], size=96).save(path)
    result = run_demo(["--show", str(path)], "", tmp_path)
    assert result.returncode == 0, result.stderr
    assert predicted(result.stdout) == [7]
    assert "The network sees (8x8):" in result.stdout
    assert "Please enter" not in result.stdout


def test_demo_trains_when_asked(data, tmp_path):
    X, y = data
    paths = []
    for d in (0, 3, 6):
        path = tmp_path / f"{d}.png"
        draw(X[np.flatnonzero(y == d)[2]]).save(path)
        paths.append(str(path))
    result = run_demo(["--train", "--epochs", "30"], "\n".join(paths) + "\nexit\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Trained a 64-64-10 MLP" in result.stderr
    assert predicted(result.stdout) == [0, 3, 6]


# ---------------------------------------------------------------------------------------------------- the network
def test_shipped_network_loads_and_reads_the_digits(data):
    assert os.path.exists(digits.MODEL_PATH), "mlpext/data/digits_mlp.npz is missing (python -m mlpext.digits " \
                                              "--save-model mlpext/data/digits_mlp.npz regenerates it)"
    net = MLP.load(digits.MODEL_PATH)
    assert [W.shape for W, _ in net.params] == [(64, 64), (64, 10)]
    X, y = data
    rendered = np.array([digits.image_to_digit(draw(x)) for x in X[::5]])
    accuracy = np.mean(net.predict(rendered.astype(np.float32) / 16.0) == y[::5])
    assert accuracy >= 0.97


def test_load_model_falls_back_to_training(tmp_path, capsys):
    net = digits.load_model(str(tmp_path / "nothing.npz"), epochs=1)
    assert "training one now" in capsys.readouterr().err
    assert [W.shape for W, _ in net.params] == [(64, 64), (64, 10)]


# ---------------------------------------------------------------------------------------------------- preprocessing
def test_image_to_digit_recovers_a_scaled_up_sample(data):
    X, _ = data
    for x in X[:50]:
        expected = digits.normalize_digit(x.reshape(8, 8))
        for size in (8, 64):
            np.testing.assert_allclose(digits.image_to_digit(draw(x, size)), expected, atol=0.1)
        # light ink on a dark background is the same digit
        np.testing.assert_allclose(digits.image_to_digit(draw(x, 64, dark_on_light=False)), expected, atol=0.1)


def test_normalize_digit_crops_pads_and_scales():
    ink = np.zeros((100, 60))
    ink[30:70, 20:30] = 0.5  # a bar, 40 tall and 10 wide, off-centre, half strength
    out = digits.normalize_digit(ink).reshape(8, 8)
    assert out.max() == pytest.approx(16.0)
    assert out.min() >= 0
    assert np.all(out[:, :2] == 0) and np.all(out[:, -2:] == 0)  # centred: empty margins either side
    assert np.all(out[:, 3:5] > 0)  # the bar fills the height, in the middle columns
    with pytest.raises(ValueError, match="blank"):
        digits.normalize_digit(np.zeros((10, 10)))


def test_image_to_digit_handles_transparency_and_grey_paper(data):
    X, _ = data
    x = X[0]
    expected = digits.normalize_digit(x.reshape(8, 8))
    ink = (np.asarray(x).reshape(8, 8) / 16.0 * 255).astype(np.uint8)
    ink = np.asarray(Image.fromarray(ink).resize((64, 64), Image.NEAREST))
    rgba = np.zeros((64, 64, 4), np.uint8)  # black ink, transparent background (a typical drawing-app PNG)
    rgba[..., 3] = ink
    np.testing.assert_allclose(digits.image_to_digit(Image.fromarray(rgba, "RGBA")), expected, atol=0.1)
    grey = (200 - ink * (150 / 255)).astype(np.uint8)  # dark grey ink on light grey paper
    np.testing.assert_allclose(digits.image_to_digit(Image.fromarray(grey)), expected, atol=0.5)


# ---------------------------------------------------------------------------------------------------- the example
def test_example_digits_train_reaches_97_percent():
    spec = importlib.util.spec_from_file_location("digits_train", os.path.join(ROOT, "examples", "digits_train.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    accuracy, seconds, net = module.train_and_evaluate()
    assert accuracy >= 0.97, f"test accuracy {accuracy:.4f}"
