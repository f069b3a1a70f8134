"""IDX files: the format of MNIST (and Fashion-MNIST, KMNIST, EMNIST), plain or gzip-compressed.

An IDX file is a header and the raw array, all big-endian::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
                0x0E float64
    byte  3     number of dimensions d
    4·d bytes   each dimension's size, uint32
    then        prod(sizes) elements, row-major (the last index changes fastest)

Example:
    >>> X, y = load_mnist("~/data/mnist")             # train-images-idx3-ubyte(.gz), ...
    >>> X.shape, X.dtype, y.shape, y.dtype
    ((60000, 784), dtype('float32'), (60000,), dtype('int64'))
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_idx", "load_mnist", "save_idx"]

PathLike = str | os.PathLike[str]

# IDX type code -> big-endian NumPy dtype.
_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_SUPPORTED = "uint8, int8, int16, int32, float32, float64"


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it starts with the gzip magic (whatever its name)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: a gzip file that cannot be decompressed ({exc})") from None


def load_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file into an array of the dtype and shape its header gives.

    The file may be plain or gzip-compressed (recognised by its first bytes, not its name).
    Values are converted to the machine's byte order; the array is a writable copy.

    Args:
        path: the file, e.g. ``"train-images-idx3-ubyte.gz"``.

    Returns:
        An array of dtype uint8, int8, int16, int32, float32 or float64 with the header's shape,
        e.g. uint8 ``(60000, 28, 28)`` for MNIST's training images.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an IDX file (bad magic, unknown type code, no dimensions), a header cut
            short, or data shorter or longer than the header says (the message names the file
            and both byte counts).

    Example:
        >>> load_idx("t10k-labels-idx1-ubyte.gz")[:5]
        array([7, 2, 1, 0, 4], dtype=uint8)
    """
    path = Path(path).expanduser()
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file: {len(data)} bytes, shorter than the 4-byte "
                         "magic number")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file: its magic number {data[:4].hex()} does not "
                         "start with 0000")
    if code not in _CODES:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02X} (magic {data[:4].hex()}); "
                         "known: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, "
                         "0x0E float64")
    if ndim == 0:
        raise ValueError(f"{path}: the IDX header gives 0 dimensions; an IDX array needs at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions need {header} header "
                         f"bytes, the file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _CODES[code]
    expected = math.prod(shape) * dtype.itemsize
    received = len(data) - header
    if received != expected:
        what = "truncated" if received < expected else "trailing bytes after the data"
        raise ValueError(f"{path}: {what}: the header says shape {shape} of {dtype.name} "
                         f"({expected} data bytes), the file has {received} data bytes")
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header)
    return array.reshape(shape).astype(dtype.newbyteorder("="))


def save_idx(path: PathLike, array: Any, compress: bool | None = None) -> None:
    """Write an array as an IDX file (gzip-compressed when ``compress``, or by default when the
    name ends in ``.gz``). ``load_idx`` reads it back unchanged.

    Args:
        path: the file to write.
        array: an array of dtype uint8, int8, int16, int32, float32 or float64 with at least one
            dimension (other dtypes are a ``TypeError``: convert explicitly, e.g.
            ``labels.astype(np.uint8)``).
        compress: gzip the file; None: only when ``path`` ends in ``.gz``.

    Example:
        >>> save_idx("labels-idx1-ubyte.gz", np.array([3, 1, 4], dtype=np.uint8))
    """
    a = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _CODES.items()}
    code = codes.get(a.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"save_idx: array has dtype {a.dtype}; IDX stores {_SUPPORTED}: "
                        "convert with array.astype(...)")
    if not 1 <= a.ndim <= 255:
        raise ValueError(f"save_idx: array must have 1 to 255 dimensions, got shape {a.shape}")
    if any(n >= 2**32 for n in a.shape):
        raise ValueError(f"save_idx: every dimension must be < 2**32, got shape {a.shape}")
    header = struct.pack(f">BBBB{a.ndim}I", 0, 0, code, a.ndim, *a.shape)
    payload = header + np.ascontiguousarray(a, dtype=_CODES[code]).tobytes()
    path = Path(path).expanduser()
    if compress is None:
        compress = path.suffix == ".gz"
    # mtime=0: the same array always gives the same bytes.
    path.write_bytes(gzip.compress(payload, mtime=0) if compress else payload)


def _mnist_names(prefix: str, what: str, idx: str) -> list[str]:
    """File names for one MNIST file, in the order tried (both spellings, plain then gzip)."""
    names = [f"{prefix}-{what}-{idx}-ubyte", f"{prefix}-{what}.{idx}-ubyte"]
    return [n + ext for n in names for ext in ("", ".gz")]


def load_mnist(directory: PathLike, kind: str = "train", normalize: bool = True,
               flatten: bool = True, *, dtype: str | np.dtype = "float32"
               ) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST (or a drop-in such as Fashion-MNIST) from the standard IDX files.

    Looks in ``directory`` for ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``
    (``kind="train"``) or ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
    (``kind="test"``), each plain or with ``.gz``, also spelled ``train-images.idx3-ubyte``.

    Args:
        directory: the folder holding the files.
        kind: ``"train"`` (60000 images for MNIST) or ``"test"`` (10000).
        normalize: return X as ``dtype`` scaled to [0, 1] (pixel / 255); False: the stored
            uint8 pixels 0..255.
        flatten: X of shape (n, rows·cols), one image per row, ready for a ``Net``; False:
            (n, rows, cols).
        dtype: float dtype of X when ``normalize``.

    Returns:
        ``(X, y)``: X (n, 784) float32 in [0, 1] by default; y (n,) int64 labels.

    Raises:
        FileNotFoundError: no such directory, or no images/labels file (the message lists the
            names tried).
        ValueError: a bad ``kind``, a file that is not the expected IDX array (images must be
            uint8 (n, rows, cols), labels (n,)), or image and label counts that differ.

    Example:
        >>> X, y = load_mnist("~/data/mnist", kind="test")
        >>> X.shape, X.dtype, y[:5]
        ((10000, 784), dtype('float32'), array([7, 2, 1, 0, 4]))
    """
    if kind not in ("train", "test"):
        raise ValueError(f"load_mnist: kind must be 'train' or 'test', got {kind!r}")
    float_dtype = np.dtype(dtype)
    if float_dtype.kind != "f":
        raise ValueError(f"load_mnist: dtype must be a float dtype, got {float_dtype}")
    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"load_mnist: {folder} is not a directory")
    prefix = "train" if kind == "train" else "t10k"

    def find(what: str, idx: str) -> Path:
        names = _mnist_names(prefix, what, idx)
        for name in names:
            if (folder / name).is_file():
                return folder / name
        raise FileNotFoundError(f"load_mnist: no {kind} {what} file in {folder}; tried "
                                f"{', '.join(names)}")

    images_path, labels_path = find("images", "idx3"), find("labels", "idx1")
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_path}: MNIST images must be uint8 of shape (n, rows, cols), "
                         f"got {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"{labels_path}: MNIST labels must be integers of shape (n,), got "
                         f"{labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"load_mnist: {images_path.name} holds {len(images)} images but "
                         f"{labels_path.name} holds {len(labels)} labels")
    X: np.ndarray = images.reshape(len(images), -1) if flatten else images
    if normalize:
        X = X.astype(float_dtype)
        X /= 255
    return X, labels.astype(np.int64)
