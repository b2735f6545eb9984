"""MLP.load on hostile and damaged files: it checks the member list and every .npy header against the
configuration before it allocates, so a small file cannot make it allocate or inflate more than the network it
describes; anything that is not a file save() wrote is a ValueError naming the file (never zipfile.BadZipFile,
RecursionError, NumPy's allow_pickle message, or a pickle load).

The memory bounds run in a fresh interpreter with its address space limited (resource.setrlimit(RLIMIT_AS)) to
what it uses after importing mlpext plus a margin: a zip bomb (a 1 MiB member that inflates to 1 GiB of zeros)
and a config bomb (a tiny file whose configuration says layer_sizes=[3, 12000, 12000, 2], 3.3 GB of parameters
and Adam state) must be refused without using the margin, and a genuine 67 MB network must load within its own
size plus a small constant (the loader reads each member straight into its final array).
"""
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest

from mlp_helpers import subprocess_env
from mlpext.network import MLP, SAVE_VERSION
from mlpext.reference_net import NumpyMLP

UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
IMPLEMENTATIONS = [MLP, NumpyMLP]
GIB = 1 << 30


def saved(net):
    buffer = io.BytesIO()
    net.save(buffer)
    return buffer.getvalue()


def members(data):
    """{name: bytes} of the .npz archive `data` (each member's raw .npy file)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def npy_header(dtype, shape):
    """The bytes of a .npy 1.0 header for an array of this dtype and shape (C order)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()


def write_zip(path, parts, compression=zipfile.ZIP_STORED):
    """An archive at path of the members `parts`: {name: bytes, or a Deflated (written as it is)}."""
    with open(path, "wb") as f:
        central = []
        for name, part in parts.items():
            if not isinstance(part, Deflated):
                part = Deflated.of(part) if compression == zipfile.ZIP_DEFLATED else part
            if isinstance(part, Deflated):
                method, crc, size, blocks = zipfile.ZIP_DEFLATED, part.crc, part.size, part.blocks
            else:
                method, crc, size, blocks = zipfile.ZIP_STORED, zlib.crc32(part), len(part), [part]
            compressed = sum(len(b) for b in blocks)
            fields = (20, 0, method, 0, 0x21, crc, compressed, size, len(name), 0)
            central.append((name, fields, f.tell()))
            f.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields) + name.encode())
            for block in blocks:
                f.write(block)
        start = f.tell()
        for name, fields, offset in central:
            f.write(struct.pack("<4sH5H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, offset) + name.encode())
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central), f.tell() - start,
                            start, 0))


class Deflated:
    """A member's deflate stream as a list of blocks, with its CRC and inflated size. zeros(prefix, count) is
    prefix and then `count` zero bytes, made from one compressed 16 MiB block of zeros repeated (a full flush
    makes each block independent), so a 1 GiB bomb takes a second to make."""

    def __init__(self, blocks, crc, size):
        self.blocks, self.crc, self.size = blocks, crc, size

    @classmethod
    def of(cls, data):
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return cls([c.compress(data) + c.flush()], zlib.crc32(data), len(data))

    @classmethod
    def zeros(cls, prefix, count):
        chunk = bytes(16 << 20)
        assert count % len(chunk) == 0
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        blocks = [c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)]
        block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
        crc = zlib.crc32(prefix)
        for _ in range(count // len(chunk)):
            crc = zlib.crc32(chunk, crc)
        return cls(blocks + [block] * (count // len(chunk)) + [c.flush()], crc, len(prefix) + count)


def config_member(**changes):
    """config.npy of an Adam network of [3, 5, 2], with `changes` to its configuration."""
    config = MLP([3, 5, 2], optimizer="adam", seed=0).get_config()
    config.update(changes)
    text = json.dumps({"format": "mlpext.MLP", "version": SAVE_VERSION, "config": config})
    buffer = io.BytesIO()
    np.save(buffer, np.array(text))
    return buffer.getvalue()


def set_central_file_size(path, name, file_size):
    """Make the central directory claim `file_size` uncompressed bytes for member `name` (a lying archive)."""
    data = bytearray(open(path, "rb").read())
    encoded = name.encode()
    at = 0
    while True:
        at = data.index(b"PK\x01\x02", at)
        (name_length,) = struct.unpack_from("<H", data, at + 28)
        if bytes(data[at + 46:at + 46 + name_length]) == encoded:
            struct.pack_into("<I", data, at + 24, file_size)
            break
        at += 4
    open(path, "wb").write(bytes(data))


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    """{name: (path, words the ValueError must contain)} of hostile files, and a genuine file of the same network."""
    root = tmp_path_factory.mktemp("bombs")
    good = members(saved(MLP([3, 5, 2], optimizer="adam", seed=0)))
    files = {}

    # a zip bomb: W0's header claims (16384, 16384) float32, and the member inflates to 1 GiB of zeros
    path = root / "zip_bomb_header.npz"
    write_zip(path, dict(good, **{"W0.npy": Deflated.zeros(npy_header(np.float32, (16384, 16384)), GIB)}))
    files["zip bomb, header claims 1 GiB"] = (path, "W0 is float32 (16384, 16384), the configuration needs")
    # the same with W0's header right and 1 GiB of zeros after its 60 bytes
    path = root / "zip_bomb_trailing.npz"
    w0 = good["W0.npy"]
    write_zip(path, dict(good, **{"W0.npy": Deflated.zeros(w0, GIB)}))
    files["zip bomb, 1 GiB after the array"] = (path, "does not hold exactly its header's array")

    # a config bomb: the configuration says [3, 12000, 12000, 2] (3.3 GB with Adam's state) ...
    shapes = [(3, 12000), (12000,), (12000, 12000), (12000,), (12000, 2), (2,)]
    layout = {"rng": (np.uint64, (4,))}
    layout.update({f"{'Wb'[k % 2]}{k // 2}": (np.float64, shape) for k, shape in enumerate(shapes)})
    layout["state0"] = (np.int64, (1,))  # Adam's step, then its two moments of each parameter
    layout.update({f"state{1 + k}": (np.float64, shape) for k, shape in enumerate(shapes + shapes)})
    config = config_member(layer_sizes=[3, 12000, 12000, 2], dtype="float64")
    # ... with the small network's arrays
    path = root / "config_bomb.npz"
    write_zip(path, dict(good, **{"config.npy": config}))
    files["config bomb, small arrays"] = (path, "do not match the configuration")
    # ... with every array named and its header right, but no data
    parts = {"config.npy": config}
    parts.update({f"{key}.npy": npy_header(dtype, shape) for key, (dtype, shape) in layout.items()})
    path = root / "config_bomb_headers.npz"
    write_zip(path, parts)
    files["config bomb, headers only"] = (path, "does not hold exactly its header's array")
    # ... and a central directory that claims the data is there
    path = root / "config_bomb_lying.npz"
    write_zip(path, parts, zipfile.ZIP_DEFLATED)
    header = npy_header(np.float64, (12000, 12000))
    set_central_file_size(path, "W1.npy", len(header) + 12000 * 12000 * 8)
    files["config bomb, lying directory"] = (path, "more than deflate can give")
    for path, _ in files.values():
        assert os.path.getsize(path) < 2 << 20  # all small files
    genuine = root / "genuine.npz"
    genuine.write_bytes(saved(MLP([3, 5, 2], optimizer="adam", seed=0)))
    return files, genuine


def run_limited(script, margin, cwd):
    """Run `script` in a fresh interpreter whose address space is limited to its size after importing numpy and
    mlpext plus `margin` bytes; returns its stdout. The script first proves the limit bites."""
    prelude = textwrap.dedent(f"""
        import resource, sys
        import numpy as np
        import mlpext
        from mlpext.network import MLP

        def vm_bytes():
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = vm_bytes() + {margin}
        if soft != resource.RLIM_INFINITY and soft < limit:
            print("SKIP: address space already limited"); sys.exit(0)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        try:
            waste = np.ones({margin} // 8 + (64 << 20) // 8)
            print("LIMIT NOT ENFORCED"); sys.exit(3)
        except MemoryError:
            pass
    """)
    result = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script)], capture_output=True,
                            text=True, env=subprocess_env(OPENBLAS_NUM_THREADS="1", MLPEXT_NUM_THREADS="1"),
                            cwd=cwd, timeout=600)  # outside the checkout (see subprocess_env)
    if result.stdout.startswith("SKIP"):
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux") or UNDER_ASAN,
                    reason="RLIMIT_AS and /proc (AddressSanitizer reserves terabytes of address space)")
def test_bombs_are_refused_within_200_MB(bombs):
    files, genuine = bombs
    paths = {name: str(path) for name, (path, _) in files.items()}
    out = run_limited(f"""
        paths = {paths!r}
        assert MLP.load({str(genuine)!r}).layer_sizes == (3, 5, 2)  # a genuine file loads under the limit
        for name, path in paths.items():
            try:
                MLP.load(path)
                print(name, "LOADED")
            except ValueError as exc:
                print(name, "ValueError:", exc)
            except MemoryError:
                print(name, "MemoryError")
    """, margin=200 << 20, cwd=os.path.dirname(genuine))
    lines = dict(line.split(" ValueError: ", 1) if " ValueError: " in line else (line, "")
                 for line in out.splitlines())
    for name, (path, words) in files.items():
        assert name in lines, out
        message = lines[name]
        assert message.startswith(str(path) + ": ") and words in message, f"{name}: {out}"


@pytest.mark.skipif(not sys.platform.startswith("linux") or UNDER_ASAN,
                    reason="RLIMIT_AS and /proc (AddressSanitizer reserves terabytes of address space)")
def test_load_peak_memory_is_the_network_plus_a_constant(tmp_path):
    """A 67 MB network (float32, Adam) loads with an address-space margin of 1.1 × its size + 24 MB: the arrays
    are allocated once and each member is inflated straight into its array (building the network first and
    then reading the file's arrays beside it needs twice its size)."""
    net = MLP([512, 2048, 2048, 10], optimizer="adam", dtype=np.float32, seed=0)
    size = sum(a.nbytes for pair in net.params for a in pair) + sum(a.nbytes for a in net._state)
    assert size > 60e6
    path = tmp_path / "big.npz"
    net.save(path)
    del net
    out = run_limited(f"""
        net = MLP.load({str(path)!r})
        print("OK", net.layer_sizes, float(net.params[1][0][7, 9]))
    """, margin=int(1.1 * size) + (24 << 20), cwd=tmp_path)
    first = MLP([512, 2048, 2048, 10], optimizer="adam", dtype=np.float32, seed=0)
    assert out.strip() == f"OK (512, 2048, 2048, 10) {float(first.params[1][0][7, 9])}"


# ------------------------------------------------------------------------------------------------------------
# Damaged files of every kind: a ValueError naming the file, or (a harmless byte) the same network
# ------------------------------------------------------------------------------------------------------------

def everything(net):
    return ([a.tobytes() for pair in net.params for a in pair] + [a.tobytes() for a in net._state]
            + [net._rng.tobytes(), json.dumps(net.get_config()).encode()])


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
def test_every_truncation_and_flipped_byte(compressed):
    """Every prefix of a saved file, and the file with each byte inverted in turn: a ValueError, or a network
    equal to the saved one (the byte was one zip does not use, such as a timestamp); never another exception."""
    net = MLP([2, 2, 1], momentum=0.9, seed=0)  # every kind of member: config, rng, parameters, state
    net.fit(np.eye(2), [[0.0], [1.0]], 2)
    data = saved(net)
    if compressed:
        with np.load(io.BytesIO(data)) as f:
            arrays = {k: f[k] for k in f.files}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        data = buffer.getvalue()
    want = everything(net)
    refused = same = 0
    for n in range(len(data)):
        with pytest.raises(ValueError, match=r"^<BytesIO object>: "):
            MLP.load(io.BytesIO(data[:n]))
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        try:
            loaded = MLP.load(io.BytesIO(bytes(damaged)))
        except ValueError as exc:
            assert str(exc).startswith("<BytesIO object>: ")
            refused += 1
        else:
            assert everything(loaded) == want, f"byte {i} inverted loaded another network"
            same += 1
    assert refused > len(data) // 2 and same > 0


def with_config_text(text):
    """An otherwise genuine file whose config member holds `text`."""
    parts = members(saved(MLP([3, 5, 2], optimizer="adam", seed=0)))
    buffer = io.BytesIO()
    np.save(buffer, np.array(text))
    parts["config.npy"] = buffer.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, part in parts.items():
            z.writestr(name, part)
    return out.getvalue()


def deflate_error():
    """A deflated file with a byte of W0's deflate stream changed so that it does not inflate."""
    net = MLP([30, 40, 2], seed=0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, part in members(saved(net)).items():
            z.writestr(name, part)
    data = bytearray(buffer.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("W0.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start] = 0xFF  # block type 3 (reserved): an invalid stream
    return bytes(data)


MALFORMED = {
    "empty": (b"", "not a zip archive"),
    "text file": (b"W0 = [[0.1, 0.2]]\nthis is not a network\n", "not a zip archive"),
    "an .npy file": (b"", "an .npy file"),  # filled in below
    "truncated zip": (b"", "damaged or truncated zip archive"),
    "deflate error": (b"", "Error -3"),
    "deeply nested JSON": (b"", "RecursionError"),
    "JSON list": (b"", "not a file written by mlpext.MLP.save"),
    "pickled object array": (b"", "config"),
}


def malformed(kind):
    if kind == "an .npy file":
        buffer = io.BytesIO()
        np.save(buffer, np.zeros(3))
        return buffer.getvalue()
    if kind == "truncated zip":
        return saved(MLP([3, 5, 2], seed=0))[:-30]
    if kind == "deflate error":
        return deflate_error()
    if kind == "deeply nested JSON":
        return with_config_text("[" * 100_000 + "]" * 100_000)
    if kind == "JSON list":
        return with_config_text("[1, 2, 3]")
    if kind == "pickled object array":
        parts = members(saved(MLP([3, 5, 2], seed=0)))
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"config": 1}], dtype=object), allow_pickle=True)
        parts["config.npy"] = buffer.getvalue()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for name, part in parts.items():
                z.writestr(name, part)
        return out.getvalue()
    return MALFORMED[kind][0]


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_files_are_value_errors_naming_the_file(cls, kind, tmp_path, monkeypatch):
    import pickle

    def no_pickles(*args, **kwargs):
        raise AssertionError("load used pickle")

    monkeypatch.setattr(pickle, "load", no_pickles)
    monkeypatch.setattr(pickle, "loads", no_pickles)
    path = tmp_path / "model.npz"
    path.write_bytes(malformed(kind))
    with pytest.raises(ValueError) as info:
        cls.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and MALFORMED[kind][1] in message, message
    assert "allow_pickle" not in message


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_not_regular_files(cls, tmp_path):
    with pytest.raises(ValueError, match="not a regular file"):
        cls.load(tmp_path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        with pytest.raises(ValueError, match="not a regular file"):  # refused before open(), which would block
            cls.load(tmp_path / "fifo")
    with pytest.raises(FileNotFoundError):
        cls.load(tmp_path / "missing.npz")


def test_file_objects_must_be_seekable():
    """A zip archive is read from its end: a stream without seek is a ValueError saying so."""
    class Stream:
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def read(self, n=-1):
            return self.data.read(n)

    with pytest.raises(ValueError, match=r"^<Stream object>: load needs a seekable binary file"):
        MLP.load(Stream(saved(MLP([2, 3, 1], seed=0))))
    if os.name == "posix":  # where seeking a pipe fails (ESPIPE); Windows does not promise that
        read, write = os.pipe()
        os.close(write)
        with os.fdopen(read, "rb") as pipe, pytest.raises(ValueError, match="needs a seekable binary file"):
            MLP.load(pipe)
