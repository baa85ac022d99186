"""Papermill smoke run of 10-scale-out on the tiny model: a few hundred targets, a LocalCluster of one
worker, small partitions, and an invented MeSH file in the real layout (no download)."""

from __future__ import annotations

import pandas as pd
import pytest

from lib import plots, results
from lib.engines.hub import TINY_VOCAB_WORDS


def fake_mesh_csv(path, n=300):
    words = sorted(set(TINY_VOCAB_WORDS))
    subjects = [f"{words[i % len(words)]} {words[(7 * i + 3) % len(words)]} {i}" for i in range(n)]
    pd.DataFrame({"id": [f"https://id.nlm.nih.gov/mesh/D{i:06d}" for i in range(n)], "scheme": "MeSH",
                  "subject": subjects}).to_csv(path, index=False)
    return path


@pytest.mark.notebook
def test_10_scale_out_tiny(run_notebook, tmp_path):
    run_notebook("10-scale-out", mesh_csv=str(fake_mesh_csv(tmp_path / "subjects_mesh.csv")), sizes=[200, None],
                 workers=1, partition_rows=128, fixed_batch_rows=32,
                 search={"index": "int8", "rescore_multiplier": 2})  # the index choice (exact: unit tests)
    r = results.read_result("tiny", "10-scale-out")
    m = r.metrics
    assert m.index == "int8" and m.rescore_multiplier == 2 and r.params.search.index == "int8"
    assert m.workers == 1 and m.n_sources == 60 and m.n_mesh_targets == 300 and m.n_hpo_targets == 400
    assert [s.n_targets for s in m.sizes] == [256, 700] and [s.partitions for s in m.sizes] == [2, 6]
    assert [s.embedded_rows for s in m.sizes] == [256, 444]
    assert 0 <= m.acc1_hpo_mesh <= 1 and 0 <= m.acc1_hpo <= 1 and m.sizes[-1].worker_peak_mb > 0
    assert all(p.exists() for p in plots.figure_paths("10-scale-out", "tiny"))
    table = pd.read_csv(results.table_path("tiny", "10-scale-out.sizes"))
    assert table.n_targets.tolist() == [256, 700]
