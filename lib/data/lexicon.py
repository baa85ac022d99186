"""The French lay lexicon (the paper's LEX): TXT/CSV with six named columns."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from ..errors import DataFormatError

LEX_COLUMNS = ["Terme", "Taux de complexité", "Indice de comparaison", "Explication au grand public",
               "Taux de simplification", "Sources"]
NUMERIC = ["Taux de complexité", "Indice de comparaison", "Taux de simplification"]


def source_text(term: str, explanation: str) -> str:
    """The paper's source text: the term followed by its public explanation (when there is one)."""
    explanation = (explanation or "").strip()
    return f"{term.strip()} : {explanation}" if explanation else term.strip()


def read_lexicon(path: str | Path) -> pd.DataFrame:
    """Read LEX (comma, semicolon or tab separated, with header); validate columns and numbers."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: lay lexicon not found (set lay_lexicon in params)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"not UTF-8 ({err.reason} at byte {err.start})") from None
    dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t")
    reader = csv.reader(text.splitlines(), dialect)
    header = next(reader)
    missing = [c for c in LEX_COLUMNS if c not in header]
    if missing:
        raise DataFormatError(path, f"missing columns {missing} (found {header})", line=1)
    rows, skipped_empty = [], 0
    for line, rec in enumerate(reader, start=2):
        if not any(x.strip() for x in rec):
            skipped_empty += 1
            continue
        if len(rec) != len(header):
            raise DataFormatError(path, f"expected {len(header)} fields, got {len(rec)}", line=line)
        row = dict(zip(header, rec))
        for col in NUMERIC:
            v = row[col].strip().replace(",", ".")
            if v:
                try:
                    row[col] = float(v)
                except ValueError:
                    raise DataFormatError(path, f"not a number: {row[col]!r}", line=line, field=col) from None
            else:
                row[col] = float("nan")
        if not row["Terme"].strip():
            raise DataFormatError(path, "empty term", line=line, field="Terme")
        row["_line"] = line
        rows.append(row)
    df = pd.DataFrame(rows)
    dup = df["Terme"].duplicated(keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        raise DataFormatError(path, f"duplicate term {first['Terme']!r} (lines "
                              f"{', '.join(map(str, df[df.Terme == first.Terme]._line))})", field="Terme")
    df["source_id"] = [f"LEX:{i}" for i in df["_line"]]
    df["source_text"] = [source_text(t, e) for t, e in zip(df.Terme, df["Explication au grand public"])]
    df.attrs.update(source=str(path), skipped={"empty_lines": skipped_empty})
    return df.drop(columns="_line")


def write_lexicon(df: pd.DataFrame, path: Path, delimiter: str = ";") -> Path:
    df[LEX_COLUMNS].to_csv(path, sep=delimiter, index=False, encoding="utf-8")
    return path
