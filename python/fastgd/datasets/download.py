"""Checked downloads: a file from the first mirror that serves it whole, with the right SHA-256.

A download streams into a temporary file beside the target, hashing as it goes; only a file of
the expected size and checksum is fsync'ed and renamed into place, so an interrupted or corrupt
download never leaves a file that looks complete. Every network wait is bounded (``timeout``
seconds per connection or read, ``deadline`` seconds per file), and a failed mirror is followed
by the next.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["DownloadError", "data_home", "fetch"]

_CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror served the file whole with the expected checksum (the message lists each
    mirror's failure and where to put the file by hand)."""


def data_home() -> Path:
    """The cache folder for downloaded data sets: ``$FASTGD_DATA``, else ``~/.cache/fastgd``.

    Example:
        >>> data_home()
        PosixPath('/home/me/.cache/fastgd')
    """
    env = os.environ.get("FASTGD_DATA")
    return Path(env).expanduser() if env else Path("~/.cache/fastgd").expanduser()


def _progress_bar(total: int | None, desc: str, enabled: bool) -> Any:
    """A ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal), or None without tqdm."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        print(f"downloading {desc} ...", file=sys.stderr, flush=True)
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                file=sys.stderr)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fetch_one(url: str, target: Path, sha256: str | None, size: int | None, timeout: float,
               deadline: float, progress: bool) -> None:
    """Download ``url`` to ``target`` atomically; raise (OSError/ValueError) on any failure."""
    start = time.monotonic()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    bar = None
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            announced = int(length) if length and length.isdigit() else None
            if size is not None and announced is not None and announced != size:
                raise ValueError(f"the server announces {announced} bytes, expected {size}")
            bar = _progress_bar(size or announced, target.name, progress)
            digest, received = hashlib.sha256(), 0
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                if size is not None and received > size:
                    raise ValueError(f"more than the expected {size} bytes")
                if time.monotonic() - start > deadline:
                    raise TimeoutError(f"not complete after {deadline:g} s ({received} bytes)")
            expected = size if size is not None else announced
            if expected is not None and received != expected:
                raise ValueError(f"truncated: {received} of {expected} bytes")
            if sha256 is not None and digest.hexdigest() != sha256.lower():
                raise ValueError(f"SHA-256 mismatch: got {digest.hexdigest()}, expected {sha256.lower()}")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if bar is not None:
            bar.close()
        tmp.unlink(missing_ok=True)


def fetch(name: str, folder: str | os.PathLike[str], mirrors: Sequence[str], sha256: str | None,
          size: int | None = None, *, timeout: float = 30.0, deadline: float = 600.0,
          progress: bool = True) -> Path:
    """Download ``name`` from the first of ``mirrors`` that serves it whole and correct.

    Args:
        name: the file name, appended to each mirror's base URL.
        folder: where to write it (created if needed).
        mirrors: base URLs (``http://`` or ``https://``), tried in order.
        sha256: the expected SHA-256 (hex); None: not checked (only the size).
        size: the expected size in bytes; None: the server's Content-Length, if it sends one.
        timeout: seconds to wait for a connection or for any one read.
        deadline: seconds a whole file may take.
        progress: show a ``tqdm.auto`` bar (a line on stderr without tqdm).

    Returns:
        The path of the downloaded file, ``folder / name``.

    Raises:
        DownloadError: every mirror failed (unreachable, HTTP error, too slow, truncated,
            checksum mismatch); the message lists each failure and says where to put the file.
        ValueError: a mirror that is not an http(s) URL, or no mirrors.

    Example:
        >>> fetch("t10k-labels-idx1-ubyte.gz", data_home() / "mnist", MNIST_MIRRORS, MNIST_SHA256[...])
    """
    if isinstance(mirrors, str) or not mirrors:
        raise ValueError(f"fetch: mirrors must be a non-empty list of base URLs, got {mirrors!r}")
    for mirror in mirrors:
        if urllib.parse.urlsplit(str(mirror)).scheme not in ("http", "https"):
            raise ValueError(f"fetch: mirrors must be http:// or https:// URLs, got {mirror!r}")
    for value, what in ((timeout, "timeout"), (deadline, "deadline")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"fetch: {what} must be a positive number of seconds, got {value!r}")
    directory = Path(folder).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    failures = []
    for mirror in mirrors:
        url = f"{str(mirror).rstrip('/')}/{name}"
        try:
            _fetch_one(url, target, sha256, size, float(timeout), float(deadline), progress)
            return target
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            failures.append(f"{url}: {exc.reason}")
        except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, truncation,
            # a connection closed early, a bad checksum
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
    tried = "\n  ".join(failures)
    raise DownloadError(
        f"could not download {name}:\n  {tried}\nDownload it by hand (from any of the URLs above) and put "
        f"it in {directory}, or set FASTGD_DATA to a folder that has it."
    )
