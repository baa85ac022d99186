"""The on-disk embedding cache, keyed by the encoder's content fingerprint, its settings and the exact texts.

Each entry is a ``.npy`` file with a checksum record beside it (:func:`lib.atomic.save_npy_checked`):
the key says which vectors belong to which inputs, the checksum that the bytes read are the bytes
written. A file altered on disk (one flipped byte) is logged, removed and recomputed, never returned.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from lib import atomic, paths
from lib.engines.encoder import Encoder

log = logging.getLogger("lib.engines.cache")


def cache_key(enc: Encoder, texts: Sequence[str]) -> str:
    """Digest of the encoder's content fingerprint, the settings that shape its vectors (the engine's own
    batching: dynamic-INT8 vectors depend on which strings share a call), the texts."""
    h = hashlib.sha256()
    h.update(json.dumps([enc.fingerprint, enc.P.pooling, enc.P.max_length, enc.P.batch_size,
                         dataclasses.asdict(enc.batching)]).encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def _load_vectors(n: int):
    def load(path: Path) -> np.ndarray:
        vec = atomic.load_npy_checked(path)
        if vec.ndim != 2 or vec.shape[0] != n or vec.dtype != np.float32:
            raise ValueError(f"expected float32 ({n}, dim), found {vec.dtype} {vec.shape}")
        return vec
    return load


def embed(enc: Encoder, texts: Sequence[str], use_cache: bool = True) -> np.ndarray:
    """Encode with an on-disk cache keyed by model content, format, settings and the exact texts.

    The cache file is written atomically with its checksum; one that fails to load (truncated, wrong
    shape, a byte that no longer matches the checksum, no checksum record) is logged with its path,
    removed and recomputed.
    """
    texts = list(texts)
    if not use_cache:
        return enc.encode(texts)
    path = paths.cache_dir() / "embeddings" / f"{cache_key(enc, texts)}.npy"
    if path.exists():
        log.info("embeddings from cache %s", path)
    return atomic.load_or_rebuild(path, _load_vectors(len(texts)),
                                  lambda p: atomic.save_npy_checked(p, enc.encode(texts)), what="embedding cache")
