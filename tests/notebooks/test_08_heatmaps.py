"""Notebook 08-heatmaps end to end on tiny: one model (5c skipped and recorded), then a second model paired."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lib import results


def _result_json(notebook: str) -> dict:
    """The tiny run's result file as written on disk (what the paper assembly reads back)."""
    return json.loads(results.result_path("tiny", notebook).read_text(encoding="utf-8"))


def _fake_alignment(P, fmts, seed):
    """04-align results for tiny built from real HPO ids (gold, and a prediction at a known relation)."""
    from lib.data.hpo import load_hpo

    terms = load_hpo().terms
    rng = np.random.default_rng(seed)
    kids = terms[terms.parents.map(len) > 0].sample(40, random_state=seed)
    for fmt in fmts:
        rows = []
        for i, (hid, parents) in enumerate(zip(kids.hpo_id, kids.parents)):
            pred = hid if i % 3 == 0 else (parents[0] if i % 3 == 1 else kids.hpo_id.iloc[(i + 7) % 40])
            rows.append({"source_id": f"S{i}", "source_text": f"lay {i}", "gold_cui": "", "gold_hpo": hid,
                         "pred_str": pred, "pred_cui": "", "pred_hpo": pred,
                         "score": float(rng.normal(0.6 if pred == hid else 0.4, 0.1)),
                         "gold_rank": 1 if pred == hid else 5, "correct": pred == hid})
        pd.DataFrame(rows).to_csv(results.table_path(P.name, f"04-align.{fmt}.main"), index=False)
    results.write_result(P, "04-align", identity={}, metrics={"formats": {f: {"acc@1": 1 / 3} for f in fmts}},
                        data={"tier": "embedded"})


@pytest.mark.notebook
def test_notebook_08_smoke(run_notebook, session_dirs, tmp_path):
    import shutil

    from lib import params
    P = params.load("tiny")
    _fake_alignment(P, ["fp32-torch", "onnx-int8-dynamic"], seed=0)
    experts = tmp_path / "experts.csv"
    experts.write_text("source,target,rating\nS1,does-not-match,2\n" +
                       "".join(f"S{i},lay-unused,1\n" for i in range(2, 3)))
    fig_dir = session_dirs["figures"] / "tiny"
    fig_dir.mkdir(parents=True, exist_ok=True)
    (fig_dir / "fig5c-complementarity.png").write_bytes(b"stale")    # from an earlier paired run

    # one model (MODELS=minilm-l6): second_model = itself is refused, 5c skipped and recorded, not drawn
    run_notebook("08-heatmaps", second_model="tiny", expert_ratings=str(experts))
    rec = _result_json("08-heatmaps")
    m = rec["metrics"]
    r = m["ratings"]["tiny/fp32-torch"]
    # every third source is exact (5), every third is its parent (4): hand-built above
    assert r["counts"]["5"] >= 14 and r["counts"]["4"] >= 13 and r["unratable"] == 0
    assert m["expert_ratings"][0]["unmatched_expert_rows"] == 2
    assert m["models"] == ["tiny"] and m["complementarity"] == {}
    assert rec["figure5c"]["drawn"] is False and rec["figure5c"]["second_model"] is None
    assert "needs two models" in rec["figure5c"]["note"] and "with itself" in rec["figure5c"]["note"]
    for stem in ("fig5a-rating-heatmap", "fig5b-score-distributions"):
        assert (fig_dir / f"{stem}.png").exists()
    assert not (fig_dir / "fig5c-complementarity.png").exists()

    # a second model with 04-align results: 08 pairs with it on its own
    B = P.model_copy(update={"name": "tiny-b", "display_name": "tiny B"})
    _fake_alignment(B, ["fp32-torch"], seed=1)
    try:
        run_notebook("08-heatmaps")
        rec = _result_json("08-heatmaps")
    finally:
        shutil.rmtree(session_dirs["results"] / "tiny-b")               # later tests see one model again
    m = rec["metrics"]
    assert m["models"] == ["tiny", "tiny-b"] and list(m["complementarity"]) == ["fp32-torch"]
    assert m["complementarity"]["fp32-torch"]["oracle"] == pytest.approx(14 / 40)
    assert rec["figure5c"] == {"drawn": True, "second_model": "tiny-b", "format": "fp32-torch",
                               "note": "second model: tiny-b (first other model with 04-align results: ['tiny-b'])"}
    assert (fig_dir / "fig5c-complementarity.png").exists()
