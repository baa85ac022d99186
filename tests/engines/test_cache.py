"""The embedding cache (lib.engines.cache): vectors reused, keyed on the model's content (two models of one
architecture, or weights rewritten in place, never share vectors), a flipped or torn file logged, removed
and rebuilt."""

from __future__ import annotations

import logging

import numpy as np

from lib import atomic, fingerprint, formats, params, paths
from lib.compress import export
from lib.engines import cache
from tests.model_copies import TEXTS, _cos, _model_copy, _overwrite_weights


def test_embedding_cache_reuses_vectors():
    P = params.load("tiny")
    e = formats.load_encoder(P)
    v = cache.embed(e, ["pain", "fever"])
    e.forward = None  # a second call must not encode again
    assert np.array_equal(cache.embed(e, ["pain", "fever"]), v)


def test_two_models_of_one_architecture_never_share_vectors(tmp_path):
    """Before: seed 1's tiny model got seed 0's cached vectors (fingerprint = file names and sizes)."""
    a, b = _model_copy(tmp_path, 0, "a"), _model_copy(tmp_path, 1, "b")
    assert (a / "model.safetensors").stat().st_size == (b / "model.safetensors").stat().st_size
    assert fingerprint.model_fingerprint(a) != fingerprint.model_fingerprint(b)
    enc_a = formats.load_encoder(params.load("tiny", model=str(a)))
    enc_b = formats.load_encoder(params.load("tiny", model=str(b)))
    va = cache.embed(enc_a, TEXTS)
    vb = cache.embed(enc_b, TEXTS)
    assert cache.cache_key(enc_a, TEXTS) != cache.cache_key(enc_b, TEXTS)
    assert _cos(vb, enc_b.encode(TEXTS, progress=False)) > 0.9999
    assert _cos(va, vb) < 0.99


def test_weights_changed_in_place_give_new_vectors_and_artifacts(tmp_path):
    """Before: a checkpoint rewritten in the same folder kept the old cache entry and ONNX files."""
    folder = _model_copy(tmp_path, 0, "ckpt")
    P = params.load("tiny", model=str(folder))
    old_vec = cache.embed(formats.load_encoder(P), TEXTS)
    old_onnx = export.fused_onnx(P)
    _overwrite_weights(folder, 1)
    new_enc = formats.load_encoder(P)
    new_vec = cache.embed(new_enc, TEXTS)
    assert _cos(new_vec, new_enc.encode(TEXTS, progress=False)) > 0.9999
    assert _cos(old_vec, new_vec) < 0.99
    new_onnx = export.fused_onnx(P)
    assert new_onnx != old_onnx
    onnx_vec = formats.load_encoder(P, "onnx-fp32").encode(TEXTS, progress=False)
    assert _cos(onnx_vec, new_vec) > 0.999


def test_a_flipped_byte_in_an_embedding_cache_is_logged_removed_and_rebuilt(tmp_path, caplog):
    """Before: a .npy with one flipped byte was returned as valid vectors (no checksum)."""
    enc = formats.load_encoder(params.load("tiny"))
    texts = TEXTS + ["a flipped byte"]
    good = cache.embed(enc, texts)
    path = paths.cache_dir() / "embeddings" / f"{cache.cache_key(enc, texts)}.npy"
    data = bytearray(path.read_bytes())
    data[-7] ^= 0x40  # one bit of one float of the last vector
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="lib.atomic"):
        again = cache.embed(enc, texts)
    assert np.array_equal(again, good)
    assert any("checksum" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    assert np.array_equal(atomic.load_npy_checked(path), good)  # rewritten, with its checksum


def test_truncated_embedding_cache_is_logged_removed_and_rebuilt(tmp_path, caplog):
    enc = formats.load_encoder(params.load("tiny"))
    good = cache.embed(enc, TEXTS)
    path = paths.cache_dir() / "embeddings" / f"{cache.cache_key(enc, TEXTS)}.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING):
        again = cache.embed(enc, TEXTS)
    assert np.array_equal(good, again)
    assert str(path) in caplog.text
    assert np.array_equal(np.load(path), good)
