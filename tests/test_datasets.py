"""fastgd.datasets: the bundled digits, the IDX reader/writer and load_mnist against files
written byte by byte with struct (independently of save_idx), and the checked downloads of
load_mnist/load_fashion_mnist against an HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastgd.datasets import (
    DownloadError,
    data_home,
    load_digits,
    load_fashion_mnist,
    load_idx,
    load_mnist,
    save_idx,
)
from fastgd.datasets.download import fetch

# (IDX type code, struct format of one big-endian element, NumPy dtype, sample values)
TYPES = [
    (0x08, "B", np.uint8, [0, 1, 127, 255, 42, 7]),
    (0x09, "b", np.int8, [-128, -1, 0, 1, 127, 5]),
    (0x0B, "h", np.int16, [-32768, -2, 0, 3, 32767, 256]),
    (0x0C, "i", np.int32, [-(2**31), -70000, 0, 1, 2**31 - 1, 65536]),
    (0x0D, "f", np.float32, [-1.5, 0.0, 0.25, 3.0e38, -7.0, 1e-3]),
    (0x0E, "d", np.float64, [-1.5, 0.0, 0.1, 1e300, -7.25, np.pi]),
]


def idx_bytes(code, shape, fmt, values):
    """An IDX file written by hand: magic 00 00 <code> <ndim>, uint32 sizes, big-endian data."""
    return (bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
            + struct.pack(f">{len(values)}{fmt}", *values))


# ---------------------------------------------------------------------- load_digits


def test_load_digits_shapes_range_and_classes():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 1
    assert sorted(np.unique(y)) == list(range(10))
    raw, _ = load_digits(dtype="float64", scale=False)
    assert raw.dtype == np.float64 and raw.max() == 16
    np.testing.assert_array_equal(raw / 16, X.astype(np.float64))
    X3, y3 = load_digits(n_class=3)
    assert set(np.unique(y3)) == {0, 1, 2} and len(X3) == len(y3) == np.count_nonzero(y < 3)


@pytest.mark.parametrize("n_class", [0, 11])
def test_load_digits_bad_n_class(n_class):
    with pytest.raises(ValueError, match="n_class must be in 1..10"):
        load_digits(n_class=n_class)


# ---------------------------------------------------------------------- load_idx on hand-written files


@pytest.mark.parametrize("code, fmt, dtype, values", TYPES, ids=[t[2].__name__ for t in TYPES])
def test_load_idx_every_type_hand_written(tmp_path, code, fmt, dtype, values):
    f = tmp_path / "a.idx"
    f.write_bytes(idx_bytes(code, (2, 3), fmt, values))
    a = load_idx(f)
    assert a.dtype == np.dtype(dtype) and a.dtype.isnative
    assert a.shape == (2, 3)
    np.testing.assert_array_equal(a, np.array(values, dtype=dtype).reshape(2, 3))
    a[0, 0] = 1  # a writable copy, not a view of the file's bytes


def test_load_idx_mnist_like_images_row_major(tmp_path):
    # 3 images of 2x4 pixels: pixel value = 100*image + 10*row + col, so the layout is checked.
    values = [100 * i + 10 * r + c for i in range(2) for r in range(2) for c in range(4)]
    f = tmp_path / "images-idx3-ubyte"
    f.write_bytes(idx_bytes(0x08, (2, 2, 4), "B", values))
    a = load_idx(str(f))
    assert a.shape == (2, 2, 4) and a.dtype == np.uint8
    assert a[1, 0, 3] == 103 and a[0, 1, 2] == 12 and a[1, 1, 0] == 110


def test_load_idx_gzip_is_detected_by_content_not_name(tmp_path):
    raw = idx_bytes(0x0C, (4,), "i", [1, -2, 3, -4])
    zipped = tmp_path / "labels-no-extension"
    zipped.write_bytes(gzip.compress(raw))
    plain_named_gz = tmp_path / "plain.gz"
    plain_named_gz.write_bytes(raw)
    for f in (zipped, plain_named_gz):
        np.testing.assert_array_equal(load_idx(f), np.array([1, -2, 3, -4], dtype=np.int32))


def test_load_idx_real_mnist_header(tmp_path):
    # The first 16 bytes of MNIST's train-images-idx3-ubyte: uint8, 3 dims, 60000 x 28 x 28.
    header = bytes.fromhex("00000803 0000ea60 0000001c 0000001c")
    f = tmp_path / "train-images-idx3-ubyte"
    f.write_bytes(header + bytes(100))
    with pytest.raises(ValueError, match=r"shape \(60000, 28, 28\) of uint8 \(47040000 data bytes\), "
                                         r"the file has 100 data bytes"):
        load_idx(f)


def test_load_idx_empty_dimension(tmp_path):
    f = tmp_path / "empty"
    f.write_bytes(idx_bytes(0x08, (0, 28, 28), "B", []))
    a = load_idx(f)
    assert a.shape == (0, 28, 28) and a.dtype == np.uint8


# ---------------------------------------------------------------------- load_idx errors


def test_load_idx_truncated_names_file_and_byte_counts(tmp_path):
    f = tmp_path / "cut-idx1-ubyte"
    f.write_bytes(idx_bytes(0x0B, (5,), "h", [1, 2, 3, 4, 5])[:-3])
    with pytest.raises(ValueError, match="truncated") as info:
        load_idx(f)
    assert str(f) in str(info.value)
    assert "(10 data bytes)" in str(info.value) and "has 7 data bytes" in str(info.value)


def test_load_idx_trailing_bytes(tmp_path):
    f = tmp_path / "long"
    f.write_bytes(idx_bytes(0x08, (3,), "B", [1, 2, 3]) + b"\x00\x00")
    with pytest.raises(ValueError, match=r"trailing bytes.*\(3 data bytes\), the file has 5") as info:
        load_idx(f)
    assert str(f) in str(info.value)


def test_load_idx_trailing_bytes_inside_gzip(tmp_path):
    f = tmp_path / "long.gz"
    f.write_bytes(gzip.compress(idx_bytes(0x08, (3,), "B", [1, 2, 3]) + b"\x01"))
    with pytest.raises(ValueError, match="trailing bytes"):
        load_idx(f)


@pytest.mark.parametrize("content, message", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "magic number 01000801 does not start with 0000"),
    (b"PK\x03\x04rest", "does not start with 0000"),
    (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", "unknown IDX element type 0x0A"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00", "shorter than the 4-byte magic"),
    (b"", "shorter than the 4-byte magic"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02", "truncated IDX header: 3 dimensions need 16"),
], ids=["bad-first-byte", "zip-file", "unknown-type", "zero-dims", "two-bytes", "empty", "short-header"])
def test_load_idx_not_idx(tmp_path, content, message):
    f = tmp_path / "bad"
    f.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_idx(f)


def test_load_idx_wrong_dims_count(tmp_path):
    # 2x3x4 uint8 data behind a header that claims 2 dimensions: the third size is read as data.
    good = idx_bytes(0x08, (2, 3, 4), "B", list(range(24)))
    lying = bytes([0, 0, 0x08, 2]) + good[4:]
    f = tmp_path / "lying"
    f.write_bytes(lying)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*\(6 data bytes\), the file has 28"):
        load_idx(f)


def test_load_idx_corrupt_gzip(tmp_path):
    f = tmp_path / "broken.gz"
    f.write_bytes(gzip.compress(idx_bytes(0x08, (50,), "B", list(range(50))))[:-10])
    with pytest.raises(ValueError, match="gzip file that cannot be decompressed") as info:
        load_idx(f)
    assert str(f) in str(info.value)


def test_load_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_idx(tmp_path / "nope")


# ---------------------------------------------------------------------- save_idx


@pytest.mark.parametrize("code, fmt, dtype, values", TYPES, ids=[t[2].__name__ for t in TYPES])
def test_save_idx_writes_the_format_byte_for_byte(tmp_path, code, fmt, dtype, values):
    f = tmp_path / "out"
    save_idx(f, np.array(values, dtype=dtype).reshape(3, 2))
    assert f.read_bytes() == idx_bytes(code, (3, 2), fmt, values)


@pytest.mark.parametrize("dtype", [t[2] for t in TYPES])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (1, 1, 1, 2), (0, 4)])
def test_save_load_round_trip(tmp_path, rng, dtype, shape):
    if np.dtype(dtype).kind == "f":
        a = rng.normal(size=shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    for name in ("a-idx-ubyte", "a-idx-ubyte.gz"):
        save_idx(tmp_path / name, a)
        b = load_idx(tmp_path / name)
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b, a)


def test_save_idx_compression_by_extension_or_flag_and_reproducible(tmp_path):
    a = np.arange(1000, dtype=np.uint8).reshape(10, 100) % 7
    save_idx(tmp_path / "x.gz", a)
    save_idx(tmp_path / "y", a, compress=True)
    save_idx(tmp_path / "z.gz", a, compress=False)
    assert (tmp_path / "x.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "x.gz").read_bytes() == (tmp_path / "y").read_bytes()  # mtime=0
    assert (tmp_path / "z.gz").read_bytes()[:4] == b"\x00\x00\x08\x02"
    assert len((tmp_path / "x.gz").read_bytes()) < len((tmp_path / "z.gz").read_bytes())


def test_save_idx_big_endian_and_non_contiguous_input(tmp_path):
    a = np.arange(12, dtype=">i4").reshape(3, 4).T  # big-endian, Fortran-ordered view
    save_idx(tmp_path / "t", a)
    b = load_idx(tmp_path / "t")
    assert b.dtype.isnative
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("array, exc, message", [
    (np.arange(3, dtype=np.int64), TypeError, "dtype int64; IDX stores uint8, int8"),
    (np.array([True, False]), TypeError, "dtype bool"),
    (np.arange(3, dtype=np.uint16), TypeError, "dtype uint16"),
    (np.float32(1.0), ValueError, r"1 to 255 dimensions, got shape \(\)"),
])
def test_save_idx_rejects(tmp_path, array, exc, message):
    with pytest.raises(exc, match=message):
        save_idx(tmp_path / "bad", array)
    assert not (tmp_path / "bad").exists()


# ---------------------------------------------------------------------- load_mnist


def write_mnist(folder, prefix, n, *, images_name="{p}-images-idx3-ubyte",
                labels_name="{p}-labels-idx1-ubyte", n_labels=None, seed=0):
    """Fake MNIST files (28x28 uint8 images, uint8 labels) written with struct; returns them."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n if n_labels is None else n_labels, dtype=np.uint8)
    for name, code, arr in ((images_name, 0x08, images), (labels_name, 0x08, labels)):
        content = idx_bytes(code, arr.shape, "B", arr.ravel().tolist())
        path = folder / name.format(p=prefix)
        path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)
    return images, labels


def test_load_mnist_train_normalized_flat(tmp_path):
    images, labels = write_mnist(tmp_path, "train", 6)
    X, y = load_mnist(tmp_path)
    assert X.shape == (6, 784) and X.dtype == np.float32
    assert y.shape == (6,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(X, images.reshape(6, -1) / np.float32(255), rtol=1e-7)
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_test_kind_gz_and_raw(tmp_path):
    write_mnist(tmp_path, "train", 3, seed=1)
    images, labels = write_mnist(tmp_path, "t10k", 4, images_name="{p}-images-idx3-ubyte.gz",
                                 labels_name="{p}-labels-idx1-ubyte.gz", seed=2)
    X, y = load_mnist(str(tmp_path), kind="test", normalize=False, flatten=False)
    assert X.dtype == np.uint8 and X.shape == (4, 28, 28)
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)
    X64, _ = load_mnist(tmp_path, kind="test", flatten=False, dtype="float64")
    assert X64.dtype == np.float64 and X64.shape == (4, 28, 28)
    np.testing.assert_array_equal(X64, images / 255.0)


def test_load_mnist_dotted_variant_names(tmp_path):
    images, _ = write_mnist(tmp_path, "train", 2, images_name="{p}-images.idx3-ubyte",
                            labels_name="{p}-labels.idx1-ubyte.gz")
    X, y = load_mnist(tmp_path)
    assert X.shape == (2, 784) and y.shape == (2,)
    np.testing.assert_array_equal(X[1] * 255, images[1].ravel().astype(np.float32))


def test_load_mnist_missing_files_list_names_tried(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train images file") as info:
        load_mnist(tmp_path)
    for name in ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-images.idx3-ubyte",
                 "train-images.idx3-ubyte.gz"):
        assert name in str(info.value)
    write_mnist(tmp_path, "train", 2)
    with pytest.raises(FileNotFoundError, match="no test images file.*t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, kind="test")
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="no train labels file.*train-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_mnist(tmp_path / "elsewhere")


def test_load_mnist_counts_must_agree(tmp_path):
    write_mnist(tmp_path, "train", 5, n_labels=4)
    with pytest.raises(ValueError, match="holds 5 images but train-labels-idx1-ubyte holds 4 labels"):
        load_mnist(tmp_path)


def test_load_mnist_rejects_wrong_arrays(tmp_path):
    write_mnist(tmp_path, "train", 3)
    labels_2d = tmp_path / "train-labels-idx1-ubyte"
    labels_2d.write_bytes(idx_bytes(0x08, (3, 1), "B", [1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels must be integers of shape \(n,\), got uint8 of shape \(3, 1\)"):
        load_mnist(tmp_path)
    labels_2d.write_bytes(idx_bytes(0x08, (3,), "B", [1, 2, 3]))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(0x0D, (3, 2), "f", [0.0] * 6))
    with pytest.raises(ValueError, match=r"images must be uint8 of shape \(n, rows, cols\), got float32"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "validation"}, "kind must be 'train' or 'test'"),
    ({"dtype": "int32"}, "dtype must be a float dtype"),
])
def test_load_mnist_bad_arguments(tmp_path, kwargs, message):
    write_mnist(tmp_path, "train", 2)
    with pytest.raises(ValueError, match=message):
        load_mnist(tmp_path, **kwargs)


# ---------------------------------------------------------------------- downloads (a local HTTP server)
#
# Every download test talks to an http.server on 127.0.0.1 that the test starts; the mirror list
# and checksums are overridden, so nothing leaves the machine.

class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        mode, body = server.routes.get(self.path, ("404", b""))
        if mode == "404":
            self.send_error(404, "Not Found")
            return
        if mode == "slow":
            time.sleep(server.slow_seconds)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncated":  # announce all, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "corrupt":  # same length, one byte changed
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads, block_on_close = True, False

    def handle_error(self, request, client_address):
        pass  # a client that gave up on a slow answer: the broken pipe is expected


@pytest.fixture
def server():
    """A loopback HTTP server: ``server.routes[path] = (mode, body)``; ``server.url(prefix)``."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.routes, srv.requests, srv.slow_seconds = {}, [], 2.0
    srv.url = lambda prefix: f"http://127.0.0.1:{srv.server_address[1]}/{prefix}/"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def fake_set(n=6, seed=0):
    """The four gzip IDX files of a small MNIST-like set: {name: bytes}, and the arrays."""
    rng = np.random.default_rng(seed)
    files, arrays = {}, {}
    for prefix, count in (("train", n), ("t10k", n // 2)):
        images = rng.integers(0, 256, size=(count, 4, 4), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        for what, code, arr in (("images", "idx3", images), ("labels", "idx1", labels)):
            name = f"{prefix}-{what}-{code}-ubyte.gz"
            files[name] = gzip.compress(idx_bytes(0x08, arr.shape, "B", arr.ravel().tolist()), mtime=0)
        arrays[prefix] = (images, labels)
    return files, arrays


def sha(data):
    return hashlib.sha256(data).hexdigest()


def serve(srv, prefix, files, mode="ok"):
    for name, data in files.items():
        srv.routes[f"/{prefix}/{name}"] = (mode, data)


def test_download_verifies_writes_and_then_reads_the_cache(server, tmp_path):
    files, arrays = fake_set()
    serve(server, "good", files)
    sums = {name: sha(data) for name, data in files.items()}
    X, y = load_mnist(tmp_path / "mnist", download=True, mirrors=[server.url("good")], checksums=sums,
                      progress=False)
    images, labels = arrays["train"]
    np.testing.assert_array_equal(X, images.reshape(len(images), -1).astype(np.float32) / 255)
    np.testing.assert_array_equal(y, labels.astype(np.int64))
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]  # only the kind asked for, no temp files
    assert (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").read_bytes() == files["train-images-idx3-ubyte.gz"]
    count = len(server.requests)
    X2, _ = load_mnist(tmp_path / "mnist", download=True, mirrors=[server.url("good")], checksums=sums)
    assert len(server.requests) == count  # read from disk, not downloaded again
    np.testing.assert_array_equal(X2, X)
    Xt, yt = load_mnist(tmp_path / "mnist", kind="test", download=True, mirrors=[server.url("good")],
                        checksums=sums, progress=True, flatten=False, normalize=False)
    np.testing.assert_array_equal(Xt, arrays["t10k"][0])
    np.testing.assert_array_equal(yt, arrays["t10k"][1])


def test_bad_mirrors_are_skipped_until_a_good_one(server, tmp_path):
    files, arrays = fake_set(seed=1)
    for mode in ("404", "corrupt", "truncated", "slow"):
        serve(server, mode, files, mode)
    serve(server, "good", files)
    server.slow_seconds = 1.0
    mirrors = [server.url(m) for m in ("404", "corrupt", "truncated", "slow", "good")]
    X, y = load_fashion_mnist(tmp_path, download=True, mirrors=mirrors, timeout=0.3, progress=False,
                              checksums={name: sha(data) for name, data in files.items()})
    np.testing.assert_array_equal(y, arrays["train"][1].astype(np.int64))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_every_mirror_failing_is_a_clear_error_and_leaves_no_file(server, tmp_path):
    files, _ = fake_set(seed=2)
    for mode in ("404", "corrupt", "truncated", "slow"):
        serve(server, mode, files, mode)
    server.slow_seconds = 1.0
    mirrors = [server.url(m) for m in ("404", "corrupt", "truncated", "slow")]
    folder = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        load_mnist(folder, download=True, mirrors=mirrors, timeout=0.3, progress=False,
                   checksums={name: sha(data) for name, data in files.items()})
    message = str(info.value)
    name = "train-images-idx3-ubyte.gz"
    assert f"could not download {name}" in message
    assert f"{mirrors[0]}{name}: HTTP 404" in message
    assert f"{mirrors[1]}{name}: ValueError: SHA-256 mismatch" in message
    assert f"{mirrors[2]}{name}: ValueError: truncated: " in message
    assert f"{mirrors[3]}{name}: TimeoutError" in message
    assert f"put it in {folder}" in message and "FASTGD_DATA" in message
    assert list(folder.iterdir()) == []  # no half file, no temporary file


def test_official_sizes_and_checksums_are_checked(server, tmp_path):
    # The real file names served with fake content: the official size (and SHA-256) rejects them.
    files, _ = fake_set(seed=3)
    serve(server, "fake", files)
    with pytest.raises(DownloadError, match=r"announces \d+ bytes, expected 9912422"):
        load_mnist(tmp_path, download=True, mirrors=[server.url("fake")], progress=False)
    with pytest.raises(DownloadError, match=r"announces \d+ bytes, expected 26421880"):
        load_fashion_mnist(tmp_path, download=True, mirrors=[server.url("fake")], progress=False)
    assert list(tmp_path.iterdir()) == []
    # ... and a file of the right size but another checksum is refused by its SHA-256.
    data = files["t10k-labels-idx1-ubyte.gz"]
    server.routes["/fake/t10k-labels-idx1-ubyte.gz"] = ("ok", data)
    with pytest.raises(DownloadError, match="SHA-256 mismatch: got " + sha(data)):
        fetch("t10k-labels-idx1-ubyte.gz", tmp_path, [server.url("fake")],
              "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", len(data), progress=False)


def test_default_cache_folder_downloads_and_offline_message(server, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTGD_DATA", str(tmp_path / "cache"))
    assert data_home() == tmp_path / "cache"
    files, arrays = fake_set(seed=4)
    with pytest.raises(FileNotFoundError, match=r"no mnist train files in .*cache/mnist: put "
                                                r"train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz there"):
        load_mnist(download=False)
    serve(server, "m", files)
    X, y = load_mnist(mirrors=[server.url("m")], checksums={n: sha(d) for n, d in files.items()}, progress=False)
    assert (tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    np.testing.assert_array_equal(y, arrays["train"][1])
    X2, _ = load_mnist(download=False)  # cached
    np.testing.assert_array_equal(X2, X)
    monkeypatch.delenv("FASTGD_DATA")
    assert data_home() == Path(os.path.expanduser("~/.cache/fastgd"))


def test_a_named_folder_is_only_read_unless_download_is_true(server, tmp_path):
    files, _ = fake_set(seed=5)
    serve(server, "m", files)
    with pytest.raises(FileNotFoundError, match="no train images file"):
        load_mnist(tmp_path, mirrors=[server.url("m")])
    assert server.requests == []


def test_download_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="mirrors must be http:// or https:// URLs, got 'file:///etc/'"):
        fetch("x.gz", tmp_path, ["file:///etc/"], None)
    with pytest.raises(ValueError, match="mirrors must be a non-empty list"):
        fetch("x.gz", tmp_path, "http://127.0.0.1:9/", None)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        fetch("x.gz", tmp_path, ["http://127.0.0.1:9/"], None, timeout=0)
    with pytest.raises(ValueError, match="checksums has no SHA-256 for 'train-images-idx3-ubyte.gz'"):
        load_mnist(tmp_path, download=True, mirrors=["http://127.0.0.1:9/"], checksums={})
    with pytest.raises(ValueError, match="kind must be 'train' or 'test'"):
        load_fashion_mnist(tmp_path, kind="val")
