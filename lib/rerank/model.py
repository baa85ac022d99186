"""The scorer: an encoder under a 2-class token head read at [MASK] positions (the paper's reranker).

transformers' ``AutoModelForTokenClassification`` with two labels is exactly that head (a linear layer
on every token state; we read it at the [MASK]s). A candidate's score is P(match) = softmax(l)[1] =
sigmoid(l1 - l0); engines return the *margin* ``l1 - l0`` per token, from which both objectives and
P(match) follow. The head starts from a seeded random init; the encoder from the params model.

:func:`score_inputs` is the one scoring loop every engine shares (PyTorch here, ONNX Runtime in
:mod:`lib.rerank.onnx`): rows batched by length under a token budget, margins gathered at the [MASK]s
into a (terms x slots) matrix (NaN: empty slot).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from lib.rerank.inputs import Inputs, collate, masks_of_rows, row_batches

log = logging.getLogger("lib.rerank.model")


def load_model(model_dir: Path, seed: int = 0):
    """The token-classification model over ``model_dir`` (2 labels; the head seeded when new), eager
    attention so its ONNX export gets ONNX Runtime's attention fusion."""
    import torch
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    # transformers prints a load report table for the new head (and the unused pooler) on every load
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModelForTokenClassification.from_pretrained(str(model_dir), num_labels=2,
                                                                attn_implementation="eager")
    finally:
        hf_logging.set_verbosity(level)
    return model


def mask_logits(model, feeds: dict, rows, positions):
    """The 2-class logits at the given (row, position) pairs of one batch (torch tensors in, out)."""
    names = ("input_ids", "attention_mask", "token_type_ids")
    out = model(**{k: feeds[k] for k in names if k in feeds}).logits
    return out[rows, positions]


class Scorer(Protocol):
    """An engine: padded int64 feeds -> (rows, seq) float32 margins ``l1 - l0``."""

    name: str

    def margins(self, feeds: dict[str, np.ndarray]) -> np.ndarray: ...


@dataclass
class TorchScorer:
    """The PyTorch engine over a loaded model (eval mode, inference mode, on its device)."""

    model: object
    name: str = "torch"
    token_types: bool = True
    device: str = "cpu"
    batch_times: list[float] = field(default_factory=list)

    def margins(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        keep = ["input_ids", "attention_mask"] + (["token_type_ids"] if self.token_types else [])
        t0 = time.perf_counter()
        with torch.inference_mode():
            logits = self.model(**{k: torch.from_numpy(feeds[k]).to(self.device) for k in keep}).logits
            out = (logits[..., 1] - logits[..., 0]).float().cpu().numpy()
        self.batch_times.append(time.perf_counter() - t0)
        return out


def torch_scorer(model_dir: Path, token_types: bool, device: str = "cpu") -> TorchScorer:
    model = load_model(model_dir).to(device).eval()
    return TorchScorer(model, f"torch:{Path(model_dir).name}", token_types, device)


def score_inputs(scorer: Scorer, inputs: Inputs, pad_id: int, token_budget: int, max_rows: int,
                 progress: bool = False, desc: str = "rerank") -> np.ndarray:
    """Margins (n_terms, n_slots), NaN where a slot is empty: one ``scorer.margins`` call per batch."""
    out = np.full((inputs.n_terms, inputs.n_slots), np.nan, dtype=np.float32)
    for rows in tqdm(row_batches(inputs, token_budget, max_rows), desc=desc, disable=not progress, mininterval=2.0):
        which, local, pos = masks_of_rows(inputs, rows)
        m = scorer.margins(collate(inputs, rows, pad_id))
        out[inputs.term[which], inputs.slot[which]] = m[local, pos]
    return out


def probabilities(margins: np.ndarray) -> np.ndarray:
    """P(match) = sigmoid(margin), NaN kept."""
    return 1.0 / (1.0 + np.exp(-np.asarray(margins, dtype=np.float64)))
