"""MedSTS (licensed): CSV ``sentence1,sentence2,score`` with scores 0-5, header optional."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DataFormatError
from .public import read_sts_csv


def read_medsts(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: MedSTS file not found (set medsts in params)")
    try:
        df = read_sts_csv(path, 5.0)
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"not UTF-8 ({err.reason} at byte {err.start})") from None
    df.attrs.update(name="medsts", source=str(path))
    return df
