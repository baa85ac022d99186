"""Olive *user script* of the OpenVINO passes (:mod:`lib.compress.olive.openvino`): the calibration feeds
as an Olive data config. Olive imports this file by path; nothing in ``lib`` imports it (it imports Olive's
registry at module level, which Olive needs to find the two functions by name).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from olive.data.registry import Registry


def read_feeds(data_file: str | Path) -> list[dict[str, np.ndarray]]:
    """The fixed-shape calibration batches saved by ``lib.compress.olive.openvino.save_feeds``."""
    with np.load(data_file, allow_pickle=False) as z:
        n = int(z["n_batches"])
        return [{k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(f"b{i}/")} for i in range(n)]


@Registry.register_dataset()
def lib_calibration_feeds(data_file: str, **kwargs):
    """(feeds, label) pairs: OpenVINOQuantization's default transform keeps the feeds, drops the label."""
    return [(f, 0) for f in read_feeds(data_file)]


@Registry.register_dataloader()
def lib_passthrough_dataloader(dataset, batch_size=None, **kwargs):
    """The batches as they are (already fixed-shape batches of the calibration set)."""
    return dataset
