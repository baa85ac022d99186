"""Atomic writes: every cache, artifact, table and result file appears whole or not at all.

Why: a reader that opens a file while it is rewritten, or a run killed mid-write, must never see a
torn file that a later run trusts. Each writer here writes to a temporary name in the destination's
folder (same file system, so the rename is atomic on POSIX) and renames it over the destination.
The standard library has ``os.replace`` but no helper for the whole pattern, hence this module.
"""

from __future__ import annotations

import contextlib
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
    """Remove a file or folder if it exists (a broken cache entry)."""
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
