"""The ONNX Runtime engine: session options shared by every ORT use, the lean torch-free encoder (Rust
tokenizer), and an encoder over any ONNX file.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lib.params import Params
from lib.fingerprint import file_digest
from lib.fingerprint import model_fingerprint
from lib.engines.batching import pad_batch
from lib.engines.batching import pool
from lib.engines.batching import token_budget_batches

log = logging.getLogger("lib.engines.ort")


def onnx_forward(session) -> Callable[[dict], np.ndarray]:
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


def ort_session(path: Path, P: Params, extra_options: dict | None = None):
    """An ONNX Runtime session with the execution providers and threads from params."""
    import onnxruntime as ort

    so = ort_session_options(P.threads)
    for k, v in (extra_options or {}).items():
        setattr(so, k, v)
    available = set(ort.get_available_providers())
    providers = [p for p in P.execution_providers if p in available] or ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), so, providers=providers)


# Padded tokens per ORT call. Small batches are faster with ORT on CPU (the activations of one call stay
# in cache): MiniLM on 5,000 HPO strings, 2 cores, interleaved, strings/s at 256 / 512 / 1,024 / 4,096
# tokens: dynamic INT8 1,070 / 1,127 / 972 / 871, FP32 538 / 522 / 481 / 448; peak RSS falls with it.
# (PyTorch prefers large batches, so params.token_budget, used by lib.encode for every format, stays 4,096.)
DEFAULT_TOKEN_BUDGET = 512


DEFAULT_MAX_ROWS = 256


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


def session(path: Path, threads: int | None = None, profile_prefix: str | None = None):
    """CPU session with lib.encode's options; ``profile_prefix`` switches on ORT's per-node profiler."""
    import onnxruntime as ort

    from lib.engines.ort import (
        ort_session_options,  # lib.encode imports torch only inside its torch functions
    )

    so = ort_session_options(threads)
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


@dataclass
class FastOrtEncoder:
    """ORT session + Rust tokenizer + token-budget batching; ``encode`` returns L2-normalised float32."""

    onnx_path: Path
    model_dir: Path
    pooling: str = "mean"
    max_length: int = 128
    threads: int | None = None
    token_budget: int = DEFAULT_TOKEN_BUDGET
    max_rows: int = DEFAULT_MAX_ROWS
    profile_prefix: str | None = None  # ORT profiler on (lib.bench.ort_op_profile), off for timing
    batch_times: list[float] = field(default_factory=list)  # seconds per ORT call, for latency stats

    def __post_init__(self):
        self.tokenizer = load_fast_tokenizer(self.model_dir, self.max_length)
        self.session = session(self.onnx_path, self.threads, self.profile_prefix)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.pad_id = self._pad_id()

    def _pad_id(self) -> int:
        cfg = Path(self.model_dir) / "config.json"
        if cfg.exists():
            return int(json.loads(cfg.read_text()).get("pad_token_id") or 0)
        return 0

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        encs = self.tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encs]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        fixed = self.max_length if self.pooling == "mean_unmasked_padded" else None
        budget = self.token_budget if fixed is None else max(self.token_budget, fixed)
        out: np.ndarray | None = None
        for idx in token_budget_batches(lengths if fixed is None else np.full_like(lengths, fixed),
                                        budget, self.max_rows):
            input_ids, mask = pad_batch([ids[i] for i in idx], fixed, self.pad_id)
            feeds = {"input_ids": input_ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = np.zeros_like(input_ids)
            t0 = time.perf_counter()
            hidden = self.session.run(None, {k: v for k, v in feeds.items() if k in self.input_names})[0]
            self.batch_times.append(time.perf_counter() - t0)
            vec = pool(hidden, mask, self.pooling)
            if out is None:
                out = np.zeros((len(ids), vec.shape[1]), dtype=np.float32)
            out[idx] = vec
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def load_fast_encoder(P: Params, onnx_path: Path, model_dir: Path, token_budget: int = DEFAULT_TOKEN_BUDGET,
                      max_rows: int = DEFAULT_MAX_ROWS, profile_prefix: str | None = None) -> FastOrtEncoder:
    """The fast engine for params ``P`` on a given ONNX file (resolve paths first: that may import torch)."""
    return FastOrtEncoder(Path(onnx_path), Path(model_dir), P.pooling, P.max_length, P.threads,
                          token_budget, max_rows, profile_prefix)


def onnx_encoder(P: Params, label: str, path: Path):
    """A ``BatchEncoder`` for any ONNX artifact (e.g. a variant of a registered format), with the
    same tokenising and pooling as every format; the fingerprint holds the model's and the file's content."""
    from lib.engines.encoder import BatchEncoder
    from lib.engines.hub import load_tokenizer, resolve_model_dir
    from lib.engines.ort import onnx_forward, ort_session


    model_dir = resolve_model_dir(P)
    fp = file_digest(path)[:12]
    return BatchEncoder(P.name, label, f"{model_fingerprint(model_dir)}-{label}-{fp}", load_tokenizer(model_dir),
                        P, onnx_forward(ort_session(path, P)), {"model_dir": str(model_dir), "onnx": str(path)})


def embed_onnx(path: Path, P: Params, texts: Sequence[str]) -> np.ndarray:
    """Sentence vectors from an ONNX file (no cache: search candidates are overwritten in place)."""
    return onnx_encoder(P, path.stem, path).encode(texts, progress=False)
