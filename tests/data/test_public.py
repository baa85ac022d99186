"""Public data sets (lib.data.public): a torn download in the cache is fetched again, a bad mirror file is an
error and never deleted.
"""

from __future__ import annotations

import hashlib
import logging

import pytest

from lib import paths


def test_corrupted_public_download_in_the_cache_is_fetched_again(monkeypatch, caplog, tmp_path):
    """Before: a download cut short stayed in the cache and failed every later run on its checksum."""
    import io

    from lib.data import public

    rel = next(iter(public.SOURCES))
    body = b"sentence1,sentence2,score\n"
    import dataclasses
    monkeypatch.setitem(public.SOURCES, rel, dataclasses.replace(public.SOURCES[rel],
                                                                 sha256=hashlib.sha256(body).hexdigest()))
    monkeypatch.delenv("COMPENDIUM_DATA_MIRROR", raising=False)
    monkeypatch.setattr(public.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(body))
    cached = paths.cache_dir() / "public" / rel
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(body[:5])
    with caplog.at_level(logging.WARNING):
        assert public.fetch(rel).read_bytes() == body
    assert str(cached) in caplog.text


def test_corrupted_mirror_file_is_an_error_never_deleted(monkeypatch, tmp_path):
    from lib.data import public
    from lib.errors import DataFormatError

    rel = next(iter(public.SOURCES))
    mirror = tmp_path / "mirror"
    (mirror / rel).parent.mkdir(parents=True)
    (mirror / rel).write_bytes(b"not the file")
    monkeypatch.setenv("COMPENDIUM_DATA_MIRROR", str(mirror))
    with pytest.raises(DataFormatError, match="checksum mismatch"):
        public.fetch(rel)
    assert (mirror / rel).exists()
