"""The encoder contract shared by every engine: length-sorted, token-budgeted batches in, L2-normalised
float32 sentence vectors out.

Both engines (:mod:`lib.engines.torch`, :mod:`lib.engines.ort`) batch, pad, pool and fingerprint here,
so they differ only in their tokenizer call and their forward function.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from lib.engines.batching import pad_batch, pool, token_budget_batches
from lib.fingerprint import engine_versions, file_digest, settings_key
from lib.params import Params

log = logging.getLogger("lib.engines.encoder")


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Indices grouped so each batch holds strings of similar length (less padding)."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


@dataclass(frozen=True)
class Batching:
    """How an engine groups strings into forward calls under dynamic padding: at most ``token_budget``
    padded tokens and ``max_rows`` strings per call. Each engine has its own (params ``token_budget``
    for PyTorch, ``ort_token_budget``/``ort_max_rows`` for ONNX Runtime: each is fastest at its own).

    Part of every encoder's fingerprint: dynamic-INT8 vectors depend on which strings share a call
    (the activation scale is computed per call), so vectors made with other batching are others."""

    token_budget: int
    max_rows: int

    def plan(self, lengths: np.ndarray, P: Params) -> tuple[list[np.ndarray], int | None]:
        """(batches of indices, fixed length). The paper's ``mean_unmasked_padded`` pools over padding,
        so it keeps the paper's batches whatever the engine: rows of ``P.batch_size`` padded to
        ``P.max_length``. Every other pooling pads per batch, batches cut by this budget."""
        if P.pooling == "mean_unmasked_padded":
            return token_budget_batches(np.full_like(lengths, P.max_length), P.batch_size * P.max_length,
                                        P.batch_size), P.max_length
        return token_budget_batches(lengths, self.token_budget, self.max_rows), None


def encoder_fingerprint(model_fp: str, fmt: str, batching: Batching, artifact: Path | None = None) -> str:
    """Content key of an encoder's vectors: the model folder's bytes, the format, the engine library
    versions, the artifact file's bytes (ONNX formats) and the batching, so a cache can never hand
    these vectors to another model, build, runtime or batching."""
    parts = [model_fp, fmt, settings_key(**engine_versions())]
    if artifact is not None:
        parts.append(file_digest(artifact)[:12])
    return "-".join(parts + [settings_key(**asdict(batching))])


def encode_ids(ids: Sequence[Sequence[int]], forward: Callable[[dict], np.ndarray], P: Params,
               batching: Batching, pad_id: int = 0, desc: str = "encode", progress: bool = True) -> np.ndarray:
    """Sentence vectors (input order) from token ids: plan the batches, pad, run ``forward`` (feeds of
    int64 ``input_ids``, ``attention_mask``, zero ``token_type_ids`` -> token states), pool."""
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    batches, fixed = batching.plan(lengths, P)
    out = np.zeros((len(ids), 0), dtype=np.float32)
    for idx in tqdm(batches, desc=desc, disable=not progress, mininterval=2.0):
        input_ids, mask = pad_batch([ids[i] for i in idx], fixed, pad_id)
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        vec = pool(forward(feeds), mask, P.pooling)
        if out.shape[1] == 0:
            out = np.zeros((len(ids), vec.shape[1]), dtype=np.float32)
        out[idx] = vec
    return out


def tokenize(tokenizer, texts: Sequence[str], P: Params, return_tensors: str = "np") -> dict:
    """Dynamic padding for 'cls'/'mean'; fixed padding to max_length for the paper's pooling."""
    padding = "max_length" if P.pooling == "mean_unmasked_padded" else "longest"
    return dict(tokenizer(list(texts), padding=padding, truncation=True, max_length=P.max_length,
                          return_tensors=return_tensors))


class Encoder(Protocol):
    name: str
    fmt: str
    fingerprint: str
    P: Params
    batching: Batching
    info: dict
    identity: dict       # lib.engines.hub.identity of the model, for result records

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray: ...


class RuntimeEncoder:
    """What the ONNX Runtime and OpenVINO engines share (one copy): a timed ``forward`` over the runtime's
    ``_forward`` (set by the engine from its session / compiled model), ``encode`` through the Rust
    tokenizer and :func:`encode_ids`, and the model ``identity`` for result records. The engine's
    dataclass provides ``name``, ``fmt``, ``P``, ``tokenizer``, ``pad_id``, ``info``, ``batch_times`` and
    ``batching``."""

    @property
    def identity(self) -> dict:
        """The model's identity (:func:`lib.engines.hub.identity`), for the result record."""
        return dict(self.info.get("identity") or {})

    def forward(self, feeds: dict) -> np.ndarray:
        """Token states of one padded batch (one inference call, timed into ``batch_times``)."""
        t0 = time.perf_counter()
        out = self._forward(feeds)
        self.batch_times.append(time.perf_counter() - t0)
        return out

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """Tokenise everything in one Rust call, then :func:`encode_ids`."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        return encode_ids(ids, self.forward, self.P, self.batching, self.pad_id,
                          f"encode {self.name} [{self.fmt}]", progress)
