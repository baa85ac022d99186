"""The encoder contract shared by every engine: length-sorted, token-budgeted batches in, L2-normalised
float32 sentence vectors out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from lib.params import Params
from lib.engines.batching import pad_batch
from lib.engines.batching import pool
from lib.engines.batching import token_budget_batches

log = logging.getLogger("lib.engines.encoder")


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Indices grouped so each batch holds strings of similar length (less padding)."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def forward_batches(lengths: np.ndarray, P: Params) -> tuple[list[np.ndarray], int | None]:
    """(batches, fixed length): the paper's pooling pads to max_length in rows of ``batch_size``;
    every other pooling pads per batch, batches sized by ``P.token_budget``."""
    if P.pooling == "mean_unmasked_padded":
        return token_budget_batches(np.full_like(lengths, P.max_length), P.batch_size * P.max_length,
                                    P.batch_size), P.max_length
    return token_budget_batches(lengths, P.token_budget, P.token_budget), None


def tokenize(tokenizer, texts: Sequence[str], P: Params, return_tensors: str = "np") -> dict:
    """Dynamic padding for 'cls'/'mean'; fixed padding to max_length for the paper's pooling."""
    padding = "max_length" if P.pooling == "mean_unmasked_padded" else "longest"
    return dict(tokenizer(list(texts), padding=padding, truncation=True, max_length=P.max_length,
                          return_tensors=return_tensors))


class Encoder(Protocol):
    name: str
    fmt: str
    fingerprint: str

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray: ...


@dataclass
class BatchEncoder:
    """Length-sorted batching around a function from tokenised batch to token states."""

    name: str
    fmt: str
    fingerprint: str
    tokenizer: object
    P: Params
    forward: Callable[[dict], np.ndarray]
    info: dict = field(default_factory=dict)

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """Tokenise everything in one call, then length-sorted batches (:func:`forward_batches`)."""
        texts = list(texts)
        out = np.zeros((len(texts), 0), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(texts, truncation=True, max_length=self.P.max_length)["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        batches, fixed = forward_batches(lengths, self.P)
        pad_id = self.tokenizer.pad_token_id or 0
        for idx in tqdm(batches, desc=f"encode {self.name} [{self.fmt}]", disable=not progress,
                        mininterval=2.0):
            input_ids, mask = pad_batch([ids[i] for i in idx], fixed, pad_id)
            enc = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
            vec = pool(self.forward(enc), mask, self.P.pooling)
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
            out[idx] = vec
        return out
