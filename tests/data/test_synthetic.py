"""The synthetic MRCONSO writer (lib.data.synthetic): rows the strict reader accepts, UMLS's shape, seeded."""

from __future__ import annotations

import pandas as pd
import pytest

from lib.data import synthetic, umls


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


def test_synthetic_identifiers_and_sources_follow_the_row_number_and_language(tmp_path):
    f = synthetic.write_synthetic_mrconso(tmp_path / "MRCONSO.RRF", 300, seed=3)
    df = pd.DataFrame([r for _, r in umls.iter_mrconso(f)], columns=umls.MRCONSO_COLUMNS)
    rows = range(1, 301)
    assert df.SUI.tolist() == [f"S{i:07d}" for i in rows] and df.AUI.tolist() == [f"A{i:08d}" for i in rows]
    assert df.LUI.tolist() == [f"L{i // 2 + 1:07d}" for i in rows]
    assert all(sab in synthetic.LANGUAGES[lat][1] for lat, sab in zip(df.LAT, df.SAB))
    assert ((df.TS == "P") == (df.ISPREF == "Y")).all()
    assert (df.CUI.str[1:].astype(int).diff().dropna().isin([0, 1])).all()   # C0000001, C0000002, ... in order
