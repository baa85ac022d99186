"""The ONNX Runtime engine: one session construction for every ORT use, and the one ORT encoder (Rust
tokenizer, small calls, no torch import) that every ONNX format, notebook, gate and search runs on.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lib.engines.encoder import Batching, RuntimeEncoder, encoder_fingerprint
from lib.engines.hub import identity, resolve_model_dir
from lib.fingerprint import model_fingerprint
from lib.params import Params

log = logging.getLogger("lib.engines.ort")


def onnx_forward(session) -> Callable[[dict], np.ndarray]:
    """Token states from a session: the feeds it declares (int64), zero ``token_type_ids`` if it needs them."""
    names = [i.name for i in session.get_inputs()]

    def forward(enc: dict) -> np.ndarray:
        feeds = {k: np.asarray(enc[k], dtype=np.int64) for k in names if k in enc}
        if "token_type_ids" in names and "token_type_ids" not in enc:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        return session.run(None, feeds)[0]
    return forward


def ort_session_options(threads: int | None = None):
    """The session options of every ORT engine here: all graph fusions, ``threads`` intra-op threads,
    and no memory pattern. Why no pattern: our batches have dynamic shapes (length-sorted, padded per
    batch) and ORT plans and keeps one pattern per distinct input shape, so the resident set grew with
    every new shape (measured on MiniLM dynamic INT8: 133 -> 342 MB over two passes of 2,000 strings;
    with the pattern off it stays flat, at the same speed)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or os.cpu_count() or 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_mem_pattern = False
    return so


def open_session(path: Path, threads: int | None = None, providers: Sequence[str] = ("CPUExecutionProvider",),
                 extra_options: dict | None = None):
    """An ONNX Runtime session with :func:`ort_session_options`, then ``extra_options`` (SessionOptions
    attributes: Olive's tuned settings, the profiler) on top, on the first available of ``providers``
    (CPU when none is). For callers without params (Olive's evaluation); others use :func:`ort_session`."""
    import onnxruntime as ort

    so = ort_session_options(threads)
    for k, v in (extra_options or {}).items():
        setattr(so, k, v)
    available = set(ort.get_available_providers())
    chosen = [p for p in providers if p in available] or ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), so, providers=chosen)


def ort_session(path: Path, P: Params, extra_options: dict | None = None):
    """An ONNX Runtime session with the execution providers and threads from params."""
    return open_session(path, P.threads, P.execution_providers, extra_options)


def load_fast_tokenizer(model_dir: Path, max_length: int):
    """Rust tokenizer from ``tokenizer.json``: no padding (done per batch), truncation at max_length."""
    from tokenizers import Tokenizer

    path = Path(model_dir) / "tokenizer.json"
    if not path.exists():
        # slow path only for models without a tokenizer.json: transformers converts its tokenizer
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(str(model_dir)).backend_tokenizer
    else:
        tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_length)
    return tok


def pad_token_id(model_dir: Path, tokenizer) -> int:
    """The pad token's id as transformers would pick it (``tokenizer_config.json``'s ``pad_token``, else
    ``config.json``'s ``pad_token_id``, else 0). It matters for the paper's pooling, which averages the
    states of padding positions too."""
    model_dir = Path(model_dir)
    tc = model_dir / "tokenizer_config.json"
    pad = json.loads(tc.read_text(encoding="utf-8")).get("pad_token") if tc.exists() else None
    if isinstance(pad, dict):
        pad = pad.get("content")
    if isinstance(pad, str) and tokenizer.token_to_id(pad) is not None:
        return int(tokenizer.token_to_id(pad))
    cfg = model_dir / "config.json"
    if cfg.exists():
        return int(json.loads(cfg.read_text(encoding="utf-8")).get("pad_token_id") or 0)
    return 0


def ort_batching(P: Params) -> Batching:
    """ONNX Runtime's batching: params ``ort_token_budget`` / ``ort_max_rows`` (small calls are faster)."""
    return Batching(P.ort_token_budget, P.ort_max_rows)


@dataclass
class OrtEncoder(RuntimeEncoder):
    """The ONNX Runtime engine: session + Rust tokenizer + :class:`Batching` from params
    (``ort_token_budget``, ``ort_max_rows``; the paper's pooling keeps its fixed rows). ``encode``
    returns L2-normalised float32; ``batch_times`` collects the seconds of each ORT call."""

    name: str
    fmt: str
    fingerprint: str
    P: Params
    session: object
    tokenizer: object
    pad_id: int = 0
    info: dict = field(default_factory=dict)
    batch_times: list[float] = field(default_factory=list)

    def __post_init__(self):
        self._forward = onnx_forward(self.session)


    @property
    def batching(self) -> Batching:
        return ort_batching(self.P)


def onnx_encoder(P: Params, fmt: str, path: Path, *, model_dir: Path | None = None, session=None,
                 extra_options: dict | None = None) -> OrtEncoder:
    """The ORT encoder for params ``P`` over the ONNX file ``path`` (a registered format, or any variant
    labelled ``fmt``). ``session``: one already opened on ``path`` (lib.formats opens it to heal a bad
    artifact); otherwise :func:`ort_session` opens one with ``extra_options``. ``model_dir``: the model
    folder (tokenizer, fingerprint); resolving it from params may import torch, so the benchmark's
    torch-free worker passes it. Fingerprint: :func:`lib.engines.encoder.encoder_fingerprint`."""
    if model_dir is None:
        model_dir = resolve_model_dir(P)
    model_dir, path = Path(model_dir), Path(path)
    fp = model_fingerprint(model_dir)
    tok = load_fast_tokenizer(model_dir, P.max_length)
    session = session if session is not None else ort_session(path, P, extra_options)
    return OrtEncoder(P.name, fmt, encoder_fingerprint(fp, fmt, ort_batching(P), path), P, session, tok,
                      pad_token_id(model_dir, tok),
                      {"model_dir": str(model_dir), "onnx": str(path), "model_fingerprint": fp,
                       "identity": identity(P, model_dir, fp)})


def embed_onnx(path: Path, P: Params, texts: Sequence[str]) -> np.ndarray:
    """Sentence vectors from an ONNX file (no cache: search candidates are overwritten in place)."""
    return onnx_encoder(P, path.stem, path).encode(texts, progress=False)
