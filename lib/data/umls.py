"""UMLS MRCONSO.RRF: the exact 18-field layout, read column-wise (the real file is tens of GB).

The file is parsed by pyarrow in blocks and each block is filtered before the next is read, so memory
holds the kept rows as Arrow string buffers (plus one block), not 18 Python strings per row: pandas
wraps those buffers without copying (``large_string`` is what its ``str`` dtype stores), and the
columns with a handful of distinct values are dictionary-encoded per block and arrive as categoricals.

:func:`read_mrconso` returns the filtered table; :func:`iter_mrconso_blocks` streams it in frames of a
fixed row count (memory flat in the file size: the whole of UMLS, ~16M rows, is read that way into
:mod:`lib.data.store` by :func:`lib.data.store.write_mrconso_store`). Both consume one block reader and filter.

Validation is the line-by-line reader's: when a block does not parse or validate, :func:`iter_mrconso`
re-reads the file up to the bad line to name it (errors are rare: the slow path only runs on the way
to an error, and stops there).
"""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

from lib.data.textio import UTF8_BOM, is_gzip, open_binary
from lib.errors import DataFormatError

log = logging.getLogger("lib.data.umls")

MRCONSO_COLUMNS = ["CUI", "LAT", "TS", "LUI", "STT", "SUI", "ISPREF", "AUI", "SAUI", "SCUI", "SDUI",
                   "SAB", "TTY", "CODE", "STR", "SRL", "SUPPRESS", "CVF"]
CATEGORICAL = ["LAT", "TS", "STT", "ISPREF", "SAB", "TTY", "SRL", "SUPPRESS", "CVF"]  # few distinct values
SUPPRESSED = ["O", "E", "Y"]
BLOCK_SIZE = 1 << 20  # bytes parsed at a time: bigger blocks only raised the peak, not the speed
_END = "_end"  # the empty field after the trailing '|'


def iter_mrconso(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, 18 fields) per row; a wrong field count or bad encoding names file and line.

    The slow, exact reference: :func:`read_mrconso` uses it to locate errors its blocks ran into.
    """
    with open_binary(path) as f:
        for line_no, raw in enumerate(f, start=1):
            if line_no == 1 and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM):]
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise DataFormatError(path, f"not UTF-8 ({err.reason} at byte {err.start})", line=line_no) from None
            if not line:
                continue
            fields = line.split("|")
            if len(fields) != len(MRCONSO_COLUMNS) + 1 or fields[-1] != "":
                n = len(fields) - (fields[-1] == "")
                raise DataFormatError(path, f"expected {len(MRCONSO_COLUMNS)} pipe-separated fields "
                                      f"and a trailing '|', got {n}", line=line_no)
            fields = fields[:-1]
            if not fields[0].startswith("C"):
                raise DataFormatError(path, f"CUI {fields[0]!r} does not look like a UMLS CUI",
                                      line=line_no, field="CUI")
            yield line_no, fields


class _BadBlock(Exception):
    """A block that parsed but failed validation; the line is found by re-reading."""


def _blocks(path: Path) -> Iterator[pa.RecordBatch]:
    """Raw MRCONSO blocks: every field a string, no quoting (STR may hold '"'), gzip undone."""
    names = MRCONSO_COLUMNS + [_END]
    with pa.input_stream(str(path), compression="gzip" if is_gzip(path) else None) as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, block_size=BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(delimiter="|", quote_char=False, double_quote=False,
                                             escape_char=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.large_string() for c in names}))
        for batch in reader:
            if (pc.any(pc.not_equal(batch[_END], "")).as_py()
                    or not pc.all(pc.starts_with(batch["CUI"], "C")).as_py()):
                raise _BadBlock("a row with too many fields or a CUI not starting with 'C'")
            yield batch.drop_columns([_END])


def _locate(path: Path, err: Exception) -> DataFormatError:
    """The exact error (file, line, field) for a block the fast reader rejected (or could not open)."""
    try:
        rows = sum(1 for _ in iter_mrconso(path))  # raises at the first bad line
    except (EOFError, gzip.BadGzipFile, zlib.error) as bad:  # truncated or corrupt gzip
        return DataFormatError(path, f"corrupt gzip stream ({bad})")
    if rows == 0:
        return DataFormatError(path, "empty file (no MRCONSO rows)")
    return DataFormatError(path, f"cannot be read as MRCONSO ({err}); a stray carriage return in a field?")


def _isin(column: pa.ChunkedArray | pa.Array, values: list[str]) -> np.ndarray:
    return pc.is_in(column, value_set=pa.array(values, pa.large_string())).to_numpy(zero_copy_only=False)


def mrconso_filters(languages: Iterable[str] | None, sources: Iterable[str] | None,
                    keep_suppressed: bool) -> dict:
    """The filters as recorded in ``attrs['filters']`` and store manifests ([] = no filter)."""
    return {"LAT": sorted(set(languages or ())), "SAB": sorted(set(sources or ())), "keep_suppressed": keep_suppressed}


def _kept_batches(path: Path, languages: Iterable[str] | None, sources: Iterable[str] | None,
                  keep_suppressed: bool) -> Iterator[tuple[pa.RecordBatch, dict, int]]:
    """(kept rows, running skip counts, rows read so far) per parsed block: the one MRCONSO reader.

    Both :func:`read_mrconso` (whole table) and :func:`iter_mrconso_blocks` (streamed) consume it, so
    filtering, validation and error messages exist once. Low-cardinality columns are dictionary-encoded
    per block. The end of the stream raises when the file had no row or the filters kept none.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: MRCONSO.RRF not found (set umls_mrconso in params)")
    filters = mrconso_filters(languages, sources, keep_suppressed)
    langs, sabs = filters["LAT"] or None, filters["SAB"] or None
    skipped, total, kept_any = {"language": 0, "source": 0, "suppressed": 0}, 0, False
    progress = tqdm(desc=f"read {path.name}", unit=" rows", mininterval=5.0)
    try:
        for batch in _blocks(path):
            total += batch.num_rows
            progress.update(batch.num_rows)
            keep = np.ones(batch.num_rows, dtype=bool)
            for name, column, values, drop_if_in in (("language", "LAT", langs, False),
                                                     ("source", "SAB", sabs, False),
                                                     ("suppressed", "SUPPRESS",
                                                      None if keep_suppressed else SUPPRESSED, True)):
                if values is not None:
                    ok = _isin(batch[column], values) != drop_if_in
                    skipped[name] += int((keep & ~ok).sum())
                    keep &= ok
            batch = batch if keep.all() else batch.filter(pa.array(keep))
            kept_any = kept_any or batch.num_rows > 0
            yield (pa.RecordBatch.from_arrays(
                [pc.dictionary_encode(batch[c]) if c in CATEGORICAL else batch[c] for c in MRCONSO_COLUMNS],
                names=MRCONSO_COLUMNS), dict(skipped), total)
    except (pa.ArrowInvalid, OSError, _BadBlock) as err:
        raise _locate(path, err) from None
    finally:
        progress.close()
    if total == 0:
        raise DataFormatError(path, "empty file (no MRCONSO rows)")
    if not kept_any:
        raise DataFormatError(path, f"no rows kept: the filters {filters} removed all {total} rows "
                                    f"(skipped {skipped}); check umls_languages / umls_sources in params")


def _frame(batches: list[pa.RecordBatch], path: Path, filters: dict, skipped: dict, rows_read: int) -> pd.DataFrame:
    """Batches as one DataFrame: dictionary columns become categoricals (per-block dictionaries unified)."""
    df = pa.Table.from_batches(batches, schema=batches[0].schema).to_pandas()
    df.attrs.update(source=str(path), skipped=dict(skipped), filters=filters, rows_read=rows_read)
    return df


def iter_mrconso_blocks(path: str | Path, languages: Iterable[str] | None = ("ENG",),
                        sources: Iterable[str] | None = None, keep_suppressed: bool = False,
                        block_rows: int | None = 50_000) -> Iterator[pd.DataFrame]:
    """Filtered MRCONSO rows as DataFrames of ``block_rows`` rows (the last one shorter), in file order.

    Why: the whole of UMLS (~16M rows) does not fit in memory as a table; this holds one parsed block
    plus at most ``block_rows`` kept rows, whatever the file size. ``block_rows=None`` yields one frame
    per parsed block that kept rows. Each frame's ``attrs`` carry the running counts: ``skipped`` (per
    filter, so far), ``rows_read`` (so far), plus ``filters`` and ``source``. Errors are
    :func:`read_mrconso`'s, raised when the stream reaches them (frames before were already yielded).
    """
    path = Path(path)
    if block_rows is not None and block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    filters = mrconso_filters(languages, sources, keep_suppressed)
    pending: list[pa.RecordBatch] = []
    n_pending, skipped, total = 0, {}, 0
    for batch, skipped, total in _kept_batches(path, languages, sources, keep_suppressed):
        if batch.num_rows == 0:
            continue
        if block_rows is None:
            yield _frame([batch], path, filters, skipped, total)
            continue
        pending.append(batch)
        n_pending += batch.num_rows
        if n_pending < block_rows:
            continue
        table = pa.Table.from_batches(pending)
        start = 0
        while n_pending - start >= block_rows:
            yield _frame(table.slice(start, block_rows).to_batches(), path, filters, skipped, total)
            start += block_rows
        pending = table.slice(start).to_batches()
        n_pending -= start
    if n_pending:
        yield _frame(pending, path, filters, skipped, total)


def read_mrconso(path: str | Path, languages: Iterable[str] | None = ("ENG",),
                 sources: Iterable[str] | None = None, keep_suppressed: bool = False) -> pd.DataFrame:
    """Filtered MRCONSO rows; ``.attrs['skipped']`` counts what each filter removed.

    An empty file, or filters that keep no row, is an error naming the file, the filters and the
    counts: an empty target vocabulary would otherwise only fail after the sources were embedded.
    The whole table in memory; :func:`iter_mrconso_blocks` streams it instead.
    """
    path = Path(path)
    kept: list[pa.RecordBatch] = []
    skipped: dict = {}
    total = 0
    for batch, skipped, total in _kept_batches(path, languages, sources, keep_suppressed):
        kept.append(batch)
    df = _frame(kept, path, mrconso_filters(languages, sources, keep_suppressed), skipped, total)
    del kept
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
