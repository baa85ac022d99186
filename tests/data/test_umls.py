"""MRCONSO streamed (lib.data.umls.iter_mrconso_blocks), fed to the store, and the synthetic writer.

Memory staying flat is measured (see the scale-out report), not unit-tested: these check the rows.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from lib.data import store, synthetic, umls
from lib.errors import DataFormatError

FILTERS = [dict(languages=["ENG", "FRE"], sources=None, keep_suppressed=False),
           dict(languages=["ENG"], sources=["MSH"], keep_suppressed=False),
           dict(languages=None, sources=None, keep_suppressed=True)]


def as_rows(df: pd.DataFrame) -> list[list[str]]:
    return df[umls.MRCONSO_COLUMNS].astype(str).values.tolist()


@pytest.mark.parametrize("block_rows", [1, 4, None])
@pytest.mark.parametrize("filters", FILTERS)
def test_stream_gives_read_mrconso_rows(licensed_fixtures, block_rows, filters):
    path = licensed_fixtures["umls_mrconso"]
    whole = umls.read_mrconso(path, **filters)
    parts = list(umls.iter_mrconso_blocks(path, **filters, block_rows=block_rows))
    assert as_rows(pd.concat(parts, ignore_index=True)) == as_rows(whole)
    if block_rows:
        assert [len(p) for p in parts[:-1]] == [block_rows] * (len(parts) - 1) and 0 < len(parts[-1]) <= block_rows
    assert parts[-1].attrs["skipped"] == whole.attrs["skipped"]
    assert parts[-1].attrs["filters"] == whole.attrs["filters"] and parts[-1].attrs["rows_read"] == 18
    assert isinstance(parts[0]["SAB"].dtype, pd.CategoricalDtype)


def test_stream_over_many_parse_blocks_and_running_counts(tmp_path, monkeypatch):
    monkeypatch.setattr(umls, "BLOCK_SIZE", 4096)  # ~40 rows per parsed block
    f = synthetic.write_synthetic_mrconso(tmp_path / "MRCONSO.RRF", 3_000, seed=3)
    whole = umls.read_mrconso(f, languages=["ENG", "SPA"])
    parts = list(umls.iter_mrconso_blocks(f, languages=["ENG", "SPA"], block_rows=250))
    assert as_rows(pd.concat(parts, ignore_index=True)) == as_rows(whole)
    read = [p.attrs["rows_read"] for p in parts]
    skipped = [sum(p.attrs["skipped"].values()) for p in parts]
    assert read == sorted(read) and skipped == sorted(skipped) and read[-1] == 3_000
    assert parts[-1].attrs["skipped"] == whole.attrs["skipped"] and len(whole) + skipped[-1] == 3_000


def test_stream_raises_at_the_bad_line_after_yielding_the_rows_before(tmp_path, monkeypatch):
    monkeypatch.setattr(umls, "BLOCK_SIZE", 4096)
    f = synthetic.write_synthetic_mrconso(tmp_path / "MRCONSO.RRF", 2_000, seed=1)
    lines = f.read_bytes().splitlines(keepends=True)
    lines[1_500] = lines[1_500].replace(b"|", b"", 1)  # 17 fields
    f.write_bytes(b"".join(lines))
    got = []
    with pytest.raises(DataFormatError, match=r"MRCONSO.RRF, line 1501: expected 18"):
        for part in umls.iter_mrconso_blocks(f, languages=None, keep_suppressed=True, block_rows=100):
            got.append(part)
    assert 0 < sum(map(len, got)) <= 1_500
    with pytest.raises(DataFormatError, match="no rows kept"):
        list(umls.iter_mrconso_blocks(synthetic.write_synthetic_mrconso(tmp_path / "ok.RRF", 50),
                                      languages=["XXX"]))
    with pytest.raises(ValueError, match="block_rows"):
        next(umls.iter_mrconso_blocks(f, block_rows=0))


def test_write_mrconso_store_records_source_filters_and_counts(tmp_path):
    f = synthetic.write_synthetic_mrconso(tmp_path / "MRCONSO.RRF", 2_500, seed=2)
    m = store.write_mrconso_store(f, tmp_path / "store", languages=["ENG", "FRE"], partition_rows=400,
                                 version="synthetic-1")
    whole = umls.read_mrconso(f, languages=["ENG", "FRE"])
    assert m.source == {"name": "UMLS MRCONSO", "version": "synthetic-1", "file": str(f),
                        "bytes": f.stat().st_size, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
    assert m.filters == whole.attrs["filters"] and m.input_counts == whole.attrs["skipped"]
    assert m.total_rows == len(whole) and all(p.rows == 400 for p in m.partitions[:-1])
    s = store.open_store(tmp_path / "store")
    got = pd.concat([s.read_partition(i) for i in range(len(s.partitions))], ignore_index=True)
    assert got["id"].tolist() == list(range(len(whole))) and as_rows(got) == as_rows(whole)
    with pytest.raises(FileNotFoundError, match="MRCONSO.RRF not found"):
        store.write_mrconso_store(tmp_path / "nope.RRF", tmp_path / "s2")


# ------------------------------------------------------------------------------------------------
# the synthetic writer


def test_synthetic_rows_parse_with_the_strict_reader(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "CHUNK_ROWS", 1_000)  # several chunks, the last one short
    f = synthetic.write_synthetic_mrconso(tmp_path / "MRCONSO.RRF", 2_500, seed=7)
    rows = [r for _, r in umls.iter_mrconso(f)]  # raises on any line that is not 18 fields + '|'
    assert len(rows) == 2_500
    df = pd.DataFrame(rows, columns=umls.MRCONSO_COLUMNS)
    assert df.CUI.str.fullmatch(r"C\d{7}").all() and df.AUI.str.fullmatch(r"A\d{8}").all()
    assert df.CUI.is_monotonic_increasing and df.groupby("CUI").size().max() > 3
    assert df.CUI.nunique() < len(df) / 2  # CUIs group several strings
    assert set(df.LAT) >= {"ENG", "SPA", "FRE", "JPN"} and df.SAB.nunique() > 10
    assert set(df.SUPPRESS) == {"N", "O", "E", "Y"} and (df.SUPPRESS == "N").mean() > 0.8
    assert (df.STR != "").all() and df.STR.str.len().max() > 100 and df.STR.str.contains('"').any()
    assert not df.STR.str.contains("|", regex=False).any()
    msh = df[df.SAB.str.startswith("MSH")]
    assert (msh.CODE == msh.SDUI).all() and msh.SDUI.str.fullmatch(r"D\d{6}").all()
    assert f.read_bytes().endswith(b"|\n") and f.read_bytes().count(b"\n") == 2_500


def test_synthetic_writer_is_seeded(tmp_path):
    a = synthetic.write_synthetic_mrconso(tmp_path / "a.RRF", 500, seed=1).read_bytes()
    b = synthetic.write_synthetic_mrconso(tmp_path / "b.RRF", 500, seed=1).read_bytes()
    c = synthetic.write_synthetic_mrconso(tmp_path / "c.RRF", 500, seed=2).read_bytes()
    assert a == b and a != c
    with pytest.raises(ValueError, match="n_rows"):
        synthetic.write_synthetic_mrconso(tmp_path / "d.RRF", 0)
    assert not (tmp_path / "d.RRF").exists()


def test_filters_record_is_sorted_and_empty_means_no_filter(licensed_fixtures):
    assert umls.mrconso_filters(["FRE", "ENG", "ENG"], None, False) == \
        {"LAT": ["ENG", "FRE"], "SAB": [], "keep_suppressed": False}
    assert umls.mrconso_filters([], [], True) == {"LAT": [], "SAB": [], "keep_suppressed": True}
    everything = umls.read_mrconso(licensed_fixtures["umls_mrconso"], languages=[], sources=[], keep_suppressed=True)
    assert len(everything) == 18
