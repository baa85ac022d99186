"""lib.rerank.inputs: one row format, three layouts (tokens, positions, attention groups), read-out spans,
candidates with definitions, truncation; lib.rerank.model.score_inputs pools each span into its slot."""

from __future__ import annotations

import numpy as np
import pytest

from lib.rerank import inputs as ri
from lib.rerank.model import score_inputs

SP = ri.Special(cls=101, sep=102, mask=103, pad=0, token_types=True)
TERM = [11, 12]
CANDS = [[21], [31, 32, 33], None, [41, 42]]   # slot 2 is empty
HEADER = [101, 11, 12, 102]


def test_base_rows_are_header_then_one_candidate():
    inp = ri.build([TERM], [CANDS], SP, 64, "base")
    assert [r.tolist() for r in inp.ids] == [HEADER + c + [102] for c in (CANDS[0], CANDS[1], CANDS[3])]
    assert inp.row.tolist() == [0, 1, 2] and inp.slot.tolist() == [0, 1, 3] and inp.term.tolist() == [0, 0, 0]
    assert inp.types[1].tolist() == [0] * 4 + [1] * 4 and inp.groups[1].tolist() == [0] * 4 + [1] * 4
    assert inp.positions[1].tolist() == list(range(8))
    assert (inp.start.tolist(), inp.stop.tolist()) == ([4, 4, 4], [5, 7, 6])   # the candidate's own tokens
    assert (inp.n_terms, inp.n_slots) == (1, 4)


def test_shared_prefix_gives_each_candidate_its_base_positions_and_group():
    base = ri.build([TERM], [CANDS], SP, 64, "base")
    inp = ri.build([TERM], [CANDS], SP, 64, "shared-prefix")
    assert len(inp.ids) == 1
    assert inp.ids[0].tolist() == HEADER + [21, 102, 31, 32, 33, 102, 41, 42, 102]
    assert inp.groups[0].tolist() == [0] * 4 + [1, 1, 2, 2, 2, 2, 3, 3, 3]
    assert inp.positions[0].tolist() == [0, 1, 2, 3, 4, 5, 4, 5, 6, 7, 4, 5, 6]
    for k, (s, e) in enumerate(zip(inp.start, inp.stop)):             # same tokens at the same positions as base
        b = base.ids[k][base.start[k]:base.stop[k]].tolist()
        assert inp.ids[0][s:e].tolist() == b
        assert inp.positions[0][s:e].tolist() == base.positions[k][base.start[k]:base.stop[k]].tolist()


def test_paper_layout_is_one_row_with_full_attention_and_running_positions():
    inp = ri.build([TERM, [13]], [CANDS, [[51], [52]]], SP, 64, "paper")
    assert len(inp.ids) == 2 and not inp.groups[0].any()
    assert inp.positions[0].tolist() == list(range(len(inp.ids[0])))
    for r, s, e, t, j in zip(inp.row, inp.start, inp.stop, inp.term, inp.slot):
        assert inp.ids[r][s:e].tolist() == [CANDS, [[51], [52]]][t][j]
    assert sorted(zip(inp.term.tolist(), inp.slot.tolist())) == [(0, 0), (0, 1), (0, 3), (1, 0), (1, 1)]


@pytest.mark.parametrize("readout", ["first", "mask"])
def test_first_token_and_mask_read_outs(readout):
    inp = ri.build([TERM], [CANDS], SP, 64, "shared-prefix", readout)
    assert (inp.stop - inp.start).tolist() == [1, 1, 1]
    read = [int(inp.ids[0][s]) for s in inp.start]
    assert read == ([SP.mask] * 3 if readout == "mask" else [21, 31, 41])


def test_a_shuffled_order_still_scores_into_the_same_slots():
    inp = ri.build([TERM], [CANDS], SP, 64, "paper", order=[[3, 0, 1]])
    assert inp.slot.tolist() == [3, 0, 1]
    for r, s, e, j in zip(inp.row, inp.start, inp.stop, inp.slot):
        assert inp.ids[r][s:e].tolist() == CANDS[j]


def test_packed_rows_too_long_are_split_never_cut_through_a_candidate():
    cands = [[21], [22], [23], [24], [25]]
    inp = ri.build([TERM], [cands], SP, 9, "shared-prefix")   # header 4 + at most 2 segments of 2 tokens
    assert len(inp.ids) == 3 and all(len(r) <= 9 for r in inp.ids)
    assert all(r[:4].tolist() == HEADER for r in inp.ids)
    assert sorted(inp.slot.tolist()) == [0, 1, 2, 3, 4]


def test_a_long_term_and_candidate_are_cut_to_fit_one_segment():
    long_term, long_cand = list(range(200, 220)), list(range(300, 340))
    inp = ri.build([long_term], [[long_cand]], SP, 16, "base")
    assert len(inp.ids[0]) == 16 and inp.ids[0][:8].tolist() == [101, *long_term[:6], 102]
    with pytest.raises(ValueError, match="max_seq_length"):
        ri.build([TERM], [[[21]]], SP, 5)
    with pytest.raises(ValueError, match="layout"):
        ri.build([TERM], [[[21]]], SP, 64, "packed")


def test_no_token_types_for_models_without_them():
    inp = ri.build([TERM], [CANDS], ri.Special(101, 102, 103, 0, token_types=False), 64, "base")
    assert not inp.types[0].any()


class TokenIdScores:
    """A fake engine whose token score is the token id: the mean read-out of a span is the mean id of the
    candidate's tokens, checked end to end through batching, padding and pooling."""

    def __init__(self):
        self.batch_times = []

    def forward(self, feeds):
        self.batch_times.append(0.0)
        return feeds["input_ids"].astype(np.float32)


@pytest.mark.parametrize("layout", ["base", "shared-prefix", "paper"])
def test_scores_pool_each_span_into_term_by_slot(layout):
    rng = np.random.default_rng(0)
    terms = [list(rng.integers(200, 300, size=rng.integers(1, 4))) for _ in range(7)]
    cands = [[list(rng.integers(1000, 2000, size=rng.integers(1, 5))) if rng.random() > 0.2 else None
              for _ in range(5)] for _ in terms]
    inp = ri.build(terms, cands, SP, 24, layout)
    eng = TokenIdScores()
    out = score_inputs(eng, inp, SP.pad, token_budget=60, max_rows=4)
    assert len(eng.batch_times) > 1                                    # several batches
    for i, row in enumerate(cands):
        for j, c in enumerate(row):
            assert (np.isnan(out[i, j]) if c is None else out[i, j] == pytest.approx(np.mean(c)))


def test_candidates_with_definitions_are_name_joiner_first_n_tokens(tiny_setup):
    from lib.engines.hub import resolve_model_dir

    P, _, _ = tiny_setup
    tok = ri.text_tokenizer(resolve_model_dir(P))
    names, defs = ["big head", "small ear"], ["an abnormally large head circumference", ""]
    plain = ri.candidate_tokens(tok, names, None, 24, 6)
    with_def = ri.candidate_tokens(tok, names, defs, 24, 3)
    joiner = ri.token_ids(tok, [ri.DEFINITION_JOINER], 8)[0]
    assert with_def[0] == plain[0] + joiner + ri.token_ids(tok, [defs[0]], 3)[0]
    assert with_def[1] == plain[1]                                     # no definition: the name alone
    assert ri.candidate_tokens(tok, names, defs, 24, 0) == plain
