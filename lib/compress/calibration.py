"""Quantization inputs: the calibration set of every static INT8 build (sentences, the calibration key) and
the one builder of model feeds from token ids (:func:`row_feeds`).
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
from lib.engines.batching import pad_batch
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


def row_feeds(ids: Sequence[Sequence[int]], input_names: Sequence[str], batch_size: int,
              seq_len: int | None = None, pad_id: int = 0,
              types: Sequence[Sequence[int]] | None = None,
              extra: dict[str, Sequence[Sequence[int]]] | None = None) -> list[dict[str, np.ndarray]]:
    """Model feeds from rows of token ids: the one builder of quantization inputs (calibration of every
    static INT8 build, the quantization debugger's per-sentence feeds, the rerankers' calibration rows).

    With ``seq_len``, every batch has ``batch_size`` rows padded to ``seq_len`` (Neural Compressor and
    ONNX Runtime's calibrators stack the batches: shapes must agree), the last batch completed with the
    first rows again, so no row is dropped. Without it, each batch is padded to its own longest row
    (``batch_size=1``: unpadded rows, every position a real token). ``token_type_ids`` are ``types``
    where given, else zeros; ``extra``: more per-token int inputs by name (a reranker's ``position_ids``
    and ``attention_groups``), padded with 0; only the graph's ``input_names`` are fed.
    """
    rows = list(range(len(ids)))
    n_batches = max(1, -(-len(rows) // batch_size))
    if seq_len is not None:
        rows = (rows * (1 + n_batches * batch_size // max(len(rows), 1)))[:n_batches * batch_size]
    out = []
    for b in range(n_batches):
        part = rows[b * batch_size:(b + 1) * batch_size]
        if not part:
            break
        input_ids, mask = pad_batch([ids[r] for r in part], seq_len, pad_id)
        token_types = (pad_batch([types[r] for r in part], input_ids.shape[1], 0)[0] if types is not None
                       else np.zeros_like(input_ids))
        feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": token_types}
        for name, rows_of in (extra or {}).items():
            feed[name] = pad_batch([rows_of[r] for r in part], input_ids.shape[1], 0)[0]
        out.append({k: feed[k] for k in input_names if k in feed})
    return out


def text_feeds(tokenizer, texts: Sequence[str], input_names: Sequence[str], batch_size: int,
               seq_len: int | None, max_length: int | None = None) -> list[dict[str, np.ndarray]]:
    """:func:`row_feeds` of texts tokenized with the model's tokenizer (truncated to ``seq_len``, or to
    ``max_length`` when each batch keeps its own length)."""
    enc = tokenizer(list(texts), truncation=True, max_length=seq_len or max_length)
    return row_feeds(enc["input_ids"], input_names, batch_size, seq_len, tokenizer.pad_token_id or 0,
                     enc.get("token_type_ids"))


def feeds_key(feeds: Sequence[dict[str, np.ndarray]]) -> str:
    """Content key of a list of feeds (their token ids and shapes): names calibration-range caches and
    every artifact calibrated on them."""
    h = hashlib.sha256()
    for f in feeds:
        h.update(repr(f["input_ids"].shape).encode())
        h.update(f["input_ids"].tobytes())
    return h.hexdigest()[:10]


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
        return feeds_key(self.feeds)


def prepare_calibration(P: Params) -> Calibration:
    """Unfused FP32 graph (SmoothQuant needs LayerNorm -> MatMul) and fixed-shape calibration feeds."""

    src = unfused_onnx(P)
    tok = load_tokenizer(resolve_model_dir(P))
    calib, held_out, source = calibration_split(P)
    seq_len = calibration_seq_len(tok, calib, P.max_length)
    feeds = text_feeds(tok, calib, onnx_input_names(src), min(P.batch_size, len(calib)), seq_len)
    return Calibration(src, feeds, held_out, source, seq_len, len(calib))
