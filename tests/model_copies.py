"""Copies of the tiny model for the cache tests (tests/engines/test_cache.py, tests/test_fingerprint.py,
tests/compress/test_export.py): seeds with equal file names and sizes, weights swapped in place.
"""

from __future__ import annotations

import os
import shutil

import numpy as np

from lib import paths
from lib.engines import hub

TEXTS = ["heart pain", "abnormal skin of the hand", "fever", "small ear with hearing loss", "weak muscle"]


def _model_copy(tmp_path, seed: int, name: str = "model"):
    """A local model folder holding the tiny model of ``seed`` (same file names and sizes for every seed)."""
    src = hub.build_tiny_model(paths.models_dir() / f"tiny-seed{seed}", seed=seed)
    dest = tmp_path / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    return dest


def _overwrite_weights(folder, seed: int) -> None:
    """What fine-tuning in place does: new weights, same names and sizes."""
    src = hub.build_tiny_model(paths.models_dir() / f"tiny-seed{seed}", seed=seed)
    shutil.copy2(src / "model.safetensors", folder / "model.safetensors")


def _cos(a, b) -> float:
    return float(np.mean(np.sum(a * b, axis=1)))


def _swap_weights_keeping_mtime(folder, seed: int) -> None:
    """Another model's weights of equal size copied over, the old mtime restored (as `cp -p` or unzip do)."""
    weights = folder / "model.safetensors"
    st = weights.stat()
    src = hub.build_tiny_model(paths.models_dir() / f"tiny-seed{seed}", seed=seed) / "model.safetensors"
    assert src.stat().st_size == st.st_size
    shutil.copyfile(src, weights)
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert weights.stat().st_mtime_ns == st.st_mtime_ns and weights.stat().st_size == st.st_size
