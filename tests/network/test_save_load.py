"""save() / load(): an exact round trip of the configuration, the parameters, the optimizer state and the
shuffle RNG state, so that a loaded network continues training bit-identically; files are interchangeable
between mlpext.MLP and NumpyMLP; broken files are a ValueError naming the file (tests/network/test_load_bombs.py has the
hostile and damaged ones)."""
import io
import json
import os
import pathlib
import re

import numpy as np
import pytest

from mlpext.network import MLP
from mlpext.reference_net import NumpyMLP

IMPLEMENTATIONS = [MLP, NumpyMLP]
CONFIGS = {
    "sgd": dict(activation="tanh", loss="mse", optimizer="sgd", learning_rate=0.05),
    "momentum": dict(activation="leaky_relu", leaky_slope=0.2, loss="bce", optimizer="sgd", learning_rate=0.1,
                     momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": dict(activation=["relu", "sigmoid"], loss="cross_entropy", optimizer="adam", learning_rate=3e-3,
                 betas=(0.8, 0.995), eps=1e-7, weight_decay=0.01),
    "rmsprop": dict(activation="tanh", loss="mse", optimizer="rmsprop", learning_rate=3e-3, alpha=0.9, eps=1e-6),
    "adamw": dict(activation="relu", loss="cross_entropy", optimizer="adamw", learning_rate=3e-3),
}
SIZES = [4, 7, 5, 3]


def data(loss, n=25, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]))
    if loss == "cross_entropy":
        return X, rng.integers(0, SIZES[-1], n)
    if loss == "bce":
        return X, rng.integers(0, 2, (n, SIZES[-1]))
    return X, rng.standard_normal((n, SIZES[-1]))


def everything(net):
    return [a for pair in net.params for a in pair] + list(net._state) + [net._rng]


def assert_identical(a, b):
    assert a.get_config() == b.get_config()
    ea, eb = everything(a), everything(b)
    assert len(ea) == len(eb)
    for x, y in zip(ea, eb):
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_round_trip_continues_bit_identically(cls, name, dtype, tmp_path):
    cfg = CONFIGS[name]
    net = cls(SIZES, dtype=dtype, seed=11, **cfg)
    X, y = data(cfg["loss"])
    net.fit(X, y, epochs=3, batch_size=6)
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = cls.load(path)
    assert type(loaded) is cls
    assert_identical(net, loaded)
    for a in everything(loaded):  # owned, writable, C-contiguous arrays, as a fresh network's
        assert a.flags.c_contiguous and a.flags.writeable and a.flags.owndata
    # continued training: the same batches (same RNG state), the same optimizer state
    h1 = net.fit(X, y, epochs=4, batch_size=6)
    h2 = loaded.fit(X, y, epochs=4, batch_size=6)
    assert h1.tobytes() == h2.tobytes()
    assert net.step(X[:5], y[:5]) == loaded.step(X[:5], y[:5])
    assert_identical(net, loaded)


@pytest.mark.parametrize("kind", [str, bytes, pathlib.Path])
def test_every_kind_of_file_name_that_load_takes_save_takes(kind, tmp_path):
    net = MLP(SIZES, seed=3)
    path = kind(str(tmp_path / "net.npz")) if kind is not bytes else str(tmp_path / "net.npz").encode()
    net.save(path)
    assert_identical(net, MLP.load(path))


@pytest.mark.parametrize("source, target", [(MLP, NumpyMLP), (NumpyMLP, MLP)], ids=["MLP->Numpy", "Numpy->MLP"])
def test_files_are_interchangeable(source, target, tmp_path):
    cfg = CONFIGS["adam"]
    net = source(SIZES, dtype=np.float64, seed=3, **cfg)
    X, y = data(cfg["loss"])
    net.fit(X, y, epochs=2, batch_size=8)
    net.save(tmp_path / "net.npz")
    other = target.load(tmp_path / "net.npz")
    assert type(other) is target
    assert_identical(net, other)
    h1, h2 = net.fit(X, y, epochs=2, batch_size=8), other.fit(X, y, epochs=2, batch_size=8)
    np.testing.assert_allclose(h1, h2, rtol=1e-12)
    assert np.array_equal(net._rng, other._rng)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_paths_and_file_objects(cls, tmp_path):
    net = cls([2, 3, 1], seed=None, learning_rate=0.25)
    net.learning_rate = 0.125  # changed after construction: saved as it is now
    for path in (str(tmp_path / "a.npz"), tmp_path / "b.npz", tmp_path / "no_suffix"):
        net.save(path)
        assert pathlib.Path(path).exists()  # written exactly where asked (no ".npz" appended)
        loaded = cls.load(path)
        assert_identical(net, loaded)
        assert loaded.seed is None and loaded.learning_rate == 0.125
    buffer = io.BytesIO()
    net.save(buffer)
    buffer.seek(0)
    assert_identical(net, cls.load(buffer))

    class SeekSaysNothing(io.BytesIO):  # a file-like whose seek() returns None, which zipfile reads all the same
        def seek(self, *args):
            super().seek(*args)

    assert_identical(net, cls.load(SeekSaysNothing(buffer.getvalue())))


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_a_failed_save_leaves_the_earlier_file(cls, tmp_path, monkeypatch):
    """save() writes the archive beside an existing file of the user's, then replaces it: an error part way (a full
    disk, Ctrl-C) used to leave a truncated file where a good one was."""
    import mlpext.network

    old = cls([2, 3, 1], seed=1)
    path = tmp_path / "net.npz"
    old.save(path)
    before = path.read_bytes()
    real_savez = np.savez

    def savez_then_fail(f, **arrays):
        real_savez(f, **arrays)
        f.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mlpext.network.np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="No space"):
        cls([2, 30, 1], seed=2).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]  # no temporary file left
    assert_identical(old, cls.load(path))


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits and symbolic links")
def test_save_keeps_permissions_and_writes_through_links(tmp_path):
    net = MLP([2, 3, 1], seed=1)
    path = tmp_path / "private.npz"
    net.save(path)
    path.chmod(0o600)
    net.save(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    link = tmp_path / "link.npz"
    link.symlink_to(path)
    MLP([2, 4, 1], seed=2).save(link)
    assert link.is_symlink() and MLP.load(path).params[0][0].shape == (2, 4)
    assert (path.stat().st_mode & 0o777) == 0o600


@pytest.mark.skipif(os.name == "nt" or not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="POSIX permissions, as a user they bind")
def test_save_over_a_read_only_file_is_refused_as_open_would(tmp_path):
    path = tmp_path / "frozen.npz"
    MLP([2, 3, 1], seed=1).save(path)
    before = path.read_bytes()
    path.chmod(0o444)
    with pytest.raises(PermissionError):
        MLP([2, 4, 1], seed=2).save(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["frozen.npz"]


def test_save_paths_that_are_not_replaced_whole(tmp_path, monkeypatch):
    """A hard link stays linked (the file is written in place); a new file that fails part way is removed; a long
    name works (the temporary name beside it is short); an empty name is refused with no file left anywhere."""
    import mlpext.network

    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    MLP([2, 3, 1], seed=1).save(a)
    os.link(a, b)
    MLP([2, 5, 1], seed=2).save(a)
    assert os.path.samefile(a, b) and MLP.load(b).params[0][0].shape == (2, 5)
    long_name = tmp_path / ("n" * 240 + ".npz")
    MLP([2, 3, 1], seed=1).save(long_name)
    MLP([2, 3, 1], seed=1).save(long_name)  # replaced: its temporary file is named beside it, short
    assert MLP.load(long_name).params[0][0].shape == (2, 3)
    real_savez = np.savez

    def savez_then_fail(f, **arrays):
        real_savez(f, **arrays)
        raise KeyboardInterrupt

    monkeypatch.setattr(mlpext.network.np, "savez", savez_then_fail)
    with pytest.raises(KeyboardInterrupt):
        MLP([2, 3, 1], seed=1).save(tmp_path / "new.npz")
    monkeypatch.undo()
    assert not (tmp_path / "new.npz").exists()
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(FileNotFoundError):
        MLP([2, 3, 1], seed=1).save("")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_zip_member_is_a_binary_file_load_reads(tmp_path):
    """A member of a zip archive (mode 'r' before Python 3.13, but bytes) loads, as any binary file object; so
    does any file object whose mode says 'r' and whose read gives bytes."""
    import zipfile

    net = MLP([2, 3, 1], seed=1)
    net.save(tmp_path / "net.npz")
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as z:
        z.write(tmp_path / "net.npz", "net.npz")
    with zipfile.ZipFile(tmp_path / "outer.zip") as z, z.open("net.npz") as member:
        data = member.read()
    assert_identical(net, MLP.load(io.BytesIO(data)))
    with zipfile.ZipFile(tmp_path / "outer.zip") as z, z.open("net.npz") as member:
        assert member.mode in ("r", "rb")  # "rb" from Python 3.13 on
        assert_identical(net, MLP.load(member))

    class ModeR(io.BytesIO):
        mode = "r"  # as a zip member's before Python 3.13: bytes all the same, not a text file

    assert_identical(net, MLP.load(ModeR(data)))


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_text_files_and_other_objects_are_type_errors(cls, tmp_path):
    """A file opened in text mode, or an object that is no file, is a TypeError saying what is needed (load used
    to fail inside with "startswith first arg must be str", or call a text file not a zip archive)."""
    net = cls([2, 3, 1], seed=1)
    path = tmp_path / "net.npz"
    net.save(path)
    for mode, kwargs in (("r", {"encoding": "latin-1"}), ("r", {})):
        with open(path, mode, **kwargs) as f, pytest.raises(TypeError, match="text mode"):
            cls.load(f)
    with pytest.raises(TypeError, match="text mode"):
        cls.load(io.StringIO("PK"))
    with open(tmp_path / "out.npz", "w") as f, pytest.raises(TypeError, match="text mode"):
        net.save(f)
    assert (tmp_path / "out.npz").read_bytes() == b""
    for thing in (None, 5.0, [1, 2]):
        with pytest.raises(TypeError, match="file name"):
            cls.load(thing)
        with pytest.raises(TypeError, match="file name"):
            net.save(thing)


def rewrite(src, dst, change):
    """Copy the .npz file src to dst with change(dict of arrays) applied."""
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    np.savez(dst, **arrays)


def set_config(arrays, **updates):
    header = json.loads(str(arrays["config"][()]))
    for key, value in updates.items():
        if key in ("format", "version"):
            header[key] = value
        else:
            header["config"][key] = value
    arrays["config"] = np.array(json.dumps(header))


BROKEN = {
    "missing W1": lambda a: a.pop("W1"),
    "extra array": lambda a: a.update(extra=np.zeros(2)),
    "missing config": lambda a: a.pop("config"),
    "config not JSON": lambda a: a.update(config=np.array("{not json")),
    "config a number": lambda a: a.update(config=np.array(3.0)),
    "other format": lambda a: set_config(a, format="something else"),
    "future version": lambda a: set_config(a, version=99),
    "bad loss name": lambda a: set_config(a, loss="hinge"),
    "unknown key": lambda a: set_config(a, colour="blue"),
    "sizes disagree": lambda a: set_config(a, layer_sizes=[4, 7, 5, 2]),
    "W0 wrong shape": lambda a: a.update(W0=a["W0"][:, :3]),
    "b0 wrong dtype": lambda a: a.update(b0=a["b0"].astype(np.float32)),
    "dtype disagrees": lambda a: set_config(a, dtype="float32"),
    "step count float": lambda a: a.update(state0=a["state0"].astype(np.float64)),
    "rng all zero": lambda a: a.update(rng=np.zeros(4, np.uint64)),
    "rng wrong dtype": lambda a: a.update(rng=a["rng"].astype(np.int64)),
    "momentum state for adam": lambda a: set_config(a, optimizer="sgd", momentum=0.9),
    # Adam's step t: -1 made every weight NaN
    "adam step -1": lambda a: a.update(state0=np.array([-1], np.int64)),
    "adam step of two": lambda a: a.update(state0=np.array([1, 1], np.int64)),
    "adam step uint64": lambda a: a.update(state0=np.array([1], np.uint64)),
    "adam second moment negative": lambda a: a["state9"].__setitem__((0, 0), -1e-3),
    "adam moment float32": lambda a: a.update(state1=a["state1"].astype(np.float32)),
    "eps zero": lambda a: set_config(a, eps=0.0),
    "cross_entropy, one output": lambda a: set_config(a, layer_sizes=[4, 7, 5, 1]),
    "config key missing": lambda a: _drop_key(a, "seed"),
    "version 1 with alpha": lambda a: set_config(a, version=1),  # version 1 had no alpha
    "version 2 without alpha": lambda a: _drop_key(a, "alpha"),
    "version 1 with adamw": lambda a: (as_version_1(a), set_config(a, optimizer="adamw")),
}


def _drop_key(arrays, key):
    header = json.loads(str(arrays["config"][()]))
    del header["config"][key]
    arrays["config"] = np.array(json.dumps(header))


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("what", list(BROKEN))
def test_broken_files(cls, what, tmp_path):
    net = cls(SIZES, dtype=np.float64, seed=1, **CONFIGS["adam"])
    net.save(tmp_path / "good.npz")
    rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", BROKEN[what])
    with pytest.raises(ValueError, match="^" + re.escape(f"{tmp_path / 'bad.npz'}: ")):  # names the file
        cls.load(tmp_path / "bad.npz")


def as_version_1(arrays):
    """The file as the version before RMSprop's alpha wrote it: the same arrays, no "alpha" in the configuration."""
    set_config(arrays, version=1)
    _drop_key(arrays, "alpha")


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_version_1_files_load_and_continue(cls, name, tmp_path):
    """Files of the first format (sgd and adam, state [t] + 2L m + 2L v or 2L momentum buffers) load into the
    optimizer table's layout and continue as the network that wrote them."""
    cfg = CONFIGS[name]
    net = cls(SIZES, dtype=np.float32, seed=2, **cfg)
    X, y = data(cfg["loss"])
    net.fit(X, y, epochs=2, batch_size=6)
    net.save(tmp_path / "new.npz")
    rewrite(tmp_path / "new.npz", tmp_path / "old.npz", as_version_1)
    loaded = cls.load(tmp_path / "old.npz")
    assert loaded.alpha == 0.99
    assert_identical(net, loaded)
    assert net.fit(X, y, epochs=2, batch_size=6).tobytes() == loaded.fit(X, y, epochs=2, batch_size=6).tobytes()
    assert_identical(net, loaded)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_negative_square_avg_is_refused(cls, tmp_path):
    net = cls(SIZES, dtype=np.float64, seed=1, **CONFIGS["rmsprop"])
    net.save(tmp_path / "good.npz")
    rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", lambda a: a["state3"].__setitem__(0, -1e-3))
    with pytest.raises(ValueError, match="square_avg state3 holds negative values"):
        cls.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_adam_step_bounds_load(cls, tmp_path):
    """Every step count training can reach loads, trains and saves again: t = 0 (never stepped) to int64's largest,
    where the count stops instead of overflowing (2**53 + 1 was once refused, though one step from 2**53 made it)."""
    net = cls(SIZES, dtype=np.float64, seed=1, **CONFIGS["adam"])
    net.save(tmp_path / "good.npz")
    X, y = data("cross_entropy")
    top = 2**63 - 1
    for t in (0, 2**53, 2**53 + 1, top - 3, top):
        rewrite(tmp_path / "good.npz", tmp_path / "t.npz", lambda a: a.update(state0=np.array([t], np.int64)))
        loaded = cls.load(tmp_path / "t.npz")
        assert int(loaded._state[0][0]) == t
        loaded.fit(X, y, 1, batch_size=5)  # 5 steps
        assert int(loaded._state[0][0]) == min(t + 5, top)
        assert all(np.all(np.isfinite(a)) for pair in loaded.params for a in pair)
        loaded.save(tmp_path / "again.npz")
        assert int(cls.load(tmp_path / "again.npz")._state[0][0]) == min(t + 5, top)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_other_byte_order_and_fortran_order_load(cls, tmp_path):
    """A file whose arrays are big-endian (written on such a machine) or in Fortran order (a transposed
    parameter saved by NumpyMLP) loads into the same network, in native C-contiguous arrays."""
    net = cls(SIZES, dtype=np.float64, seed=1, **CONFIGS["adam"])
    net.fit(*data("cross_entropy"), epochs=2, batch_size=6)
    net.save(tmp_path / "good.npz")

    def swap_and_transpose(arrays):
        for key in list(arrays):
            if key != "config":
                arrays[key] = arrays[key].astype(arrays[key].dtype.newbyteorder(">"))
        arrays["W1"] = np.asfortranarray(arrays["W1"])
        arrays["state3"] = np.asfortranarray(arrays["state3"])

    rewrite(tmp_path / "good.npz", tmp_path / "other.npz", swap_and_transpose)
    with np.load(tmp_path / "other.npz") as f:
        assert f["W0"].dtype.byteorder == ">" and f["W1"].flags.f_contiguous and not f["W1"].flags.c_contiguous
    loaded = cls.load(tmp_path / "other.npz")
    assert_identical(net, loaded)
    for a in everything(loaded):
        assert a.dtype.isnative and a.flags.c_contiguous and a.flags.owndata


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_not_npz_files(cls, tmp_path):
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError):
        cls.load(tmp_path / "array.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))  # pickles are never loaded
    with pytest.raises(ValueError):
        cls.load(tmp_path / "objects.npy")
    with pytest.raises(FileNotFoundError):
        cls.load(tmp_path / "missing.npz")
