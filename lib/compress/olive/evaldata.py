"""Held-out STS pairs on which Olive scores every candidate, tokenised once with their FP32 reference vectors.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from lib import atomic
from lib.data.public import load_sts
from lib.engines.encoder import length_sorted_batches, tokenize
from lib.engines.hub import load_tokenizer, resolve_model_dir
from lib.engines.torch import load_torch_encoder
from lib.params import Params

log = logging.getLogger("lib.compress.olive.evaldata")


def eval_pairs(P: Params) -> pd.DataFrame:
    """Seeded sample of ``P.olive_eval_pairs`` pairs of the STS-benchmark *train* split in the params'
    language, on which Olive scores every candidate: held out from every evaluation set (BIOSSES,
    STS-b dev/test). Not the static INT8 calibration set (``calibration_size`` sentences,
    :mod:`lib.compress.calibration`)."""

    df = load_sts(f"stsb-{P.language}", "train")
    n = min(P.olive_eval_pairs, len(df))
    out = df.sample(n=n, random_state=P.seed).reset_index(drop=True)
    out.attrs.update(df.attrs, sample=f"{n} pairs, seed {P.seed}")
    return out


def prepare_eval_data(P: Params, out: Path) -> Path:
    """Tokenised held-out sentences (fixed batches, so every candidate sees the same inputs), the
    gold scores and the FP32 PyTorch reference vectors, in one ``.npz`` (built once; a torn file from an
    interrupted run is removed and rebuilt, :func:`lib.atomic.load_or_rebuild`)."""
    def readable(p: Path) -> Path:
        with np.load(p) as z:
            int(z["n_batches"])
        return p
    return atomic.load_or_rebuild(out, readable, lambda p: _write_eval_data(P, p), what="eval data")


def _write_eval_data(P: Params, out: Path) -> None:
    pairs = eval_pairs(P)
    texts = list(pairs["sentence1"]) + list(pairs["sentence2"])
    ref = load_torch_encoder(P).encode(texts, progress=False)
    tok = load_tokenizer(resolve_model_dir(P))
    arrays: dict[str, np.ndarray] = {"reference": ref, "gold": pairs["score"].to_numpy(float),
                                     "pooling": np.array(P.pooling)}
    batches = length_sorted_batches(texts, P.batch_size)
    for b, idx in enumerate(batches):
        for k, v in tokenize(tok, [texts[i] for i in idx], P).items():
            arrays[f"b{b}/{k}"] = np.asarray(v, dtype=np.int64)
    arrays["order"] = np.concatenate(batches)
    arrays["n_batches"] = np.array(len(batches))
    with atomic.atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez must not append its own suffix
            np.savez(fh, **arrays)
