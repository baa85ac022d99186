import numpy as np
import pytest

from lib import formats, params
from lib.compress import export
from lib.engines import batching, cache, encoder, hub
from lib.errors import ModelNotAvailableError


def test_pooling_modes_hand_computed():
    h = np.array([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]])
    m = np.array([[1, 1, 0]])
    assert np.allclose(batching.pool(h, m, "mean"), [[1.0, 0.0]])
    assert np.allclose(batching.pool(h, m, "cls"), [[1.0, 0.0]])
    unmasked = batching.pool(h, m, "mean_unmasked_padded")  # the paper's: padding included
    assert unmasked[0, 1] > 0.5


def test_length_sorted_batches_cover_every_index_once():
    texts = ["a" * n for n in (5, 1, 9, 3, 7)]
    batches = encoder.length_sorted_batches(texts, 2)
    flat = np.concatenate(batches)
    assert sorted(flat) == list(range(5)) and [len(texts[i]) for i in flat] == [1, 3, 5, 7, 9]


def test_forward_batches_budget_and_paper_padding():
    lengths = np.array([3, 30, 4, 2, 5, 29])
    P = params.load("tiny", token_budget=64)
    batches, fixed = encoder.forward_batches(lengths, P)
    assert fixed is None and sorted(np.concatenate(batches)) == list(range(6))
    assert all(len(b) * lengths[b].max() <= 64 for b in batches)
    paper = params.load("tiny", pooling="mean_unmasked_padded", batch_size=4)
    batches, fixed = encoder.forward_batches(lengths, paper)
    assert fixed == paper.max_length and [len(b) for b in batches] == [4, 2]


def test_token_budget_does_not_change_fp32_vectors():
    texts = ["heart pain", "abnormal skin of the hand and the foot with pain", "fever", "x", "small ear"]
    one = formats.load_encoder(params.load("tiny", token_budget=1)).encode(texts, progress=False)
    big = formats.load_encoder(params.load("tiny", token_budget=4096)).encode(texts, progress=False)
    assert np.allclose(one, big, atol=1e-5)


def test_tiny_encoder_is_deterministic_and_normalised():
    P = params.load("tiny")
    e = formats.load_encoder(P)
    v1 = e.encode(["short", "a much longer sentence about pain", "x"], progress=False)
    v2 = e.encode(["x", "short"], progress=False)
    assert np.allclose(np.linalg.norm(v1, axis=1), 1, atol=1e-5)
    assert np.allclose(v1[2], v2[0], atol=1e-5) and np.allclose(v1[0], v2[1], atol=1e-5)


def test_onnx_fp32_matches_torch():
    P = params.load("tiny")
    texts = ["heart pain", "abnormal skin of the hand and the foot", "fever"]
    a = formats.load_encoder(P).encode(texts, progress=False)
    b = formats.load_encoder(P, "onnx-fp32").encode(texts, progress=False)
    assert (a * b).sum(1).min() > 0.9999
    assert export.fusion_stats(export.fused_onnx(P)).get("Attention", 0) == 2


def test_embedding_cache_reuses_vectors():
    P = params.load("tiny")
    e = formats.load_encoder(P)
    v = cache.embed(e, ["pain", "fever"])
    e.forward = None  # a second call must not encode again
    assert np.array_equal(cache.embed(e, ["pain", "fever"]), v)


def test_offline_hub_model_fails_fast_with_fix():
    P = params.load("krissbert")
    with pytest.raises(ModelNotAvailableError, match=r"set `model: /some/folder` in params/krissbert.yaml"):
        hub.resolve_model_dir(P)


def test_parts_model_missing_says_make_models(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPENDIUM_CACHE", str(tmp_path))
    with pytest.raises(ModelNotAvailableError, match="make models"):
        hub.resolve_model_dir(params.load("mpnet-base"))


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown format"):
        formats.load_encoder(params.load("tiny"), "int3")


def test_tiny_tokenizer_knows_its_vocabulary():
    from transformers import AutoTokenizer
    P = params.load("tiny")
    tok = AutoTokenizer.from_pretrained(str(hub.resolve_model_dir(P)))
    ids = tok("heart pain fever")["input_ids"]
    assert tok.unk_token_id not in ids and len(tok) > 100
