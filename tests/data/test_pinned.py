"""Pinned public files (lib.data.pinned): the mirror's are the user's, the cache's are ours."""

from __future__ import annotations

import hashlib
import logging

import pytest

from lib import atomic, paths
from lib.data import pinned
from lib.errors import DataFormatError

BODY = b"pinned bytes\n"
SHA = hashlib.sha256(BODY).hexdigest()


def _fetch(calls):
    def fetch(dest):
        calls.append(dest)
        atomic.write_bytes(dest, BODY)
    return fetch


def test_fetched_once_then_read_from_the_cache(monkeypatch):
    monkeypatch.delenv("COMPENDIUM_DATA_MIRROR", raising=False)
    calls = []
    p = pinned.pinned_file("x/a.txt", SHA, _fetch(calls), "test source")
    assert p == paths.cache_dir() / "public" / "x/a.txt" and p.read_bytes() == BODY
    assert pinned.pinned_file("x/a.txt", SHA, _fetch(calls), "test source") == p and len(calls) == 1


def test_a_torn_cache_copy_is_fetched_again_and_a_bad_source_is_named(monkeypatch, caplog):
    monkeypatch.delenv("COMPENDIUM_DATA_MIRROR", raising=False)
    dest = paths.cache_dir() / "public" / "x/b.txt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(BODY[:4])
    calls = []
    with caplog.at_level(logging.WARNING):
        assert pinned.pinned_file("x/b.txt", SHA, _fetch(calls), "test source").read_bytes() == BODY
    assert str(dest) in caplog.text and len(calls) == 1

    def bad(d):
        atomic.write_bytes(d, b"other bytes")
    with pytest.raises((DataFormatError, RuntimeError), match="test source|expected"):
        pinned.pinned_file("x/c.txt", SHA, bad, "test source")
    assert not (paths.cache_dir() / "public" / "x/c.txt").exists()


def test_the_mirror_is_never_deleted_and_download_false_never_fetches(monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "x").mkdir(parents=True)
    (mirror / "x/d.txt").write_bytes(b"not it")
    monkeypatch.setenv("COMPENDIUM_DATA_MIRROR", str(mirror))
    with pytest.raises(DataFormatError, match="checksum mismatch"):
        pinned.pinned_file("x/d.txt", SHA, _fetch([]), "test source")
    assert (mirror / "x/d.txt").exists()
    with pytest.raises(FileNotFoundError, match="download=False"):
        pinned.pinned_file("x/e.txt", SHA, _fetch([]), "test source", download=False)
