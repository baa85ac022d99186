"""The one ONNX Runtime engine (lib.engines.ort): every ONNX format runs on it, its vectors match PyTorch's,
batching never changes FP32 vectors, and its fingerprint, pad id and session options come from what it runs."""

from __future__ import annotations

import numpy as np
import pytest

from lib import formats, params
from lib.compress import export
from lib.engines import cache, encoder, hub


def test_ort_batching_does_not_change_fp32_vectors():
    texts = ["heart pain", "abnormal skin of the hand and the foot with pain", "fever", "x", "small ear"]
    alone = formats.load_encoder(params.load("tiny", ort_token_budget=1, ort_max_rows=1), "onnx-fp32")
    shared = formats.load_encoder(params.load("tiny"), "onnx-fp32")
    a, b = alone.encode(texts, progress=False), shared.encode(texts, progress=False)
    assert len(alone.batch_times) == len(texts) and len(shared.batch_times) < len(texts)
    assert np.allclose(a, b, atol=1e-5)


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
