"""MedSTS (licensed): CSV ``sentence1,sentence2,score`` with scores 0-5, header optional."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lib.data.public import read_sts_csv


def read_medsts(path: str | Path) -> pd.DataFrame:
    """MedSTS pairs; every problem (encoding, layout, score, no rows) is a DataFormatError naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: MedSTS file not found (set medsts in params)")
    df = read_sts_csv(path, 5.0)
    df.attrs.update(name="medsts", source=str(path))
    return df
