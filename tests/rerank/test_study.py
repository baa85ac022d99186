"""lib.rerank.study: the parts of notebook 12's study that decide (which systems get INT8, which INT8 is
chosen, when a longer run is warranted, which pipeline is deployed); the rest runs in the notebook test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib import params
from lib.rerank import study
from lib.rerank.candidates import Candidates
from lib.rerank.pipeline import Reranker
from lib.rerank.train import Variant


def reranker(layout: str, definitions: bool) -> Reranker:
    return Reranker(None, Variant("paper" if layout == "paper" else "base", definitions), layout, params.Rerank(),
                    None, {})


@pytest.fixture
def systems() -> dict[str, Reranker]:
    rrs = [reranker(lay, d) for d in (True, False) for lay in ("base", "shared-prefix", "paper")]
    return {rr.name: rr for rr in rrs}


def test_the_dev_chosen_system_gets_every_c_and_the_int8_formats(systems):
    plan = study.format_plan(systems, ["onnx-int8-dynamic"], "shared-prefix [mean]", [4, 8, 16], 8)
    assert plan["shared-prefix [mean]"] == {"onnx-fp32": [4, 8, 16], "onnx-int8-dynamic": [8]}
    assert all(plan[n] == {"onnx-fp32": [8]} for n in systems if n != "shared-prefix [mean]")
    full = study.format_plan(systems, ["onnx-int8-dynamic"], "shared-prefix [mean]", [4, 8], 8, True, True)
    assert full["base+def [mean]"] == {"onnx-fp32": [4, 8]}                 # base is shared-prefix's function
    assert full["paper+def [mean]"] == {"onnx-fp32": [4, 8], "onnx-int8-dynamic": [8]}


def test_the_deployed_system_is_chosen_on_dev_with_ties_to_shared_prefix_and_the_params(systems):
    def with_dev(accs: dict[str, float]) -> dict[str, Reranker]:
        return {n: Reranker(rr.path, rr.variant, rr.layout, rr.R, rr.texts,
                            {"best_dev_acc@1": accs.get(rr.variant.layout + ("+def" if rr.variant.definitions else ""),
                                                        0.5)})
                for n, rr in systems.items()}
    assert study.dev_chosen(with_dev({"base": 0.56}), True) == "shared-prefix [mean]"   # base's model, deployed packed
    assert study.dev_chosen(with_dev({"paper+def": 0.57, "base": 0.56}), False) == "paper+def [mean]"
    assert study.dev_chosen(with_dev({}), True) == "shared-prefix+def [mean]"          # a tie: the params' setting
    assert study.dev_chosen(with_dev({}), False) == "shared-prefix [mean]"
    assert study.crossfit_system(systems, "paper+def [mean]") == "shared-prefix+def [mean]"
    assert study.crossfit_system(systems, "shared-prefix [mean]") == "shared-prefix [mean]"


def test_the_longer_run_is_warranted_only_by_a_rising_curve():
    curve = [{"step": 0, "dev_acc@1": 0.45}, {"step": 100, "dev_acc@1": 0.46}, {"step": 200, "dev_acc@1": 0.47}]
    assert study.still_rising({"dev_curve": curve, "best_step": 200, "stopped_by": "steps"})
    assert not study.still_rising({"dev_curve": curve, "best_step": 100, "stopped_by": "steps"})     # peaked
    assert not study.still_rising({"dev_curve": curve, "best_step": 200, "stopped_by": "minutes"})   # capped
    flat = [{"step": 0, "dev_acc@1": 0.45}, {"step": 100, "dev_acc@1": 0.45}]
    assert not study.still_rising({"dev_curve": flat, "best_step": 0, "stopped_by": "steps"})


def scored(name: str, fmt: str, f: np.ndarray, seconds: float) -> study.Scored:
    return study.Scored(name, reranker("shared-prefix", True), fmt, {2: f}, {2: (0.0, {}, {})}, seconds, len(f))


def test_the_gate_decides_each_int8_format_and_the_fastest_passing_one_is_chosen(systems):
    P = params.load("tiny")
    cands = Candidates(np.array([["A", "B"]] * 40, dtype=object), np.array([["a", "b"]] * 40, dtype=object),
                       np.zeros((40, 2), np.float32))
    gold = ["A"] * 20 + ["B"] * 20
    fp32 = np.array([[1.0, 0.0]] * 20 + [[0.0, 1.0]] * 20)
    flipped = fp32.copy()
    flipped[:5] = [0.0, 1.0]                                                 # 5 of 40 top-1s change
    name = "shared-prefix+def [mean]"
    table = study.gate_table(P, {(name, "onnx-fp32"): scored(name, "onnx-fp32", fp32, 1.0),
                                 (name, "onnx-int8-dynamic"): scored(name, "onnx-int8-dynamic", fp32 + 0.01, 1.0),
                                 (name, "onnx-int8-smoothquant"): scored(name, "onnx-int8-smoothquant", flipped, 0.5)},
                             cands, gold, 2)
    by = table.set_index("format")
    assert by.loc["onnx-int8-dynamic", "passed"] and not by.loc["onnx-int8-smoothquant", "passed"]
    assert by.loc["onnx-int8-smoothquant", "top1_agreement"] == pytest.approx(35 / 40)
    assert table.chosen.tolist() == [True, False]          # the faster one failed: the passing one is chosen
    assert study.deployed_format(name, table.assign(system=name)) == "onnx-int8-dynamic"
    assert study.deployed_format(name, table.iloc[:0]) == "onnx-fp32"
    assert isinstance(table.decisions.iloc[0], list) and isinstance(table, pd.DataFrame)


def saved(tiny_dir, out, head: float) -> Reranker:
    """A reranker folder on the tiny encoder whose head is filled with ``head`` (0: training kept step 0)."""
    import torch

    from lib.engines import cross
    m = cross.new_scorer(tiny_dir, weight=20.0)
    with torch.no_grad():
        m.head.weight.fill_(head)
    out.mkdir()
    cross.save_scorer(m, out, {"readout": "mean"}, tiny_dir)
    from lib.rerank.train import Texts
    R = params.Rerank(max_seq_length=32)
    return Reranker(out, Variant("paper", False), "paper", R, Texts(out, R, None), {"prior_trained": {"weight": 20.0}})


def test_a_reranker_with_a_zero_head_is_the_retriever_and_is_not_run(tiny_dir, tmp_path):
    from types import SimpleNamespace

    from lib.rerank.train import DevLists
    P = params.load("tiny")
    rng = np.random.default_rng(0)
    conc = np.array([[f"C{(i + j) % 7}" for j in range(4)] for i in range(30)], dtype=object)
    conc[3, 3] = ""                                                          # an empty slot stays NaN
    cands = Candidates(conc, conc.copy(), np.sort(rng.random((30, 4)), axis=1)[:, ::-1].astype(np.float32))
    cands.scores[3, 3] = -np.inf
    gold = [f"C{(i + 1) % 7}" for i in range(30)]
    tr = SimpleNamespace(dev=DevLists([f"q{i}" for i in range(30)], [(g,) for g in gold], cands))
    zero, trained = saved(tiny_dir, tmp_path / "zero", 0.0), saved(tiny_dir, tmp_path / "trained", 0.5)
    assert zero.f_is_zero and not trained.f_is_zero

    def torch_only(rr, fmt):
        assert rr is trained, f"{rr.name} [{fmt}] has a zero head: no engine may be built for it"
        return rr.engine("torch", P)
    retr = cands.gold_ranks(gold)
    plan = {"paper [mean]": {"onnx-fp32": [2, 4], "onnx-int8-dynamic": [4]}, "trained": {"onnx-fp32": [2, 4]}}
    table, scored = study.score_plan(P, tr, {"paper [mean]": zero, "trained": trained}, plan,
                                     [f"t{i}" for i in range(30)], cands, gold, retr, "onnx-fp32", [2, 4], torch_only)
    assert list(scored) == [("paper [mean]", "onnx-fp32"), ("trained", "onnx-fp32")]   # no INT8 copy of a zero head
    assert scored[("trained", "onnx-fp32")].run and np.nanstd(scored[("trained", "onnx-fp32")].f[4]) > 0
    res = table[(table.system == "paper [mean]") & (table.score == "residual")]
    ret = table[table.system == "retriever"]
    assert res["acc@1"].tolist() == ret["acc@1"].tolist() and (res.wins == 0).all() and (res.losses == 0).all()
    assert not res.scored.any() and res.terms_per_s.isna().all()
    assert np.isnan(scored[("paper [mean]", "onnx-fp32")].f[4][3, 3])
