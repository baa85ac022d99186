"""Atomic writes: every cache, artifact, table and result file appears whole or not at all.

Why: a reader that opens a file while it is rewritten, or a run killed mid-write, must never see a
torn file that a later run trusts. Each writer here writes to a temporary name in the destination's
folder (same file system, so the rename is atomic on POSIX) and renames it over the destination.
The standard library has ``os.replace`` but no helper for the whole pattern, hence this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

log = logging.getLogger("lib.atomic")

T = TypeVar("T")


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success rename it to ``dest``, on error remove it.

    ``suffix`` keeps the extension libraries look at (``np.save`` adds ``.npy``, ``onnx.save`` and
    ORT's quantizers read the extension), default: the destination's own suffix.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    keep = dest.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=keep + ".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # a name ending in ".tmp" would be rejected by writers that check the extension: keep the real one last
    real = tmp.with_name(tmp.name[:-4])
    try:
        tmp.unlink()
        yield real
        if not real.exists():
            raise FileNotFoundError(f"{real}: the writer produced no file for {dest}")
        os.replace(real, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            real.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; on success it replaces ``dest`` whole."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes(dest: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text(dest: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(dest)


def write_json(dest: str | os.PathLike, obj: Any, **dumps_kwargs: Any) -> Path:
    dumps_kwargs.setdefault("indent", 2)
    dumps_kwargs.setdefault("ensure_ascii", False)
    return write_text(dest, json.dumps(obj, **dumps_kwargs) + "\n")


def save_npy(dest: str | os.PathLike, array: Any) -> Path:
    import numpy as np

    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.save must not append its own ".npy"
            np.save(fh, array)
    return Path(dest)


def load_or_remove(path: str | os.PathLike, load: Callable[[Path], T], what: str = "cache") -> T | None:
    """``load(path)``, or None when ``path`` is missing or fails to load (then it is logged with its path
    and removed: a torn or foreign file is never trusted, nor left for a later run to trust)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return load(path)
    except Exception as err:  # any reader error means the file cannot be trusted
        log.warning("%s %s failed to load (%s: %s): removing it and rebuilding", what, path,
                    type(err).__name__, err)
        remove(path)
        return None

# -- arrays with a checksum ----------------------------------------------------------------------
# Why: an atomic rename rules out a torn file, not a file altered afterwards (a flipped bit on disk, a
# copy gone wrong, a hand edit); ``np.load`` reads such a file without a word. A sidecar
# ``<file>.sha256`` records the SHA-256 and size of the bytes as written, and the reader hashes the
# bytes it parses. SHA-256 because hashlib runs it at memory speed on CPUs with SHA extensions and the
# store's vector files use it too (one checksum to reason about).

CHECKSUM_SUFFIX = ".sha256"


class ChecksumError(ValueError):
    """A file whose bytes do not match the checksum recorded when it was written (or has no record).
    Here and not in lib.errors: both sit in the bottom layer, which imports nothing of lib."""


def checksum_path(path: str | os.PathLike) -> Path:
    """The sidecar that records the checksum of ``path``'s bytes: ``<name>.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def save_npy_checked(dest: str | os.PathLike, array: Any) -> Path:
    """``np.save`` atomically, then record the SHA-256 and size of the file's bytes beside it.

    The old record is removed first and the new one written last, so a run killed in between leaves
    a file without a record: not trusted (:func:`load_npy_checked` refuses it), never a stale record
    vouching for new bytes. The digest is taken over the header as written and the array's own memory
    (the bytes ``np.save`` writes), so the data is neither copied nor read back.
    """
    import numpy as np

    dest = Path(dest)
    record = checksum_path(dest)
    with contextlib.suppress(FileNotFoundError):
        record.unlink()
    a = np.asarray(array)
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        a = np.ascontiguousarray(a)
    # np.save writes a C-contiguous array's memory as is, and an F-contiguous one's as its transpose's
    data = (a if a.flags.c_contiguous else a.T).reshape(-1).view(np.uint8)  # a view, never a copy
    with atomic_path(dest) as tmp:
        with open(tmp, "w+b") as fh:
            np.save(fh, a, allow_pickle=False)
            size = fh.tell()
            fh.seek(0)
            header = fh.read(size - a.nbytes)
    h = hashlib.sha256(header)
    h.update(data)
    write_json(record, {"file": dest.name, "sha256": h.hexdigest(), "bytes": size})
    return dest


def load_npy_checked(path: str | os.PathLike):
    """The array in ``path``, read once and hashed before it is parsed; :class:`ChecksumError` (naming
    the file) when the record is missing or the bytes differ from what was written.

    The bytes are read into one buffer that the returned array shares (no second copy of a large cache).
    Cost: one SHA-256 pass over the file (about 1.4 GB/s with the CPU's SHA extensions) on top of the read.
    """
    import numpy as np
    from numpy.lib import format as npy

    path = Path(path)
    record = checksum_path(path)
    try:
        expected = json.loads(record.read_text(encoding="utf-8"))
        want_sha, want_size = expected["sha256"], int(expected["bytes"])
    except FileNotFoundError:
        raise ChecksumError(f"{path}: no checksum record {record.name} (the write was interrupted, or an older "
                            f"version wrote it): not trusted") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ChecksumError(f"{record}: unreadable checksum record ({type(err).__name__}: {err})") from None
    size = path.stat().st_size
    if size != want_size:
        raise ChecksumError(f"{path}: {size} bytes, {want_size} were written (torn or altered file)")
    buf = np.empty(size, dtype=np.uint8)  # not zero-filled: every byte is read into it
    with open(path, "rb") as fh:
        view, got = memoryview(buf), 0
        while got < size and (n := fh.readinto(view[got:])):
            got += n
    digest = hashlib.sha256(buf).hexdigest()
    if got != size or digest != want_sha:
        raise ChecksumError(f"{path}: checksum mismatch (sha256 {digest}, recorded {want_sha}): the file was "
                            f"altered after it was written (disk error, copy, edit)")
    head = io.BytesIO(bytes(memoryview(buf)[:min(size, 1 << 16)]))
    version = npy.read_magic(head)
    shape, fortran, dtype = (npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0)(head)
    if dtype.hasobject:
        raise ChecksumError(f"{path}: holds Python objects; not loaded")
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(buf, dtype=dtype, count=count, offset=head.tell()).reshape(
        shape, order="F" if fortran else "C")


def load_or_rebuild(path: str | os.PathLike, load: Callable[[Path], T], build: Callable[[Path], Any],
                    what: str = "cache") -> T:
    """Load ``path``; if it is missing build it, if it fails to load log it, remove it and rebuild: the
    one "load, else rebuild" of every cache, artifact and record in the compendium.

    ``build(path)`` must write ``path`` (atomically, through this module). A second failure to load
    the freshly built file is raised with the path named, never looped on.
    """
    path = Path(path)
    found = load_or_remove(path, load, what)
    if found is not None:
        return found
    build(path)
    try:
        return load(path)
    except Exception as err:
        raise RuntimeError(f"{path}: freshly built {what} failed to load: {type(err).__name__}: {err}") from err


def cached_json(path: str | os.PathLike, compute: Callable[[], Any], what: str = "record",
                check: Callable[[Any], Any] | None = None, **dumps_kwargs: Any) -> Any:
    """The JSON object at ``path``, or ``compute()`` written there atomically when it is missing or
    unreadable; ``check(obj)`` may raise to reject a readable but stale or malformed object (rebuilt)."""
    def load(p: Path) -> Any:
        obj = json.loads(p.read_text(encoding="utf-8"))
        if check is not None:
            check(obj)
        return obj
    return load_or_rebuild(path, load, lambda p: write_json(p, compute(), **dumps_kwargs), what)


def remove(path: str | os.PathLike) -> None:
    """Remove a file or folder if it exists (a broken cache entry), and its checksum record if any."""
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        for p in (path, checksum_path(path)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
