"""Evaluator objects over encoders (lib.evaluators): items, metrics and paired intervals, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from lib import params
from lib.engines.encoder import Batching
from lib.evaluators import AgreementEvaluator, AlignmentEvaluator, STSEvaluator, embed_texts


class _TableEncoder:
    """Vectors from a table (text -> unit vector): every metric can be computed by hand."""

    name, fmt, info, identity = "table", "test", {}, {}
    batching = Batching(1, 1)

    def __init__(self, table: dict[str, list[float]], tag: str):
        self.table, self.fingerprint, self.P = table, f"table-{tag}", params.load("tiny")

    def encode(self, texts, progress=False):
        v = np.array([self.table[t] for t in texts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_sts_evaluator_is_the_spearman_of_pair_cosines():
    df = pd.DataFrame({"sentence1": ["a", "b", "c", "d"], "sentence2": ["e", "f", "g", "h"],
                       "score": [0.0, 1.0, 2.0, 3.0]})
    angles = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0, "e": 1.2, "f": 0.9, "g": 0.3, "h": 0.5}
    enc = _TableEncoder({t: [np.cos(a), np.sin(a)] for t, a in angles.items()}, "sts")
    ev = STSEvaluator.from_frame("toy", df)
    cos = [np.cos(angles[t]) for t in "efgh"]                 # pairs share one side at angle 0
    assert ev(enc, use_cache=False) == {"spearman[toy]": pytest.approx(spearmanr(cos, df.score).statistic)}
    assert ev.metrics(np.array(cos))["spearman[toy]"] == pytest.approx(0.8)   # ranks 1,2,4,3 vs 1,2,3,4
    lo, hi = ev.drop_cis(np.array(cos), np.array(cos), 50)["spearman[toy]"]
    assert lo == hi == 0.0                                                    # no drop against itself


def test_alignment_evaluator_counts_a_string_of_several_concepts_for_any():
    queries = pd.DataFrame({"source_text": ["q1", "q2", "q3"], "gold_hpos": [("H1",), ("H2", "H3"), ("H9",)],
                            "trivial": [True, False, False]})
    targets = pd.DataFrame({"STR": ["t1", "t2", "t3"], "CODE": ["H1", "H3", "H4"]})
    enc = _TableEncoder({"q1": [1, 0, 0], "q2": [0, 1, 0], "q3": [0, 0, 1],
                         "t1": [1, 0.1, 0], "t2": [0, 1, 0.1], "t3": [0, 0.1, 1]}, "align")
    ev = AlignmentEvaluator.from_frames(queries, targets)
    items = ev.items(embed_texts(enc, ev.texts, use_cache=False))
    assert items.tolist() == ["H1", "H3", "H4"]
    assert ev.metrics(items) == {"acc1": pytest.approx(2 / 3), "acc1_nontrivial": pytest.approx(1 / 2)}
    worse = np.array(["H4", "H3", "H4"], dtype=object)
    assert ev.top1_agreement(items, worse) == pytest.approx(2 / 3)
    lo, hi = ev.drop_cis(items, worse, 200)["acc1"]
    assert lo <= 1 / 3 <= hi


def test_agreement_evaluator_compares_with_reference_vectors():
    ref = _TableEncoder({"x": [1, 0], "y": [0, 1], "z": [1, 1]}, "ref")
    other = _TableEncoder({"x": [1, 0.1], "y": [0, 1], "z": [1, 1]}, "other")
    ev = AgreementEvaluator(["x", "y", "z"])
    ref_vec = ev.items(embed_texts(ref, ev.texts, use_cache=False))
    m = ev.with_reference(ref_vec)(other, use_cache=False)
    assert m["min_cosine"] == pytest.approx(1 / np.sqrt(1.01), abs=1e-6) and m["n"] == 3
    with pytest.raises(ValueError, match="reference"):
        ev(other, use_cache=False)
