"""MRCONSO (lib.data.umls): streamed (iter_mrconso_blocks) and fed to the store; read column-wise like the
line-by-line reader; bad input (empty files, filters keeping nothing, bad lines and bytes) named by file and
physical line; gzip'd files read transparently. The synthetic writer: tests/data/test_synthetic.py.

Memory staying flat is measured (see the scale-out report), not unit-tested: these check the rows.
"""

from __future__ import annotations

import gzip
import hashlib
import random
from pathlib import Path

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


def test_filters_record_is_sorted_and_empty_means_no_filter(licensed_fixtures):
    assert umls.mrconso_filters(["FRE", "ENG", "ENG"], None, False) == \
        {"LAT": ["ENG", "FRE"], "SAB": [], "keep_suppressed": False}
    assert umls.mrconso_filters([], [], True) == {"LAT": [], "SAB": [], "keep_suppressed": True}
    everything = umls.read_mrconso(licensed_fixtures["umls_mrconso"], languages=[], sources=[], keep_suppressed=True)
    assert len(everything) == 18


# -----------------------------------------------------------------------------------------------
# Bad input fails at once naming the file and the physical line; the column-wise reader matches the line-by-line one


def mrconso_line(cui: str = "C0000001", lat: str = "ENG", sab: str = "MSH", supp: str = "N",
                 string: str = "Fever", n: int = 1) -> str:
    return "|".join([cui, lat, "P", f"L{n:07d}", "PF", f"S{n:07d}", "Y", f"A{n:08d}", "", "", "",
                     sab, "PT", f"D{n:06d}", string, "0", supp, ""]) + "|\n"


def test_mrconso_empty_file_is_an_error(tmp_path):
    f = tmp_path / "MRCONSO.RRF"
    f.write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"MRCONSO.RRF: empty file"):
        umls.read_mrconso(f)
    f.write_bytes(b"\n\n")
    with pytest.raises(DataFormatError, match=r"MRCONSO.RRF: empty file"):
        umls.read_mrconso(f)


def test_mrconso_filter_keeping_nothing_names_filters_and_counts(licensed_fixtures):
    path = licensed_fixtures["umls_mrconso"]
    with pytest.raises(DataFormatError) as err:
        umls.read_mrconso(path, languages=["SPA"])
    msg = str(err.value)
    assert str(path) in msg and "no rows kept" in msg
    assert "'SPA'" in msg and "'language': 18" in msg
    with pytest.raises(DataFormatError, match=r"SAB.*'NOPE'.*'source': 12"):
        umls.read_mrconso(path, languages=["ENG"], sources=["NOPE"])


def _random_mrconso(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as f:
        for i in range(n):
            if rng.random() < 0.02:
                f.write("\n")  # blank lines are skipped, but still count as physical lines
            f.write(mrconso_line(f"C{i:07d}", rng.choice(["ENG", "FRE", "SPA"]),
                                 rng.choice(["MSH", "SNOMEDCT_US", "MTH"]), rng.choice("NNNNOEY"),
                                 f"term {i} é", n=i))


def test_mrconso_columnwise_matches_line_by_line(tmp_path, monkeypatch):
    monkeypatch.setattr(umls, "BLOCK_SIZE", 4096, raising=False)  # many blocks
    f = tmp_path / "MRCONSO.RRF"
    _random_mrconso(f, 3000)
    df = umls.read_mrconso(f, languages=["ENG", "FRE"], sources=["MSH", "MTH"])
    want, skipped = [], {"language": 0, "source": 0, "suppressed": 0}
    for _, r in umls.iter_mrconso(f):
        if r[1] not in {"ENG", "FRE"}:
            skipped["language"] += 1
        elif r[11] not in {"MSH", "MTH"}:
            skipped["source"] += 1
        elif r[16] in {"O", "E", "Y"}:
            skipped["suppressed"] += 1
        else:
            want.append(r)
    assert list(df.columns) == umls.MRCONSO_COLUMNS
    assert df.astype(str).values.tolist() == want
    assert df.attrs["skipped"] == skipped
    assert df.attrs["filters"] == {"LAT": ["ENG", "FRE"], "SAB": ["MSH", "MTH"], "keep_suppressed": False}


def test_mrconso_low_cardinality_columns_are_categorical_but_behave_as_strings(licensed_fixtures):
    df = umls.read_mrconso(licensed_fixtures["umls_mrconso"], languages=["ENG", "FRE"])
    for col in ("LAT", "TS", "STT", "ISPREF", "SAB", "TTY", "SUPPRESS", "SRL", "CVF"):
        assert isinstance(df[col].dtype, pd.CategoricalDtype), col
    assert (df.SAB == "MSH").sum() == 6 and df.SAB.isin(["MSHFRE"]).sum() == 6
    assert df.SAB.str.startswith("MSH").all() and df.CUI.str.startswith("C").all()
    assert isinstance(df.STR.tolist()[0], str) and isinstance(df.CUI.to_numpy()[0], str)


@pytest.mark.parametrize("bad,line,match", [
    ("X0000009|" + "|".join(["ENG"] + ["x"] * 16) + "|\n", 1202, r"line 1202, field 'CUI'"),
    ("C0000009|ENG|too|few|\n", 1202, r"line 1202: expected 18"),
    (mrconso_line().rstrip("\n") + "extra|\n", 1202, r"line 1202: expected 18"),
])
def test_mrconso_error_in_a_later_block_names_physical_line(tmp_path, monkeypatch, bad, line, match):
    monkeypatch.setattr(umls, "BLOCK_SIZE", 4096, raising=False)
    f = tmp_path / "MRCONSO.RRF"
    good = [mrconso_line(n=i) for i in range(1200)]
    f.write_text("".join(good[:600]) + "\n" + "".join(good[600:]) + bad + mrconso_line(), encoding="utf-8")
    assert line == 1200 + 1 + 1
    with pytest.raises(DataFormatError, match=match):
        umls.read_mrconso(f)


def test_mrconso_bad_utf8_in_a_later_block(tmp_path, monkeypatch):
    monkeypatch.setattr(umls, "BLOCK_SIZE", 4096, raising=False)
    f = tmp_path / "MRCONSO.RRF"
    f.write_bytes("".join(mrconso_line(n=i) for i in range(500)).encode()
                  + mrconso_line(string="caf\udce9").encode("utf-8", "surrogateescape"))
    with pytest.raises(DataFormatError, match=r"line 501: not UTF-8"):
        umls.read_mrconso(f)


def _gzip_copy(src: Path, dest: Path) -> Path:
    dest.write_bytes(gzip.compress(src.read_bytes()))
    return dest


def test_gzipped_mrconso_read_transparently(licensed_fixtures, tmp_path):
    plain = umls.read_mrconso(licensed_fixtures["umls_mrconso"])
    gz = umls.read_mrconso(_gzip_copy(licensed_fixtures["umls_mrconso"], tmp_path / "MRCONSO.RRF"))
    pd.testing.assert_frame_equal(gz, plain)
