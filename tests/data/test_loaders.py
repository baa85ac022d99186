"""Bad input to the licensed loaders fails at once, naming the file (and line, filters, counts).

Each test is one reproduced case: empty files, filters that keep nothing, quoted newlines, BOMs,
legacy encodings, gzip'd inputs, and the column-wise MRCONSO reader matching the line-by-line one.
"""

from __future__ import annotations

import gzip
import random
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib.analysis import ratings
from lib.data import fixtures, lexicon, medsts, public, tiers, umls
from lib.errors import DataFormatError
from lib.search import align, topk

HEADER = ";".join(lexicon.LEX_COLUMNS)


def mrconso_line(cui: str = "C0000001", lat: str = "ENG", sab: str = "MSH", supp: str = "N",
                 string: str = "Fever", n: int = 1) -> str:
    return "|".join([cui, lat, "P", f"L{n:07d}", "PF", f"S{n:07d}", "Y", f"A{n:08d}", "", "", "",
                     sab, "PT", f"D{n:06d}", string, "0", supp, ""]) + "|\n"


# ------------------------------------------------------------------------------------------------
# 1. empty MRCONSO / filters keeping nothing / empty alignment inputs


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


class _NoEncoder:
    """Fails the test if anything tries to encode."""

    def __getattr__(self, name):
        raise AssertionError(f"encoder used ({name}) although the inputs are empty")


def _alignment_data(n_sources: int, n_targets: int) -> tiers.AlignmentData:
    src = pd.DataFrame({"source_id": [f"LEX:{i}" for i in range(n_sources)],
                        "source_text": ["fièvre"] * n_sources, "gold_cui": ["C1"] * n_sources})
    tgt = fixtures.mrconso_frame().iloc[:n_targets]
    return tiers.AlignmentData(src, tgt, "licensed", {"umls_file": "MRCONSO.RRF", "lexicon_file": "lex.csv"},
                               "gold_cui", "CUI")


def test_align_and_score_rejects_empty_inputs_before_encoding():
    P = types.SimpleNamespace(clean_text=False, language="fr", top_k=3, bootstrap=10, seed=0)
    with pytest.raises(ValueError, match=r"no targets.*MRCONSO.RRF"):
        align.align_and_score(_NoEncoder(), _alignment_data(2, 0), P)
    with pytest.raises(ValueError, match=r"no sources.*lex.csv"):
        align.align_and_score(_NoEncoder(), _alignment_data(0, 3), P)


def test_topk_rejects_empty_targets():
    with pytest.raises(ValueError, match="no targets"):
        topk.topk(np.ones((2, 4), np.float32), np.zeros((0, 4), np.float32), k=3)


def test_alignment_data_with_no_sources_is_an_error(monkeypatch):
    from lib import params

    empty = types.SimpleNamespace(lexicon=pd.DataFrame({"source_id": [], "source_text": [], "gold_hpos": []}),
                                  targets=fixtures.mrconso_frame(), version="test", source="hp.obo", counts={})
    monkeypatch.setattr(tiers, "load_hpo", lambda: empty)  # the name tiers calls
    with pytest.raises(ValueError, match=r"embedded tier.*0 sources"):
        tiers.alignment_data(params.load("tiny"))


# ------------------------------------------------------------------------------------------------
# 2. MRCONSO read column-wise: same rows, same errors, compact columns


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


# ------------------------------------------------------------------------------------------------
# 3. quoted newlines in the lexicon


def test_lexicon_quoted_newline_kept_and_lines_are_physical(tmp_path):
    f = tmp_path / "lex.csv"
    f.write_text(HEADER + '\nmal de tête;0.2;1;"douleur\ndans la tête";0.5;x\n'
                 "fièvre;abc;1;chaud;0.5;x\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 4, field 'Taux de complexité'"):
        lexicon.read_lexicon(f)
    f.write_text(HEADER + '\nmal de tête;0.2;1;"douleur\ndans la tête";0.5;x\nfièvre;0.1;1;chaud;0.5;x\n',
                 encoding="utf-8")
    lex = lexicon.read_lexicon(f)
    assert lex["Explication au grand public"][0] == "douleur\ndans la tête"
    assert lex.source_id.tolist() == ["LEX:2", "LEX:4"]


# ------------------------------------------------------------------------------------------------
# 4. Excel's "CSV UTF-8" (byte-order mark)


def test_lexicon_with_bom(tmp_path):
    f = tmp_path / "lex.csv"
    f.write_text(HEADER + "\nfièvre;0.1;1;chaud;0.5;x\n", encoding="utf-8-sig")
    assert lexicon.read_lexicon(f).Terme.tolist() == ["fièvre"]


def test_medsts_with_bom_and_header(tmp_path):
    f = tmp_path / "medsts.csv"
    f.write_text("sentence1,sentence2,score\na,b,3\n", encoding="utf-8-sig")
    assert medsts.read_medsts(f).score.tolist() == [3.0]


# ------------------------------------------------------------------------------------------------
# 5. empty and header-only files


@pytest.mark.parametrize("content,match", [
    ("", "empty file"),
    (HEADER + "\n", "header only, no data rows"),
    (HEADER + "\n;;;;;\n\n", r"no data rows.*'empty_lines': 2"),
])
def test_lexicon_empty_or_header_only(tmp_path, content, match):
    f = tmp_path / "lex.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"lex.csv.*" + match):
        lexicon.read_lexicon(f)


@pytest.mark.parametrize("content,match", [
    ("", "empty file"),
    ("\n", "empty file"),
    ("sentence1,sentence2,score\n", "header only, no data rows"),
])
def test_medsts_empty_or_header_only(tmp_path, content, match):
    f = tmp_path / "medsts.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"medsts.csv.*" + match):
        medsts.read_medsts(f)


# ------------------------------------------------------------------------------------------------
# 6. legacy encodings: file, line and byte


def test_expert_ratings_latin1(tmp_path):
    f = tmp_path / "experts.csv"
    f.write_bytes("source,target,rating\nS1,HP:1,4\nfièvre,HP:2,3\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"experts.csv, line 3: not UTF-8 .* at byte 33"):
        ratings.read_expert_ratings(f)


def test_lexicon_latin1_names_line(tmp_path):
    f = tmp_path / "lex.csv"
    f.write_bytes((HEADER + "\nmal;0.1;1;x;0.5;y\nfièvre;0.1;1;chaud;0.5;x\n").encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"lex.csv, line 1: not UTF-8 .* at byte 23"):  # 'é' of complexité
        lexicon.read_lexicon(f)
    f.write_bytes((HEADER + "\nmal;0.1;1;x;0.5;y\n").encode() + "fièvre;0.1;1;chaud;0.5;x\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"lex.csv, line 3: not UTF-8"):
        lexicon.read_lexicon(f)


@pytest.mark.parametrize("reader", [medsts.read_medsts, public.read_sts_csv])
def test_sts_csv_latin1_names_line(tmp_path, reader):
    f = tmp_path / "sts.csv"
    f.write_bytes("a,b,1\nc,d,2\nfièvre,chaud,3\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"sts.csv, line 3: not UTF-8"):
        reader(f)


# ------------------------------------------------------------------------------------------------
# 7. gzip'd inputs, recognised by their magic bytes


def _gzip_copy(src: Path, dest: Path) -> Path:
    dest.write_bytes(gzip.compress(src.read_bytes()))
    return dest


def test_gzipped_mrconso_read_transparently(licensed_fixtures, tmp_path):
    plain = umls.read_mrconso(licensed_fixtures["umls_mrconso"])
    gz = umls.read_mrconso(_gzip_copy(licensed_fixtures["umls_mrconso"], tmp_path / "MRCONSO.RRF"))
    pd.testing.assert_frame_equal(gz, plain)


def test_gzipped_lexicon_and_medsts_read_transparently(licensed_fixtures, tmp_path):
    lex = lexicon.read_lexicon(_gzip_copy(licensed_fixtures["lay_lexicon"], tmp_path / "lex.csv.gz"))
    assert len(lex) == len(fixtures.CONCEPTS)
    med = medsts.read_medsts(_gzip_copy(licensed_fixtures["medsts"], tmp_path / "medsts.csv"))
    assert len(med) == 5
