"""The calibration set of every static INT8 build: sentences, fixed-shape feeds, the calibration key.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from lib import paths
from lib.compress.export import unfused_onnx
from lib.compress.graph import onnx_input_names
from lib.data import public
from lib.data.hpo import load_hpo
from lib.data.medsts import read_medsts
from lib.engines.hub import load_tokenizer, resolve_model_dir
from lib.params import Params

log = logging.getLogger("lib.compress.calibration")


def calibration_pool(P: Params) -> tuple[list[str], str]:
    """Sentences to calibrate on, and a label naming where they come from.

    MedSTS when ``P.medsts`` is set (the paper's choice); else STS-benchmark train sentences and HPO
    term definitions. BIOSSES is left out on purpose: all 100 pairs serve the gate's Spearman (its
    20-pair test split is too small for a 0.01 threshold), and the HPO lay terms are the gate's queries.
    """

    if P.medsts:
        df = read_medsts(paths.project_path(P.medsts))
        texts = pd.unique(pd.concat([df.sentence1, df.sentence2]).astype(str))
        return [str(t) for t in np.random.default_rng(P.seed).permutation(texts)], f"MedSTS ({P.medsts})"
    stsb = "stsb-fr" if P.language == "fr" else "stsb-en"
    df = public.load_sts(stsb, "train")
    parts = [pd.unique(pd.concat([df.sentence1, df.sentence2]).astype(str)).tolist()]
    defs = load_hpo().terms.definition.astype(str)
    parts.append([d for d in defs if len(d.split()) >= 4])
    # interleave so any prefix of the pool mixes the sources
    rng = np.random.default_rng(P.seed)
    shuffled = [list(rng.permutation(p)) for p in parts]
    pool = [s for group in zip_longest(*shuffled) for s in group if s is not None]
    return pool, f"{stsb} train + HPO definitions"


def calibration_split(P: Params) -> tuple[list[str], list[str], str]:
    """(calibration sentences, held-out search sentences, source label), disjoint, seeded."""
    pool, source = calibration_pool(P)
    n = P.calibration_size
    if len(pool) < 2 * n:
        raise ValueError(f"calibration needs 2 x calibration_size={n} sentences, source has {len(pool)}")
    return pool[:n], pool[n:2 * n], source


def fixed_shape_batches(tokenizer, texts: Sequence[str], input_names: Sequence[str], batch_size: int,
                        seq_len: int) -> list[dict[str, np.ndarray]]:
    """Calibration feeds of one fixed shape (Neural Compressor stacks them: shapes must agree).

    The last batch is completed with the first sentences again, so no sentence is dropped.
    """
    texts = list(texts)
    n_batches = max(1, -(-len(texts) // batch_size))
    padded = (texts * (1 + n_batches * batch_size // max(len(texts), 1)))[:n_batches * batch_size]
    out = []
    for i in range(n_batches):
        enc = tokenizer(padded[i * batch_size:(i + 1) * batch_size], padding="max_length",
                        truncation=True, max_length=seq_len, return_tensors="np")
        feed = {k: np.asarray(enc[k], dtype=np.int64) for k in input_names if k in enc}
        if "token_type_ids" in input_names and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        out.append(feed)
    return out


class FeedReader:
    """ONNX Runtime ``CalibrationDataReader`` over prepared feeds (deep-copyable, rewindable)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self.feeds = feeds
        self._i = 0

    def get_next(self) -> dict | None:
        if self._i >= len(self.feeds):
            return None
        self._i += 1
        return self.feeds[self._i - 1]

    def rewind(self) -> None:
        self._i = 0

    def __len__(self) -> int:
        return len(self.feeds)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.feeds)


def calibration_seq_len(tokenizer, texts: Sequence[str], max_length: int) -> int:
    """One padding length for all calibration batches: the longest text (capped at max_length)."""
    lens = [len(x) for x in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    return int(min(max_length, max(lens)))


@dataclass
class Calibration:
    """Everything the static builds of one params file share."""

    unfused: Path
    feeds: list[dict[str, np.ndarray]]
    held_out: list[str]
    source: str
    seq_len: int
    n_sentences: int

    @property
    def key(self) -> str:
        h = hashlib.sha256()
        for f in self.feeds:
            h.update(repr(f["input_ids"].shape).encode())
            h.update(f["input_ids"].tobytes())
        return h.hexdigest()[:10]


def prepare_calibration(P: Params) -> Calibration:
    """Unfused FP32 graph (SmoothQuant needs LayerNorm -> MatMul) and fixed-shape calibration feeds."""

    src = unfused_onnx(P)
    tok = load_tokenizer(resolve_model_dir(P))
    calib, held_out, source = calibration_split(P)
    seq_len = calibration_seq_len(tok, calib, P.max_length)
    feeds = fixed_shape_batches(tok, calib, onnx_input_names(src), min(P.batch_size, len(calib)), seq_len)
    return Calibration(src, feeds, held_out, source, seq_len, len(calib))
