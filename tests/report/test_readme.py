"""lib.report.readme: the README's runtime table shows one `make paper` run, never a mix of runs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lib.report import readme

T0 = datetime(2026, 12, 6, 17, 0, 0)


def _executed(build: Path, params: str, notebook: str, start_min: float, minutes: float) -> None:
    start = T0 + timedelta(minutes=start_min)
    meta = {"papermill": {"duration": minutes * 60, "start_time": start.isoformat(),
                          "end_time": (start + timedelta(minutes=minutes)).isoformat()}}
    (build / params).mkdir(parents=True, exist_ok=True)
    (build / params / f"{notebook}.ipynb").write_text(json.dumps({"metadata": meta, "cells": []}))


def test_only_the_latest_paper_run_enters_the_table(tmp_path):
    _executed(tmp_path, "minilm-l6", "10-scale-out", -300, 9.5)    # make scale, hours earlier
    _executed(tmp_path, "mpnet-base", "04-align", -200, 10)        # an older run's notebook
    t = 0.0
    for nb in readme.PAPER_NOTEBOOKS:
        _executed(tmp_path, "minilm-l6", nb, t, 2)
        t += 2
    _executed(tmp_path, "paper", "09-paper", t, 1)
    run = readme.last_paper_run(tmp_path)
    assert [r["params"] for r in run].count("minilm-l6") == 8 and "mpnet-base" not in {r["params"] for r in run}
    table = readme.runtimes_table(tmp_path)
    assert "10-scale-out" not in table and "mpnet-base" not in table
    assert "| minilm-l6 | **all notebooks** | **960** |" in table           # 8 x 120 s
    assert "**1020** (17.0 min)" in table                                   # 0 -> 16 min + 1 min for 09


def test_a_model_missing_a_notebook_in_the_run_is_marked_incomplete(tmp_path):
    for i, nb in enumerate(readme.PAPER_NOTEBOOKS[:-1]):
        _executed(tmp_path, "minilm-l6-sap", nb, i, 1)
    _executed(tmp_path, "paper", "09-paper", 10, 1)
    assert "(incomplete: 08-heatmaps not in this run)" in readme.runtimes_table(tmp_path)


def test_no_paper_run_says_what_to_run(tmp_path):
    _executed(tmp_path, "minilm-l6", "04-align", 0, 1)
    assert "run `make paper`" in readme.runtimes_table(tmp_path)


def test_replace_section_needs_its_markers():
    assert readme.replace_section("a\n<!-- x:start -->\nold\n<!-- x:end -->\n", "x", "new") == \
        "a\n<!-- x:start -->\nnew\n<!-- x:end -->\n"
    with pytest.raises(ValueError, match="no <!-- y:start -->"):
        readme.replace_section("a", "y", "b")


def test_rerank_section_comes_from_the_latest_make_rerank(tmp_path):
    assert "run `make rerank`" in readme.rerank_section(tmp_path)
    folder = tmp_path / "minilm-l6-sap"
    folder.mkdir()
    record = {"created": "2026-12-06T20:40:00+00:00", "machine": {"cpus": 2, "cpu": {"model": "AMD EPYC 9R45"}},
              "metrics": {"retriever": "minilm-l6-sap [onnx-fp32]", "miner": "minilm-l6 [onnx-fp32]",
                          "chosen": "shared-prefix [mean]",
                          "mcnemar": {"pipeline": "base [onnx-int8-dynamic] at C = 8", "acc@1": 0.4512,
                                      "retriever_acc@1": 0.4412, "only_a": 150, "only_b": 80, "p": 4.1e-6},
                          "end_to_end": {"retrieve": 900.0, "retrieve+rerank": 61.25, "candidates": 8},
                          "definitions_pipeline": {"vs_names_retriever": {"only_a": 400, "only_b": 90, "p": 1e-40},
                                                   "end_to_end": {"system": "base", "candidates": 8,
                                                                  "retrieve": 700.0, "retrieve+rerank": 55.5}}}}
    (folder / "12-rerank.json").write_text(json.dumps(record))
    (folder / "12-rerank.accuracy.csv").write_text("system,score,acc@1\nretriever,residual,0.44121\n"
                                                   "base,residual,0.45123\nbase,f alone,0.1\n")
    (folder / "12-rerank.gate.csv").write_text("system,passed,decisions,top1_agreement\nbase,True,[...],0.999\n")
    text = readme.rerank_section(tmp_path)
    assert "results/minilm-l6-sap/12-rerank.json` (2026-12-06T20:40 UTC; AMD EPYC 9R45, 2 cores" in text
    assert "Acc@1 0.4512 vs the retriever's 0.4412; McNemar 150 vs 80 terms, p = 4.1e-06" in text
    assert "61.2 terms/s with the reranker vs 900.0" in text
    assert "dev queries** (never lay terms): shared-prefix [mean], scored at every C" in text
    assert "the other systems at C = 8 in ONNX FP32" in text
    assert "+ base at C = 8): 55.5 terms/s end to end vs 700.0" in text and "400 vs 90 terms, p = 1e-40" in text
    assert "0.4512" in text and "f alone |" not in text and "| 0.1 |" not in text   # f alone stays in the CSV
    assert "**INT8 gate against ONNX FP32**" in text and "Order sensitivity" not in text  # no table, no heading
    assert "decisions" not in text and "0.999" in text  # the README's columns; the CSV keeps the rest
