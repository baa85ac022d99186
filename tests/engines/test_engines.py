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


def test_batching_plan_budget_rows_and_paper_padding():
    lengths = np.array([3, 30, 4, 2, 5, 29])
    P = params.load("tiny")
    batches, fixed = encoder.Batching(64, 2).plan(lengths, P)
    assert fixed is None and sorted(np.concatenate(batches)) == list(range(6))
    assert all(len(b) <= 2 and len(b) * lengths[b].max() <= 64 for b in batches)
    paper = params.load("tiny", pooling="mean_unmasked_padded", batch_size=4)
    for budget in (1, 64, 4096):  # the paper's rows whatever the engine's budget
        batches, fixed = encoder.Batching(budget, budget).plan(lengths, paper)
        assert fixed == paper.max_length and [len(b) for b in batches] == [4, 2]


def test_encode_ids_pads_pools_and_keeps_input_order():
    """A forward that returns each row's first token id as its state: the vector order must be the input's."""
    P = params.load("tiny")
    seen = []

    def forward(feeds):
        seen.append(feeds["input_ids"].shape)
        assert feeds["token_type_ids"].sum() == 0 and feeds["input_ids"].dtype == np.int64
        first = feeds["input_ids"][:, :1, None].astype(np.float32)
        return np.concatenate([first, np.ones_like(first)], axis=2).repeat(feeds["input_ids"].shape[1], 1)

    ids = [[5, 1, 1, 1], [2], [9, 1], [3, 1, 1]]
    out = encoder.encode_ids(ids, forward, P, encoder.Batching(4, 2), pad_id=0, progress=False)
    expect = batching.normalize(np.array([[5, 1], [2, 1], [9, 1], [3, 1]], dtype=np.float32))
    np.testing.assert_allclose(out, expect, atol=1e-6)
    assert seen == [(2, 2), (1, 3), (1, 4)]  # 2 x 2 padded tokens fit the budget of 4, 2 x 3 does not
    assert encoder.encode_ids([], forward, P, encoder.Batching(4, 2), progress=False).shape == (0, 0)


def test_token_budget_does_not_change_fp32_vectors():
    texts = ["heart pain", "abnormal skin of the hand and the foot with pain", "fever", "x", "small ear"]
    one = formats.load_encoder(params.load("tiny", token_budget=1)).encode(texts, progress=False)
    big = formats.load_encoder(params.load("tiny", token_budget=4096)).encode(texts, progress=False)
    assert np.allclose(one, big, atol=1e-5)


def test_ort_batching_does_not_change_fp32_vectors():
    texts = ["heart pain", "abnormal skin of the hand and the foot with pain", "fever", "x", "small ear"]
    alone = formats.load_encoder(params.load("tiny", ort_token_budget=1, ort_max_rows=1), "onnx-fp32")
    shared = formats.load_encoder(params.load("tiny"), "onnx-fp32")
    a, b = alone.encode(texts, progress=False), shared.encode(texts, progress=False)
    assert len(alone.batch_times) == len(texts) and len(shared.batch_times) < len(texts)
    assert np.allclose(a, b, atol=1e-5)


def test_tiny_encoder_is_deterministic_and_normalised():
    P = params.load("tiny")
    e = formats.load_encoder(P)
    v1 = e.encode(["short", "a much longer sentence about pain", "x"], progress=False)
    v2 = e.encode(["x", "short"], progress=False)
    assert np.allclose(np.linalg.norm(v1, axis=1), 1, atol=1e-5)
    assert np.allclose(v1[2], v2[0], atol=1e-5) and np.allclose(v1[0], v2[1], atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls", "mean_unmasked_padded"])
def test_onnx_fp32_matches_torch(pooling):
    P = params.load("tiny", pooling=pooling, batch_size=2)
    texts = ["heart pain", "abnormal skin of the hand and the foot", "fever", "x", "small ear with pain"]
    a = formats.load_encoder(P).encode(texts, progress=False)
    onnx = formats.load_encoder(P, "onnx-fp32")
    b = onnx.encode(texts, progress=False)
    assert (a * b).sum(1).min() > 1 - 1e-4
    assert export.fusion_stats(export.fused_onnx(P)).get("Attention", 0) == 2
    if pooling == "mean_unmasked_padded":  # the paper's batches: rows of batch_size, as PyTorch runs them
        assert len(onnx.batch_times) == 3


def test_every_onnx_format_runs_on_the_one_ort_engine():
    from lib.engines.ort import OrtEncoder

    P = params.load("tiny")
    enc = formats.load_encoder(P, "onnx-int8-dynamic")
    assert type(enc) is OrtEncoder and enc.fmt == "onnx-int8-dynamic" and enc.P is P
    assert {"model_dir", "onnx", "model_fingerprint"} <= set(enc.info)
    assert enc.batching == encoder.Batching(P.ort_token_budget, P.ort_max_rows)
    assert enc.encode(["pain", "fever"], progress=False).shape == (2, 64)


def test_ort_fingerprint_and_cache_key_follow_artifact_content_and_batching(tmp_path):
    from lib.compress import dynamic
    from lib.engines import ort

    P = params.load("tiny")
    path = tmp_path / "model.onnx"
    path.write_bytes(export.fused_onnx(P).read_bytes())
    fp32 = ort.onnx_encoder(P, "variant", path)
    path.write_bytes(dynamic.dynamic_int8(P).read_bytes())  # same path, other content
    int8 = ort.onnx_encoder(P, "variant", path)
    small = ort.onnx_encoder(params.load("tiny", ort_token_budget=64), "variant", path)
    assert len({fp32.fingerprint, int8.fingerprint, small.fingerprint}) == 3
    texts = ["pain"]
    assert cache.cache_key(int8, texts) != cache.cache_key(small, texts)
    assert int8.fingerprint.startswith(f"{int8.info['model_fingerprint']}-variant-")


def test_pad_token_id_follows_the_tokenizer_config(tmp_path):
    from lib.engines import ort

    P = params.load("tiny")
    tok = ort.load_fast_tokenizer(hub.resolve_model_dir(P), P.max_length)
    (tmp_path / "tokenizer_config.json").write_text('{"pad_token": {"content": "[UNK]"}}')
    (tmp_path / "config.json").write_text('{"pad_token_id": 7}')
    assert ort.pad_token_id(tmp_path, tok) == tok.token_to_id("[UNK]") != 7
    (tmp_path / "tokenizer_config.json").unlink()
    assert ort.pad_token_id(tmp_path, tok) == 7
    assert ort.pad_token_id(hub.resolve_model_dir(P), tok) == tok.token_to_id("[PAD]")


def test_session_options_from_params_and_extra_options():
    from lib.engines import ort

    P = params.load("tiny", threads=1, execution_providers=["NoSuchExecutionProvider"])
    sess = ort.ort_session(export.fused_onnx(P), P, extra_options={"enable_cpu_mem_arena": False})
    so = sess.get_session_options()
    assert so.intra_op_num_threads == 1 and not so.enable_mem_pattern and not so.enable_cpu_mem_arena
    assert sess.get_providers() == ["CPUExecutionProvider"]  # an unavailable provider falls back to CPU


def test_olive_best_keeps_its_tuned_session_options(monkeypatch):
    """olive-best opens its artifact with the search's tuned SessionOptions on top of ours."""
    import onnxruntime as ort

    P = params.load("tiny")
    basic = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    monkeypatch.setitem(formats.ONNX_BUILDERS, "olive-best", export.fused_onnx)
    monkeypatch.setitem(formats.SESSION_OPTIONS, "olive-best", lambda P: {"graph_optimization_level": basic})
    assert formats.load_encoder(P, "olive-best").session.get_session_options().graph_optimization_level == basic
    assert formats.load_encoder(P, "onnx-fp32").session.get_session_options().graph_optimization_level != basic


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
