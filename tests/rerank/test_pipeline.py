"""lib.rerank.pipeline: what a reranker reads for each retrieved candidate when definitions are targets."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from lib.rerank.candidates import Candidates
from lib.rerank.pipeline import shown_names


def data(with_definitions: bool) -> SimpleNamespace:
    rows = [("HP:1", "Macrocephaly", "PT"), ("HP:1", "Large head", "SY"), ("HP:2", "Fever", "PT"),
            ("HP:3", "Microtia", "PT")]
    if with_definitions:
        rows += [("HP:1", "Occipitofrontal head circumference above the 97th centile", "DEF"),
                 ("HP:2", "Elevated body temperature", "DEF")]
    return SimpleNamespace(targets=pd.DataFrame(rows, columns=["CODE", "STR", "TTY"]), target_code_column="CODE")


def cands() -> Candidates:
    conc = np.array([["HP:1", "HP:2", "HP:3"], ["HP:2", "HP:1", ""]], dtype=object)
    strs = np.array([["Occipitofrontal head circumference above the 97th centile", "Fever", "Microtia"],
                     ["Elevated body temperature", "Large head", ""]], dtype=object)
    return Candidates(conc, strs, np.array([[0.9, 0.5, 0.4], [0.8, 0.3, -np.inf]], np.float32), {"retriever": "x"})


def test_a_candidate_matched_by_its_definition_is_shown_by_its_preferred_name():
    out = shown_names(data(True))(cands())
    assert out.strings.tolist() == [["Macrocephaly", "Fever", "Microtia"], ["Fever", "Large head", ""]]
    assert out.info == {"retriever": "x", "definitions_shown_as_names": 2}
    assert np.array_equal(out.concepts, cands().concepts) and np.array_equal(out.scores, cands().scores)


def test_without_definition_targets_the_candidates_are_unchanged():
    c = cands()
    assert shown_names(data(False))(c) is c
