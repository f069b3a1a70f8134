"""MNIST and Fashion-MNIST that download themselves (checked), into a cache folder.

The four official gzip IDX files of each set are fetched from a list of mirrors and checked
against their published sizes and SHA-256 checksums (the values that torchvision's,
TensorFlow Datasets' and the data sets' own pages give for these files).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import idx
from .download import data_home, fetch

__all__ = ["FASHION_MNIST", "MNIST", "IDXDataset", "load_fashion_mnist", "load_mnist"]


@dataclass(frozen=True)
class IDXDataset:
    """An MNIST-like data set: where to download it and what its files must be.

    Attributes:
        name: the folder name under the cache (``data_home() / name``).
        mirrors: base URLs, tried in order.
        files: file name -> (SHA-256 hex, size in bytes).
    """

    name: str
    mirrors: tuple[str, ...]
    files: Mapping[str, tuple[str, int]]


MNIST = IDXDataset(
    "mnist",
    ("https://ossci-datasets.s3.amazonaws.com/mnist/",
     "https://storage.googleapis.com/cvdf-datasets/mnist/",
     "http://yann.lecun.com/exdb/mnist/"),
    {
        "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    },
)

FASHION_MNIST = IDXDataset(
    "fashion-mnist",
    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
     "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    {
        "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
        "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    },
)


def _present(folder: Path, prefix: str, what: str, kind: str) -> bool:
    return any((folder / n).is_file() for n in idx._mnist_names(prefix, what, kind))


def _load(dataset: IDXDataset, path: str | os.PathLike[str] | None, kind: str, download: bool | None,
          normalize: bool, flatten: bool, dtype: str | np.dtype, mirrors: Sequence[str] | None,
          checksums: Mapping[str, str] | None, timeout: float, progress: bool
          ) -> tuple[np.ndarray, np.ndarray]:
    if kind not in ("train", "test"):
        raise ValueError(f"load_{dataset.name.replace('-', '_')}: kind must be 'train' or 'test', got {kind!r}")
    folder = data_home() / dataset.name if path is None else Path(path).expanduser()
    if download is None:
        download = path is None
    prefix = "train" if kind == "train" else "t10k"
    wanted = [(what, code) for what, code in (("images", "idx3"), ("labels", "idx1"))
              if not (folder.is_dir() and _present(folder, prefix, what, code))]
    if wanted and download:
        for what, code in wanted:
            name = f"{prefix}-{what}-{code}-ubyte.gz"
            sha256, size = dataset.files[name]
            if checksums is not None:  # an override (tests, a private mirror): its size is unknown
                if name not in checksums:
                    raise ValueError(f"checksums has no SHA-256 for {name!r} (keys: {sorted(checksums)})")
                sha256, size = checksums[name], 0  # 0: take the server's Content-Length
            fetch(name, folder, dataset.mirrors if mirrors is None else mirrors, sha256, size or None,
                  timeout=timeout, progress=progress)
    elif wanted and path is None:
        names = ", ".join(f"{prefix}-{what}-{code}-ubyte.gz" for what, code in wanted)
        raise FileNotFoundError(f"no {dataset.name} {kind} files in {folder}: put {names} there (from "
                                f"{dataset.mirrors[0]}), set FASTGD_DATA to a folder that has them, or "
                                "pass download=True")
    return idx.load_mnist(folder, kind, normalize, flatten, dtype=dtype)


def load_mnist(path: str | os.PathLike[str] | None = None, kind: str = "train",
               download: bool | None = None, *, normalize: bool = True, flatten: bool = True,
               dtype: str | np.dtype = "float32", mirrors: Sequence[str] | None = None,
               checksums: Mapping[str, str] | None = None, timeout: float = 30.0,
               progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST, downloading the two files of ``kind`` first when they are not there.

    Args:
        path: a folder with the IDX files (plain or ``.gz``, see ``idx.load_mnist``); None: the
            cache folder ``data_home() / "mnist"`` (``$FASTGD_DATA/mnist`` or
            ``~/.cache/fastgd/mnist``).
        kind: ``"train"`` (60000 images) or ``"test"`` (10000).
        download: fetch missing files from the mirrors (checked: size and SHA-256). None (the
            default): True for the cache folder, False for a folder you name (which is then
            only read: a missing file is a ``FileNotFoundError`` listing the names tried).
        normalize, flatten, dtype: as ``idx.load_mnist``: X float32 (n, 784) in [0, 1] by default.
        mirrors: base URLs to try instead of the official mirrors.
        checksums: file name -> SHA-256 to use instead of the official ones (sizes then come from
            the server's Content-Length).
        timeout: seconds to wait for a connection or any read.
        progress: show download progress (``tqdm.auto`` when installed).

    Returns:
        ``(X, y)``: X (n, 784) float32 in [0, 1]; y (n,) int64 labels 0..9.

    Raises:
        DownloadError: no mirror served a file whole with the right checksum (offline too); the
            message says where to put the files.
        FileNotFoundError: files missing and ``download`` is False.
        ValueError: bad ``kind``/``dtype``, or a file that is not the expected IDX array.

    Example:
        >>> X, y = load_mnist()                        # downloads ~11 MB once, then reads the cache
        >>> X_test, y_test = load_mnist(kind="test")
    """
    return _load(MNIST, path, kind, download, normalize, flatten, dtype, mirrors, checksums, timeout,
                 progress)


def load_fashion_mnist(path: str | os.PathLike[str] | None = None, kind: str = "train",
                       download: bool | None = None, *, normalize: bool = True, flatten: bool = True,
                       dtype: str | np.dtype = "float32", mirrors: Sequence[str] | None = None,
                       checksums: Mapping[str, str] | None = None, timeout: float = 30.0,
                       progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST (Zalando's 28×28 article images, 10 classes), downloading it into
    ``data_home() / "fashion-mnist"`` when needed; arguments and results as ``load_mnist``.

    Example:
        >>> X, y = load_fashion_mnist(kind="test")     # (10000, 784) float32, labels 0..9
    """
    return _load(FASHION_MNIST, path, kind, download, normalize, flatten, dtype, mirrors, checksums,
                 timeout, progress)
