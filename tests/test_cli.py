"""`python -m lib align` (lib.cli): MRCONSO or a store in, the main and extensive tables out, the
same tables with and without Dask, reruns that reuse the store and its vectors, errors that name the
file and line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lib import cli
from lib.data.store import write_store
from lib.errors import DataFormatError

ROOT = Path(__file__).resolve().parents[1]


def align(*args: str) -> dict:
    assert cli.main(["align", "--params", "tiny", "--format", "onnx-fp32", *args]) == 0
    out = Path(args[args.index("--out") + 1])
    return json.loads((out / "align.json").read_text())


def test_mrconso_through_dask_and_in_process_give_the_same_tables(licensed_fixtures, tmp_path):
    lex, rrf = str(licensed_fixtures["lay_lexicon"]), str(licensed_fixtures["umls_mrconso"])
    first = align("--lexicon", lex, "--targets", rrf, "--workers", "1", "--out", str(tmp_path / "dask"))
    again = align("--lexicon", lex, "--targets", rrf, "--workers", "0", "--out", str(tmp_path / "plain"))
    assert first["n_targets"] == 6 and first["n_sources"] == 6 and first["concept_column"] == "CUI"
    assert first["workers"] == 1 and again["workers"] == 0
    assert first["embedded_partitions"] == 1 and again["embedded_partitions"] == 0  # store and vectors reused
    assert again["store"] == first["store"] and 0 <= first["metrics"]["acc@1"] <= 1
    for stem in ("align.main", "align.extensive"):
        a, b = (pd.read_csv(tmp_path / d / f"{stem}.csv", keep_default_na=False) for d in ("dask", "plain"))
        pd.testing.assert_frame_equal(a, b)
    main = pd.read_csv(tmp_path / "dask" / "align.main.csv", keep_default_na=False)
    assert {"pred_str", "pred_concept", "pred_id", "gold_cui", "correct"} <= set(main.columns)
    assert main.pred_concept.str.startswith("C900000").all()
    ext = pd.read_csv(tmp_path / "dask" / "align.extensive.csv")
    assert len(ext) == 6 * 6 and {"rank", "score", "CUI", "SAB", "STR"} <= set(ext.columns)


def test_plain_lexicon_against_a_store_without_cui(tmp_path):
    mesh_like = pd.DataFrame({"CODE": ["D1", "D2", "D3"], "STR": ["skin rash", "fever", "hearing loss"]})
    write_store([mesh_like], tmp_path / "store", partition_rows=256)
    (tmp_path / "lay.csv").write_text("term,gold\nrash on the skin,D1\nhigh fever,D9;D2\n", encoding="utf-8")
    summary = align("--lexicon", str(tmp_path / "lay.csv"), "--targets", str(tmp_path / "store"), "--workers", "0",
                    "--top-k", "2", "--out", str(tmp_path / "out"))
    assert summary["concept_column"] == "CODE" and summary["top_k"] == 2
    main = pd.read_csv(tmp_path / "out" / "align.main.csv", keep_default_na=False)
    assert main.source_id.tolist() == ["ROW:2", "ROW:3"] and set(main.pred_concept) <= {"D1", "D2", "D3"}
    assert summary["metrics"]["n"] == 2
    with pytest.raises(SystemExit, match="CUI"):
        align("--lexicon", str(tmp_path / "lay.csv"), "--targets", str(tmp_path / "store"), "--workers", "0",
              "--concept-column", "CUI", "--out", str(tmp_path / "out2"))


def test_a_bad_mrconso_line_is_named(licensed_fixtures, tmp_path):
    rrf = tmp_path / "MRCONSO.RRF"
    lines = Path(licensed_fixtures["umls_mrconso"]).read_text(encoding="utf-8").splitlines(keepends=True)
    rrf.write_text("".join(lines[:4] + ["C1|ENG|P|too few fields|\n"] + lines[4:]), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"MRCONSO\.RRF, line 5"):
        align("--lexicon", str(licensed_fixtures["lay_lexicon"]), "--targets", str(rrf), "--workers", "0",
              "--out", str(tmp_path / "out"))


def test_read_sources_rejects_an_empty_term(tmp_path):
    (tmp_path / "lay.csv").write_text("term\nfever\n\nrash\n \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"lay.csv, line 5, field 'term': empty term"):
        cli.read_sources(tmp_path / "lay.csv")
    (tmp_path / "ok.csv").write_text("term\nfever\n\nrash\n", encoding="utf-8")
    sources, gold = cli.read_sources(tmp_path / "ok.csv")
    assert sources.source_id.tolist() == ["ROW:2", "ROW:4"] and gold is None


def test_python_dash_m_lib_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "lib", "align", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "--scheduler" in out.stdout and "--workers" in out.stdout


def test_the_index_option_searches_codes_with_rescoring_and_is_recorded(tmp_path):
    """--index binary: codes written beside the vectors, the same top-1 as exact on these well separated
    strings (rescoring a candidate pool as large as the store), and the run says which index it used."""
    targets = pd.DataFrame({"CODE": [f"D{i}" for i in range(6)],
                            "STR": ["skin rash", "fever", "hearing loss", "headache", "back pain", "cough"]})
    write_store([targets], tmp_path / "store", partition_rows=256)
    (tmp_path / "lay.csv").write_text("term\nskin rash\nfever\ncough\n", encoding="utf-8")
    args = ["--lexicon", str(tmp_path / "lay.csv"), "--targets", str(tmp_path / "store"), "--top-k", "3"]
    exact = align(*args, "--workers", "0", "--out", str(tmp_path / "exact"))
    binary = align(*args, "--workers", "1", "--index", "binary", "--out", str(tmp_path / "binary"))
    assert exact["index"] == "exact" and binary["index"] == "binary" and binary["rescore_multiplier"] >= 2
    assert list((tmp_path / "store" / "vectors").glob("*/part-00000.binary.npz"))
    a, b = (pd.read_csv(tmp_path / d / "align.main.csv", keep_default_na=False) for d in ("exact", "binary"))
    assert a.pred_id.tolist() == b.pred_id.tolist() == [0, 1, 5]
    assert (abs(a.score - b.score) < 1e-6).all()  # rescored: exact scores
    with pytest.raises(SystemExit):
        cli.main(["align", "--params", "tiny", "--lexicon", "x", "--targets", "y", "--index", "int4"])
