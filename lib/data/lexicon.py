"""The French lay lexicon (the paper's LEX): TXT/CSV with six named columns."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Iterator, TextIO

import pandas as pd

from lib.data.textio import open_text
from lib.errors import DataFormatError

LEX_COLUMNS = ["Terme", "Taux de complexité", "Indice de comparaison", "Explication au grand public",
               "Taux de simplification", "Sources"]
NUMERIC = ["Taux de complexité", "Indice de comparaison", "Taux de simplification"]


def source_text(term: str, explanation: str) -> str:
    """The paper's source text: the term followed by its public explanation (when there is one)."""
    explanation = (explanation or "").strip()
    return f"{term.strip()} : {explanation}" if explanation else term.strip()


def _records(path: Path, f: TextIO) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Header and (first physical line, fields) per record; quoted newlines stay in their cell.

    The delimiter is sniffed on the header line only: explanations are free text full of commas.
    """
    first = f.readline()
    if not first.strip():
        if not f.read().strip():
            raise DataFormatError(path, "empty file (expected a header line with the lexicon columns)")
        raise DataFormatError(path, "blank first line: the header must be line 1", line=1)
    try:
        dialect = csv.Sniffer().sniff(first.rstrip("\r\n"), delimiters=",;\t")
    except csv.Error:
        raise DataFormatError(path, "cannot tell the delimiter of the header (comma, semicolon or tab)",
                              line=1) from None
    reader = csv.reader(itertools.chain([first], f), dialect)
    header = next(reader)

    def records() -> Iterator[tuple[int, list[str]]]:
        end = reader.line_num
        try:
            for rec in reader:
                yield end + 1, rec
                end = reader.line_num
        except csv.Error as err:
            raise DataFormatError(path, f"malformed CSV ({err})", line=end + 1) from None
    return header, records()


def read_lexicon(path: str | Path) -> pd.DataFrame:
    """Read LEX (comma, semicolon or tab separated, with header); validate columns and numbers.

    Plain or gzip'd, UTF-8 with or without BOM; line numbers (in errors and ``source_id``) are the
    physical line where the record starts. A file without data rows is an error, not an empty table.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: lay lexicon not found (set lay_lexicon in params)")
    rows, skipped_empty = [], 0
    with open_text(path) as f:
        header, records = _records(path, f)
        missing = [c for c in LEX_COLUMNS if c not in header]
        if missing:
            raise DataFormatError(path, f"missing columns {missing} (found {header})", line=1)
        for line, rec in records:
            if not any(x.strip() for x in rec):
                skipped_empty += 1
                continue
            if len(rec) != len(header):
                raise DataFormatError(path, f"expected {len(header)} fields, got {len(rec)}", line=line)
            row: dict = dict(zip(header, rec))
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
    skipped = {"empty_lines": skipped_empty}
    if not rows:
        what = "header only, no data rows" if not skipped_empty else f"no data rows (skipped {skipped})"
        raise DataFormatError(path, what)
    df = pd.DataFrame(rows)
    dup = df["Terme"].duplicated(keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        raise DataFormatError(path, f"duplicate term {first['Terme']!r} (lines "
                              f"{', '.join(map(str, df[df.Terme == first.Terme]._line))})", field="Terme")
    df["source_id"] = [f"LEX:{i}" for i in df["_line"]]
    df["source_text"] = [source_text(t, e) for t, e in zip(df.Terme, df["Explication au grand public"])]
    df.attrs.update(source=str(path), skipped=skipped)
    return df.drop(columns="_line")


def write_lexicon(df: pd.DataFrame, path: Path, delimiter: str = ";") -> Path:
    df[LEX_COLUMNS].to_csv(path, sep=delimiter, index=False, encoding="utf-8")
    return path
