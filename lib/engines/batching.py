"""Batching, padding and pooling on numpy arrays: the one implementation every engine shares.

Numpy only, on purpose: the benchmark's side environments (``bench/ipex_worker.py``, torch 2.8) import
this module from the checkout without installing ``lib`` or its dependencies. Both lib engines use them
through :func:`lib.engines.encoder.encode_ids`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Poolings that are correct on dynamically padded batches (the paper's ``mean_unmasked_padded`` needs
# every row padded to max_length).
DYNAMIC_PADDING_POOLINGS = ("mean", "cls")


def token_budget_batches(lengths: np.ndarray, token_budget: int, max_rows: int) -> list[np.ndarray]:
    """Indices sorted by token length, cut into batches whose padded size rows*max_len <= token_budget.

    Short strings go in large batches, so each MatMul sees enough rows to approach the GEMM
    ceiling; a string longer than the budget goes alone. (No library forms batches by padded size.)
    """
    order = np.argsort(lengths, kind="stable")
    batches, start, n = [], 0, len(order)
    while start < n:
        end = start + 1
        while end < n and end - start < max_rows and (end - start + 1) * lengths[order[end]] <= token_budget:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def pad_batch(ids: Sequence[Sequence[int]], length: int | None = None,
              pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """int64 input ids and attention mask, right-padded to ``length`` (default: the longest)."""
    length = length or max(len(x) for x in ids)
    out = np.full((len(ids), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), length), dtype=np.int64)
    for r, x in enumerate(ids):
        out[r, :len(x)] = x
        mask[r, :len(x)] = 1
    return out, mask


def pool(hidden: np.ndarray, attention_mask: np.ndarray, pooling: str) -> np.ndarray:
    """Sentence vectors from token states; L2-normalised.

    ``mean_unmasked_padded`` reproduces the paper's code: the mean over every position, padding
    included (with padding to max_length this dilutes short strings).
    """
    hidden = hidden.astype(np.float32, copy=False)
    if pooling == "cls":
        vec = hidden[:, 0]
    elif pooling == "mean":
        m = attention_mask[..., None].astype(np.float32)
        vec = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    elif pooling == "mean_unmasked_padded":
        vec = hidden.mean(1)
    else:
        raise ValueError(f"unknown pooling {pooling!r}")
    return normalize(vec)


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
