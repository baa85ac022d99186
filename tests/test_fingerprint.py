"""Content digests and code keys (lib.fingerprint): the on-disk memo computed once per file version and never
trusted past a swap that kept size and mtime; config and tokenizer changes change the fingerprint."""

from __future__ import annotations

import hashlib
import json

from lib import fingerprint, formats, params, paths
from lib.engines import cache
from tests.model_copies import TEXTS, _cos, _model_copy, _swap_weights_keeping_mtime


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
    """What decides a trained model's weights is in its key: the training modules and lib/text.py (match_key:
    the leakage filter and the cross-ontology merge) for encoders; the reranker's data, inputs, model,
    training and its module (lib/engines/cross.py) for rerankers. Every listed file exists."""
    from lib import paths

    assert set(fingerprint.CODE_KEYS["training"]) >= {"lib/train/pairs.py", "lib/train/samplers.py",
                                                      "lib/train/losses.py", "lib/train/trainer.py", "lib/text.py"}
    assert set(fingerprint.CODE_KEYS["rerank"]) >= {"lib/rerank/data.py", "lib/rerank/inputs.py", "lib/rerank/model.py",
                                                    "lib/rerank/train.py", "lib/engines/cross.py"}
    assert all((paths.ROOT / f).is_file() for files in fingerprint.CODE_KEYS.values() for f in files)


def test_fingerprint_is_computed_once_per_file_version(tmp_path, monkeypatch):
    folder = _model_copy(tmp_path, 0)
    fingerprint._file_digest.cache_clear()
    first = fingerprint.model_fingerprint(folder)
    calls = []
    real_full = fingerprint.sha256_file

    def counting_full(path):
        calls.append(path)
        return real_full(path)

    fingerprint._file_digest.cache_clear()  # the on-disk memo must answer, not a re-hash (the spot check reads 2 MiB)
    monkeypatch.setattr(fingerprint, "sha256_file", counting_full)
    assert fingerprint.model_fingerprint(folder) == first
    assert calls == []


def test_weights_swapped_with_their_mtime_kept_get_a_new_fingerprint_and_new_vectors(tmp_path):
    """Before: the memo (path + size + mtime) kept the old digest: old fingerprint, old cached vectors."""
    folder = _model_copy(tmp_path, 0, "swapped")
    P = params.load("tiny", model=str(folder))
    before_fp = fingerprint.model_fingerprint(folder)
    before = cache.embed(formats.load_encoder(P), TEXTS)
    _swap_weights_keeping_mtime(folder, 1)
    assert fingerprint.model_fingerprint(folder) != before_fp
    enc = formats.load_encoder(P)
    after = cache.embed(enc, TEXTS)
    assert _cos(after, enc.encode(TEXTS, progress=False)) > 0.9999 and _cos(after, before) < 0.99


def test_the_fingerprint_memo_is_checked_against_the_first_and_last_mib(tmp_path):
    """Even with size, mtime and ctime all as recorded (a restored disk image), a memo whose spot check
    of the file's first and last MiB no longer matches is not trusted."""
    folder = _model_copy(tmp_path, 0, "probe")
    weights = (folder / "model.safetensors").resolve()
    fingerprint._file_digest.cache_clear()
    fingerprint.file_digest(weights)
    _swap_weights_keeping_mtime(folder, 1)
    record = fingerprint._digest_cache_file(weights)
    memo = json.loads(record.read_text())
    memo["ctime_ns"] = weights.stat().st_ctime_ns  # as if the kernel had kept the ctime too
    record.write_text(json.dumps(memo))
    fingerprint._file_digest.cache_clear()
    assert fingerprint.file_digest(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_tokenizer_or_config_change_changes_the_fingerprint(tmp_path):
    folder = _model_copy(tmp_path, 0)
    before = fingerprint.model_fingerprint(folder)
    cfg = folder / "config.json"
    cfg.write_text(cfg.read_text().replace('"hidden_act": "gelu"', '"hidden_act": "relu"'))
    assert fingerprint.model_fingerprint(folder) != before
