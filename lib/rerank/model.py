"""Scoring: token scores from an engine, pooled into one score f(term, candidate) per slot.

Engines are anything with ``forward(feeds) -> (rows, seq) token scores`` and a ``batch_times`` list:
ONNX Runtime through the one ORT engine (:class:`lib.engines.ort.OrtEncoder`, built by
:func:`lib.formats.load_reranker`), or PyTorch through :class:`TorchCross` over the scorer module of
:mod:`lib.engines.cross`. :func:`score_inputs` is the one scoring loop they share: rows batched by
length under a token budget, the read-out spans pooled (:func:`lib.rerank.inputs.pool_spans`) into a
(terms x slots) matrix (NaN: empty slot). The reranker's final score adds the retriever's prior
(``w x cosine``, :mod:`lib.rerank.evaluate`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from lib.rerank.inputs import Inputs, collate, pool_spans, records_of_rows, row_batches


class Engine(Protocol):
    """Padded int64 feeds -> (rows, seq) float32 token scores; ``batch_times``: seconds per call."""

    batch_times: list[float]

    def forward(self, feeds: dict[str, np.ndarray]) -> np.ndarray: ...


@dataclass
class TorchCross:
    """The PyTorch engine of a reranker (eval and inference mode, on its device)."""

    model: object
    name: str = "torch"
    device: str = "cpu"
    batch_times: list[float] = field(default_factory=list)

    def forward(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.model(**{k: torch.from_numpy(v).to(self.device) for k, v in feeds.items()})
            out = out.float().cpu().numpy()
        self.batch_times.append(time.perf_counter() - t0)
        return out


def torch_engine(model_dir: Path, device: str = "cpu") -> TorchCross:
    from lib.engines.cross import load_scorer
    return TorchCross(quiet_load(load_scorer, model_dir, "sdpa").to(device).eval(), f"torch:{Path(model_dir).name}",
                      device)


def quiet_load(loader, *args, **kwargs):
    """Call a transformers loader with its per-load report table silenced (a new head, an unused pooler)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return loader(*args, **kwargs)
    finally:
        hf_logging.set_verbosity(level)


def score_inputs(engine: Engine, inputs: Inputs, pad_id: int, token_budget: int, max_rows: int,
                 progress: bool = False, desc: str = "rerank") -> np.ndarray:
    """f (n_terms, n_slots), NaN where a slot is empty: one ``engine.forward`` call per batch."""
    out = np.full((inputs.n_terms, inputs.n_slots), np.nan, dtype=np.float32)
    for rows in tqdm(row_batches(inputs, token_budget, max_rows), desc=desc, disable=not progress, mininterval=2.0):
        which, local = records_of_rows(inputs, rows)
        scores = np.asarray(engine.forward(collate(inputs, rows, pad_id)))
        out[inputs.term[which], inputs.slot[which]] = pool_spans(scores, local, inputs.start[which],
                                                                 inputs.stop[which])
    return out
