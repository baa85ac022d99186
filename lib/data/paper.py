"""The paper's reported numbers, read from the one cited data file ``paper_reported.yaml``."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

PAPER_FILE = Path(__file__).with_name("paper_reported.yaml")


@functools.lru_cache(maxsize=1)
def reported() -> dict:
    """Tables 1-3, campaign ranges and the citation, exactly as transcribed in the YAML file."""
    return yaml.safe_load(PAPER_FILE.read_text(encoding="utf-8"))
