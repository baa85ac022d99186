"""Content digests and code keys (lib.fingerprint)."""

from __future__ import annotations

import hashlib

from lib import fingerprint, paths


def test_sha256_file_is_the_bytes_digest(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"x" * 5_000_000)
    assert fingerprint.sha256_file(p) == hashlib.sha256(b"x" * 5_000_000).hexdigest()


def test_code_digest_ignores_docstrings_and_comments_not_code(monkeypatch, tmp_path):
    (tmp_path / "lib").mkdir()
    f = tmp_path / "lib" / "m.py"
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setitem(fingerprint.CODE_KEYS, "toy", ("lib/m.py",))
    f.write_text('"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # one\n')
    key = fingerprint.code_digest("toy")
    f.write_text('"""Other doc."""\n\ndef f(x):\n    """Other."""\n    # a comment\n    return x + 1\n')
    assert fingerprint.code_digest("toy") == key
    f.write_text('"""Doc."""\n\ndef f(x):\n    return x + 2\n')
    assert fingerprint.code_digest("toy") != key


def test_code_keys_cover_the_training_and_rerank_code():
    # lib/text.py is the one shared non-training file: its match_key decides the leakage filter and merges
    assert all(f.startswith("lib/train/") or f == "lib/text.py" for f in fingerprint.CODE_KEYS["training"])
    assert "lib/text.py" in fingerprint.CODE_KEYS["training"]
    assert all(f.startswith("lib/rerank/") for f in fingerprint.CODE_KEYS["rerank"])
