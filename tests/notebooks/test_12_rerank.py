"""Papermill smoke runs of notebook 12 (reranking) and of 04-align's rerank switch on the tiny model: every
cell runs, the record validates, and what it holds is consistent."""

import numpy as np
import pytest

from lib import results

# a small, fast study: few training queries and steps, two C values, one round of each timing
TINY_RERANK = {"train_max_queries": 60, "train_max_targets": 1500, "train_steps": 4, "eval_steps": 2, "batch_size": 4,
               "learning_rates": [0.001, 0.003], "dev_concepts": 20, "train_candidates": [4], "candidates": 4,
               "max_seq_length": 64, "definition_tokens": 6, "crossfit_steps": 2}


@pytest.mark.notebook
def test_12_rerank_tiny(run_notebook):
    run_notebook("12-rerank", threads=1, rerank=TINY_RERANK, candidate_sweep=[2, 4], speed_terms=12, speed_rounds=1,
                 order_trials=1, order_terms=30)
    r = results.read_result("tiny", "12-rerank")
    m = r.metrics
    assert m.leaked_lay_strings == 0 and m.leaked_dev_queries == 0 and m.miner
    assert m.candidates == [2, 4]
    rows = {(a.system, a.format, a.score, a.candidates): a for a in m.accuracy}
    kept_step0 = {t["variant"].split(" ")[0] for t in m.training if t["chosen"] and t["best_step"] == 0}
    systems = {"base+def [mean]", "shared-prefix+def [mean]", "paper+def [mean]", "base [mean]",
               "shared-prefix [mean]", "paper [mean]"}
    assert {a.system for a in m.accuracy} == systems | {"retriever"}
    chosen = m.chosen                   # chosen on dev; base's model is deployed as shared-prefix (same function)
    assert chosen in systems and not chosen.startswith("base")
    kind = chosen.split(" ")[0].replace("shared-prefix", "base")
    defs = "+def" if "+def" in chosen else ""
    best = {t["variant"].split(" ")[0]: t["best_dev_acc@1"] for t in m.training if t["chosen"]}
    assert best[kind] == max(best.values())
    for c in (2, 4):
        assert ("retriever", "fp32-torch", "cosine", c) in rows
        retr = rows[("retriever", "fp32-torch", "cosine", c)]
        for s in systems:           # the chosen system at every C, the others at rerank.candidates (4) only
            assert ((s, "onnx-fp32", "residual", c) in rows) == (s == chosen or c == 4)
            assert ((s, "onnx-fp32", "f alone", c) in rows) == (s == chosen or c == 4)
        for s in [s for s in systems if (s, "onnx-fp32", "residual", c) in rows]:
            a = rows[(s, "onnx-fp32", "residual", c)]   # a run that kept step 0 has a zero head: f = 0, not run
            assert a.scored == (s.split(" ")[0].replace("shared-prefix", "base") not in kept_step0)
            assert a.scored or (a.acc_at_1 == retr.acc_at_1 and a.wins == a.losses == 0)
        for fmt in ("onnx-int8-dynamic", "onnx-int8-smoothquant"):   # INT8: the chosen system, at the gate's C
            assert {a.system for a in m.accuracy if a.format == fmt and a.candidates == c} == \
                ({chosen} if c == 4 and kind not in kept_step0 else set())
    for d in ("+def", ""):              # shared-prefix is base's model with the term computed once: same accuracy
        a, b = rows[(f"base{d} [mean]", "onnx-fp32", "residual", 4)], \
            rows[(f"shared-prefix{d} [mean]", "onnx-fp32", "residual", 4)]
        assert a.acc_at_1 == b.acc_at_1 and a.mrr == pytest.approx(b.mrr)
    for a in m.accuracy:  # a reranker reorders the C candidates: it cannot pass the retriever's Acc@C
        assert 0 <= a.acc_at_1 <= a.ceiling_acc_at_c + 1e-12
        assert a.readout == ("mean" if a.system != "retriever" else None)   # every row says which read-out ran
    # the learning rate was chosen on dev among two runs of the main reranker; the others reuse it
    runs = [t for t in m.training if t["variant"] == "base+def [mean]"]
    assert sorted(t["learning_rate"] for t in runs) == [0.001, 0.003] and sum(t["chosen"] for t in runs) == 1
    assert all(t["readout"] == "mean" and t["best_step"] <= t["steps"] for t in m.training)
    gate = {(g["system"], g["format"]): g for g in m.gate}
    assert set(gate) == ({(chosen, f) for f in ("onnx-int8-dynamic", "onnx-int8-smoothquant")}
                         if kind not in kept_step0 else set())
    assert all(g["decisions"] and {d["criterion"] for d in g["decisions"]} == {"Acc@1 drop",
                                                                              "top-1 agreement with FP32"}
               for g in gate.values())
    order = {o["system"]: o for o in m.order_sensitivity}
    assert order[f"shared-prefix{defs} [mean]"]["top1_unchanged"] == 1.0   # order-blind by construction
    assert set(order) == {f"shared-prefix{defs} [mean]", f"paper{defs} [mean]"}
    speed = {(s["format"], s["candidates"]): s for s in m.speed}
    assert set(speed) == {(f, c) for f in ("onnx-fp32", "onnx-int8-dynamic") for c in (2, 4)}
    assert all(s["shared-prefix / base"] > 0 and s["paper / base"] > 0 for s in m.speed)
    assert m.end_to_end["retrieve+rerank"] > 0 and m.mcnemar["n"] == 60
    whole = m.definitions_pipeline           # target (5): definitions as the retriever's targets + the reranker
    assert [w["system"] for w in whole["rows"]][0] == "retriever + definitions as targets"
    assert whole["definition_targets"] > 0 and whole["rows"][1]["n"] == 60 and whole["rows"][1]["candidates"] == 4
    assert whole["end_to_end"]["retrieve+rerank"] > 0 and whole["vs_names_retriever"]["n"] == 60
    assert 0 <= whole["rows"][1]["acc@1"] <= whole["rows"][1]["ceiling_acc@C"] + 1e-12
    cf = m.crossfit
    assert cf["supervised"] and cf["n_folds"] == 2 and sum(f["scored_terms"] for f in cf["folds"]) == 60
    assert cf["row"]["n"] == 60 and "supervised" in cf["row"]["system"]
    assert np.isfinite(cf["row"]["acc@1"])
    assert r.params.rerank is not None and r.params.rerank.train_steps == 4


@pytest.mark.notebook
def test_04_align_reports_the_reranked_alignment_when_enabled(run_notebook):
    run_notebook("04-align", formats=["fp32-torch"], threads=1, rerank={**TINY_RERANK, "enabled": True})
    r = results.read_result("tiny", "04-align")
    assert set(r.metrics.formats) == {"fp32-torch"}                    # the retriever's record is unchanged
    rr = r.metrics.rerank
    assert rr["reranker"] == "shared-prefix+def [mean]" and rr["readout"] == "mean"
    assert rr["scorer"] == "onnx-int8-dynamic" and rr["candidates"] == 4
    retr = rr["systems"]["retriever"]
    assert retr["acc@1"] == r.metrics.formats["fp32-torch"].acc_at_1  # concept-level top-1 = string-level top-1
    w = rr["weight"]["chosen"]                                          # chosen on the dev queries
    assert rr["final"] == f"shared-prefix+def [mean] [onnx-int8-dynamic] + {w} x retriever"
    final, alone = rr["systems"][rr["final"]], rr["systems"]["shared-prefix+def [mean] [onnx-int8-dynamic] alone"]
    assert final["acc@4"] == retr["acc@4"] == alone["acc@4"] and final["acc@1"] <= retr["acc@4"]
    assert "inf" in rr["weight"]["dev_acc@1"] and rr["weight"]["dev_queries"] > 0
    assert rr["mcnemar_vs_retriever"]["n"] == r.metrics.formats["fp32-torch"].n_sources
    table = results.table_path("tiny", "04-align.rerank.metrics", "csv")
    assert table.exists() and "shared-prefix+def [mean] [onnx-int8-dynamic]" in table.read_text()
