"""UMLS MRCONSO.RRF: the exact 18-field layout, streamed (the real file is tens of GB)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd
from tqdm.auto import tqdm

from ..errors import DataFormatError

log = logging.getLogger("lib.data.umls")

MRCONSO_COLUMNS = ["CUI", "LAT", "TS", "LUI", "STT", "SUI", "ISPREF", "AUI", "SAUI", "SCUI", "SDUI",
                   "SAB", "TTY", "CODE", "STR", "SRL", "SUPPRESS", "CVF"]


def iter_mrconso(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, 18 fields) per row; a wrong field count or bad encoding names file and line."""
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise DataFormatError(path, f"not UTF-8 ({err.reason} at byte {err.start})", line=line_no) from None
            if not line:
                continue
            fields = line.split("|")
            if fields[-1] == "":
                fields = fields[:-1]  # the trailing '|'
            if len(fields) != len(MRCONSO_COLUMNS):
                raise DataFormatError(path, f"expected {len(MRCONSO_COLUMNS)} pipe-separated fields "
                                      f"and a trailing '|', got {len(fields)}", line=line_no)
            if not fields[0].startswith("C"):
                raise DataFormatError(path, f"CUI {fields[0]!r} does not look like a UMLS CUI",
                                      line=line_no, field="CUI")
            yield line_no, fields


def read_mrconso(path: str | Path, languages: Iterable[str] | None = ("ENG",),
                 sources: Iterable[str] | None = None, keep_suppressed: bool = False) -> pd.DataFrame:
    """Filtered MRCONSO rows; ``.attrs['skipped']`` counts what each filter removed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: MRCONSO.RRF not found (set umls_mrconso in params)")
    langs = set(languages) if languages else None
    sabs = set(sources) if sources else None
    rows, skipped = [], {"language": 0, "source": 0, "suppressed": 0}
    for _, f in tqdm(iter_mrconso(path), desc=f"read {path.name}", unit=" rows", mininterval=5.0):
        if langs and f[1] not in langs:
            skipped["language"] += 1
        elif sabs and f[11] not in sabs:
            skipped["source"] += 1
        elif not keep_suppressed and f[16] in {"O", "E", "Y"}:
            skipped["suppressed"] += 1
        else:
            rows.append(f)
    df = pd.DataFrame(rows, columns=MRCONSO_COLUMNS)
    df.attrs.update(source=str(path), skipped=skipped, filters={"LAT": sorted(langs or []),
                    "SAB": sorted(sabs or []), "keep_suppressed": keep_suppressed})
    log.info("%s: kept %d rows, skipped %s", path, len(df), skipped)
    return df


def write_mrconso(df: pd.DataFrame, path: Path) -> Path:
    """Write rows in the exact RRF layout (pipe-separated, trailing '|', no header)."""
    missing = [c for c in MRCONSO_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"missing MRCONSO columns: {missing}")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for rec in df[MRCONSO_COLUMNS].astype(str).itertuples(index=False):
            f.write("|".join(rec) + "|\n")
    return path
