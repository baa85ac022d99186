"""A lean ONNX Runtime encoder for any ONNX format: what a user keeps for fast INT8 inference.

Same batching as :class:`lib.encode.BatchEncoder` (one tokeniser call, length-sorted batches sized by a
*token budget*, dynamic padding: :func:`lib.encode.token_budget_batches`), so vectors match for FP32 and
static INT8 (dynamic INT8 varies with batch composition, see stack notes). The difference is what an
inference process loads: this engine never imports torch or transformers (the Rust ``tokenizers``
library reads ``tokenizer.json``), so its peak RSS is not dominated by imports, and it records the time
of every ORT call for latency statistics.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .batching import pad_batch, pool, token_budget_batches
from .params import Params

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

    from .encode import ort_session_options  # lib.encode imports torch only inside its torch functions

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
