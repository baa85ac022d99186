"""`python -m lib align` (lib.cli): MRCONSO or a store in, the main and extensive tables out, the
same tables with and without Dask, reruns that reuse the store and its vectors, errors that name the
file and line; arguments refused before any work, term lists without a header, a cached store that
heals, a NOTICE beside outputs of licensed inputs (issue 25)."""

from __future__ import annotations

import json
import logging
import shutil
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
    out = Path(args[args.index("--out") + 1]) if "--out" in args else Path("align-out")
    return json.loads((out / "align.json").read_text())


def failed(capsys, *args: str) -> tuple[int, str]:
    """Run the CLI expecting an error: (exit status, its error line). Exactly one error line and no
    traceback on stderr (progress bars aside)."""
    capsys.readouterr()
    rc = cli.main(["align", "--params", "tiny", "--format", "onnx-fp32", *args])
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("python -m lib align: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return rc, lines[0]


class WorkStarted(BaseException):
    """Raised by a stand-in for the first step of real work (not an Exception: main must not catch it)."""


@pytest.fixture
def no_work(monkeypatch):
    """Any store build or search fails the test: the refusals under test must come before them."""
    def started(*a, **k):
        raise WorkStarted("work started before the arguments were checked")
    monkeypatch.setattr(cli, "target_store", started)
    monkeypatch.setattr(cli, "search", started)


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


def test_plain_lexicon_against_a_store_without_cui(tmp_path, capsys):
    mesh_like = pd.DataFrame({"CODE": ["D1", "D2", "D3"], "STR": ["skin rash", "fever", "hearing loss"]})
    write_store([mesh_like], tmp_path / "store", partition_rows=256)
    (tmp_path / "lay.csv").write_text("term,gold\nrash on the skin,D1\nhigh fever,D9;D2\n", encoding="utf-8")
    summary = align("--lexicon", str(tmp_path / "lay.csv"), "--targets", str(tmp_path / "store"), "--workers", "0",
                    "--top-k", "2", "--out", str(tmp_path / "out"))
    assert summary["concept_column"] == "CODE" and summary["top_k"] == 2 and not summary["top_k_capped"]
    main = pd.read_csv(tmp_path / "out" / "align.main.csv", keep_default_na=False)
    assert main.source_id.tolist() == ["ROW:2", "ROW:3"] and set(main.pred_concept) <= {"D1", "D2", "D3"}
    assert summary["metrics"]["n"] == 2 and summary["licensed_inputs"] == []
    assert not (tmp_path / "out" / "NOTICE.md").exists()  # a plain list and a MeSH-like store: nothing licensed
    rc, err = failed(capsys, "--lexicon", str(tmp_path / "lay.csv"), "--targets", str(tmp_path / "store"),
                     "--workers", "0", "--concept-column", "CUI", "--out", str(tmp_path / "out2"))
    assert rc == 2 and "--concept-column CUI" in err and "CODE" in err


def test_a_bad_mrconso_line_is_one_line_naming_file_and_line_and_debug_shows_the_traceback(
        licensed_fixtures, tmp_path, capsys):
    rrf = tmp_path / "MRCONSO.RRF"
    lines = Path(licensed_fixtures["umls_mrconso"]).read_text(encoding="utf-8").splitlines(keepends=True)
    rrf.write_text("".join(lines[:4] + ["C1|ENG|P|too few fields|\n"] + lines[4:]), encoding="utf-8")
    args = ("--lexicon", str(licensed_fixtures["lay_lexicon"]), "--targets", str(rrf), "--workers", "0",
            "--out", str(tmp_path / "out"))
    rc, err = failed(capsys, *args)
    assert rc == 1 and "MRCONSO.RRF, line 5" in err and "expected 18 pipe-separated fields" in err
    with pytest.raises(DataFormatError, match=r"MRCONSO\.RRF, line 5"):
        cli.main(["align", "--params", "tiny", "--format", "onnx-fp32", *args, "--debug"])


def test_read_sources_rejects_an_empty_term(tmp_path):
    (tmp_path / "lay.csv").write_text("term\nfever\n\nrash\n \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"lay.csv, line 5, field 'term': empty term"):
        cli.read_sources(tmp_path / "lay.csv")
    (tmp_path / "ok.csv").write_text("term\nfever\n\nrash\n", encoding="utf-8")
    sources, gold = cli.read_sources(tmp_path / "ok.csv")
    assert sources.source_id.tolist() == ["ROW:2", "ROW:4"] and gold is None
    assert sources.attrs["skipped_blank_lines"] == 1


def test_a_term_list_without_a_header_keeps_its_first_term(tmp_path, caplog):
    """Before: the first term was taken as the column name: 2 of 3 terms aligned, no warning."""
    (tmp_path / "plain.txt").write_text("fever\nrash on the skin\nhearing loss\n", encoding="utf-8")
    sources, gold = cli.read_sources(tmp_path / "plain.txt")
    assert sources.source_text.tolist() == ["fever", "rash on the skin", "hearing loss"] and gold is None
    (tmp_path / "terms.txt").write_text("fever\nrash on the skin\n\nhearing loss, both ears\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="lib.cli"):
        sources, gold = cli.read_sources(tmp_path / "terms.txt")
    assert sources.source_text.tolist() == ["fever", "rash on the skin", "hearing loss, both ears"]
    assert sources.source_id.tolist() == ["ROW:1", "ROW:2", "ROW:4"] and gold is None
    assert sources.attrs["lexicon_format"] == "term list (no header)" and sources.attrs["skipped_blank_lines"] == 1
    assert any("no header line" in r.getMessage() and "1 lines hold" in r.getMessage() for r in caplog.records)
    (tmp_path / "named.csv").write_text("Term;Gold\nfever;HP:1\n", encoding="utf-8")  # a header: known names only
    sources, gold = cli.read_sources(tmp_path / "named.csv")
    assert sources.source_text.tolist() == ["fever"] and gold == "gold" and sources.gold.tolist() == [("HP:1",)]


def test_an_empty_lexicon_is_a_named_error(tmp_path, licensed_fixtures, capsys, no_work):
    """Before: a bare pandas EmptyDataError."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    rc, err = failed(capsys, "--lexicon", str(empty), "--targets", str(licensed_fixtures["umls_mrconso"]),
                     "--out", str(tmp_path / "out"))
    assert rc == 1 and f"{empty}, field '--lexicon': empty file" in err
    (tmp_path / "blank.csv").write_text("\n \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"blank\.csv: empty file"):
        cli.read_sources(tmp_path / "blank.csv")


@pytest.mark.parametrize("args, message", [
    (("--workers", "-1"), "--workers -1: must be 0"),           # before: "Dask: 0 workers", then a hang
    (("--top-k", "0"), "--top-k 0: must be 1 or more"),          # before: silently the params' top_k
    (("--out", "{file}"), "an existing file, not a folder"),     # before: FileExistsError after the whole run
    (("--format", "fp32-torch"), "ONNX formats only"),
    (("--params", "nowhere.yaml"), "no such file"),
])
def test_bad_arguments_are_refused_before_any_work(licensed_fixtures, tmp_path, capsys, no_work, args, message):
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    args = tuple(a.replace("{file}", str(tmp_path / "file")) for a in args)
    base = ("--lexicon", str(licensed_fixtures["lay_lexicon"]), "--targets", str(licensed_fixtures["umls_mrconso"]))
    if "--out" not in args:
        base += ("--out", str(tmp_path / "out"))
    rc, err = failed(capsys, *base, *args)
    assert rc == 2 and message in err, err
    assert not (tmp_path / "out").exists()


def test_top_k_beyond_the_targets_is_capped_with_a_warning_and_recorded(licensed_fixtures, tmp_path, caplog):
    """Before: --top-k 5000 was recorded as 5000 while only the 6 targets came back."""
    with caplog.at_level(logging.WARNING, logger="lib.cli"):
        summary = align("--lexicon", str(licensed_fixtures["lay_lexicon"]), "--targets",
                        str(licensed_fixtures["umls_mrconso"]), "--workers", "0", "--top-k", "5000",
                        "--out", str(tmp_path / "out"))
    assert (summary["top_k"], summary["top_k_requested"], summary["top_k_capped"]) == (6, 5000, True)
    assert len(pd.read_csv(tmp_path / "out" / "align.extensive.csv")) == 6 * 6
    assert any("capped at 6" in r.getMessage() for r in caplog.records)


class Reached(BaseException):
    pass


def test_paths_are_resolved_from_the_working_directory(licensed_fixtures, tmp_path, monkeypatch, capsys):
    """Before: a relative --params x.yaml was looked up under the project root, --lexicon under the cwd."""
    text = (ROOT / "params" / "tiny.yaml").read_text(encoding="utf-8").replace("name: tiny", "name: my-params")
    (tmp_path / "my-params.yaml").write_text(text, encoding="utf-8")
    shutil.copy(licensed_fixtures["lay_lexicon"], tmp_path / "lex.csv")
    (tmp_path / "tiny").write_text("a file named like a params name", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    seen = []

    def reached(targets, P):
        seen.append((targets, P.name))
        raise Reached()
    monkeypatch.setattr(cli, "target_store", reached)
    for params_arg in ("my-params.yaml", "./my-params.yaml", "tiny"):  # a bare name is params/<name>.yaml
        with pytest.raises(Reached):
            cli.main(["align", "--params", params_arg, "--lexicon", "lex.csv", "--targets",
                      str(licensed_fixtures["umls_mrconso"]), "--out", "out"])
    assert [name for _, name in seen] == ["my-params", "my-params", "tiny"]
    rc, err = failed(capsys, "--params", "params/tiny.yaml", "--lexicon", "lex.csv", "--targets", "x")
    assert rc == 2 and f"no such file {tmp_path / 'params' / 'tiny.yaml'}" in err and "--params tiny" in err


@pytest.mark.parametrize("damage", ["partition", "manifest"])
def test_the_cli_heals_its_damaged_cached_store(licensed_fixtures, tmp_path, caplog, damage):
    """Before: every rerun failed with "rerun write_store with the same input", advice a CLI user cannot
    follow. Now the damaged store is rebuilt from the MRCONSO file (logged), its vectors kept."""
    rrf = tmp_path / "MRCONSO.RRF"  # its own content, so its own cached store
    rrf.write_text("".join(Path(licensed_fixtures["umls_mrconso"]).read_text(encoding="utf-8")
                           .splitlines(keepends=True)[:-1]), encoding="utf-8")
    args = ("--lexicon", str(licensed_fixtures["lay_lexicon"]), "--targets", str(rrf), "--workers", "0")
    first = align(*args, "--out", str(tmp_path / "a"))
    folder = Path(first["store"])
    victim = folder / ("parts/part-00000.parquet" if damage == "partition" else "manifest.json")
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="lib.cli"):
        again = align(*args, "--out", str(tmp_path / "b"))
    assert any("damaged" in r.getMessage() and "rebuilding it from" in r.getMessage() for r in caplog.records)
    assert again["store"] == first["store"] and again["embedded_partitions"] == 0  # same bytes: vectors reused
    for stem in ("align.main", "align.extensive"):
        pd.testing.assert_frame_equal(*(pd.read_csv(tmp_path / d / f"{stem}.csv", keep_default_na=False)
                                        for d in ("a", "b")))


def test_the_default_output_folder_gets_a_notice_when_licensed_inputs_were_read(licensed_fixtures, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    summary = align("--lexicon", str(licensed_fixtures["lay_lexicon"]), "--targets",
                    str(licensed_fixtures["umls_mrconso"]), "--workers", "0")
    notice = (tmp_path / "align-out" / "NOTICE.md").read_text(encoding="utf-8")
    assert "do not publish" in notice and "MRCONSO" in notice and "lay lexicon" in notice
    assert len(summary["licensed_inputs"]) == 2


def _git_ignored(path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT).returncode == 0


def test_the_readme_examples_write_outside_the_clone_or_into_ignored_paths():
    """Before: `papermill ... out.ipynb` and the CLI's `align-out/` wrote rows of licensed inputs into the
    working directory, not git-ignored."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("git not available")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    outputs = []
    for line in readme.splitlines():
        words = line.split()
        if "papermill" in line and "notebooks/" in line:
            i = next(i for i, w in enumerate(words) if w.startswith("notebooks/") and w.endswith(".ipynb"))
            outputs.append(words[i + 1])
        if "--out" in words:
            outputs.append(words[words.index("--out") + 1].strip("[]"))
    assert outputs, "no example writing a file found in the README"
    outputs += ["align-out/align.main.csv", "align-out/NOTICE.md"]  # the CLI's default --out
    assert str(getattr(cli, "DEFAULT_OUT", "align-out")) == "align-out"
    inside = [o for o in outputs if o != "DIR" and not Path(o).is_absolute() and not _git_ignored(o)]
    assert inside == []


def test_python_dash_m_lib_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "lib", "align", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "--scheduler" in out.stdout and "--workers" in out.stdout and "--debug" in out.stdout


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
