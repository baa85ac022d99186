"""lib.engines.cross: the cross-encoder scorer. A new head is zero (f = 0: the retriever's order); the
shared-prefix layout equals base on the same weights while computing the term once; a reranker folder
saves, loads and names its kind."""

from __future__ import annotations

import numpy as np
import pytest

from lib.engines import cross
from lib.rerank.candidates import Candidates
from lib.rerank.model import TorchCross, score_inputs
from lib.rerank.train import Texts

TERMS = ["big head", "small ear", "abnormal heart shape", "fever"]
DEFS = {"C1": "a head circumference above the 97th centile", "C2": "small external ear", "C4": "raised temperature"}


def candidates() -> Candidates:
    conc = np.array([["C1", "C2", "C3", "C4"], ["C2", "C1", "", ""], ["C3", "C1", "C2", "C4"], ["C4", "C3", "C1", ""]],
                    dtype=object)
    strs = np.array([["macrocephaly", "microtia", "heart", "pyrexia"], ["microtia", "macrocephaly", "", ""],
                     ["abnormal heart morphology", "large head", "small ear", "fever"],
                     ["hyperthermia", "cardiac", "skull", ""]], dtype=object)
    return Candidates(conc, strs, np.where(conc != "", 0.5, -np.inf).astype(np.float32))


@pytest.fixture(scope="module")
def random_head(tiny_dir):
    """The tiny encoder under a random (not zero) head: scores that differ per token and candidate."""
    import torch

    torch.manual_seed(3)
    m = cross.new_scorer(tiny_dir, attn_implementation="eager")
    torch.nn.init.normal_(m.head.weight)
    torch.nn.init.normal_(m.head.bias)
    return m.eval()


def scores(model, tiny_dir, layout: str, definitions=None, readout: str = "mean") -> np.ndarray:
    from lib.params import Rerank
    texts = Texts(tiny_dir, Rerank(max_seq_length=48, definition_tokens=5, readout=readout), definitions)
    return score_inputs(TorchCross(model), texts.inputs(TERMS, candidates(), layout), texts.special.pad, 256, 3)


def test_a_new_scorer_has_a_zero_head_so_f_is_zero(tiny_dir):
    m = cross.new_scorer(tiny_dir, weight=20.0)
    f = scores(m.eval(), tiny_dir, "base")
    assert np.array_equal(np.isnan(f), ~candidates().valid) and np.nanmax(np.abs(f)) == 0.0
    assert m.weight.item() == 20.0 and m.weight.requires_grad


@pytest.mark.parametrize("readout", ["mean", "first", "mask"])
@pytest.mark.parametrize("definitions", [None, DEFS], ids=["names", "definitions"])
def test_shared_prefix_equals_base_on_the_same_weights(random_head, tiny_dir, readout, definitions):
    base = scores(random_head, tiny_dir, "base", definitions, readout)
    shared = scores(random_head, tiny_dir, "shared-prefix", definitions, readout)
    assert np.array_equal(np.isnan(base), np.isnan(shared)) and np.nanstd(base) > 0.1
    assert np.nanmax(np.abs(base - shared)) < 1e-4
    paper = scores(random_head, tiny_dir, "paper", definitions, readout)   # full attention: not the same function
    assert np.nanmax(np.abs(base - paper)) > 1e-3


def test_shared_prefix_computes_the_term_once(random_head, tiny_dir):
    from lib.params import Rerank
    texts = Texts(tiny_dir, Rerank(max_seq_length=256), None)
    base = texts.inputs(TERMS, candidates(), "base")
    shared = texts.inputs(TERMS, candidates(), "shared-prefix")
    assert len(shared.ids) == len(TERMS) and len(base.ids) == int(candidates().valid.sum())
    assert shared.tokens < base.tokens


def test_a_reranker_folder_saves_loads_and_names_its_kind(random_head, tiny_dir, tmp_path):
    out = tmp_path / "rr"
    out.mkdir()
    random_head.weight.data.fill_(12.5)
    cross.save_scorer(random_head, out, {"readout": "mean"}, tiny_dir)
    assert cross.model_kind(out) == "reranker" and cross.model_kind(tiny_dir) == "encoder"
    assert cross.reranker_config(out)["readout"] == "mean" and (out / "tokenizer.json").exists()
    back = cross.load_scorer(out)
    assert back.weight.item() == 12.5
    assert np.nanmax(np.abs(scores(back, tiny_dir, "base") - scores(random_head, tiny_dir, "base"))) < 1e-5
