"""Fixtures of the Olive tests: the public-data mirror (STS calibration split) and a fake model folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _mirror(data_mirror):
    """The STS calibration split comes from the public mirror (tests/conftest.py)."""


@pytest.fixture
def fake_model_dir(tmp_path) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"num_attention_heads": 4, "hidden_size": 64}))
    return tmp_path
