"""lib.rerank.inputs: the base and packed layouts, the [MASK] -> (term, candidate) map, truncation."""

from __future__ import annotations

import numpy as np
import pytest

from lib.rerank import inputs as ri
from lib.rerank.model import score_inputs

SP = ri.Special(cls=101, sep=102, mask=103, pad=0, token_types=True)
TERM = [11, 12]
CANDS = [[21], [31, 32, 33], None, [41, 42]]   # slot 2 is empty


def segment_after(row: np.ndarray, pos: int) -> list[int]:
    """Tokens after a [MASK] up to the next [SEP]."""
    rest = row[pos + 1:].tolist()
    return rest[:rest.index(SP.sep)]


def test_base_layout_is_term_sep_term_mask_candidate():
    inp = ri.build([TERM], [CANDS], SP, 64, per_row=1)
    assert [r.tolist() for r in inp.ids] == [[101, 11, 12, 102, 11, 12, 103, *c, 102]
                                             for c in (CANDS[0], CANDS[1], CANDS[3])]
    assert inp.row.tolist() == [0, 1, 2] and inp.slot.tolist() == [0, 1, 3] and inp.term.tolist() == [0, 0, 0]
    assert all(inp.ids[r][p] == SP.mask for r, p in zip(inp.row, inp.pos))
    assert inp.types[0].tolist() == [0, 0, 0, 0] + [1] * 5      # header type 0, segment type 1
    assert (inp.n_terms, inp.n_slots) == (1, 4)


def test_packed_layout_one_row_and_each_mask_maps_to_its_candidate():
    inp = ri.build([TERM, [13]], [CANDS, [[51], [52]]], SP, 64)
    assert len(inp.ids) == 2
    assert inp.ids[0].tolist() == [101, 11, 12, 102, 11, 12, 103, 21, 102, 11, 12, 103, 31, 32, 33, 102,
                                   11, 12, 103, 41, 42, 102]
    for r, p, t, s in zip(inp.row, inp.pos, inp.term, inp.slot):
        cands = [CANDS, [[51], [52]]][t]
        assert inp.ids[r][p] == SP.mask
        assert segment_after(inp.ids[r], p) == cands[s]
        assert inp.ids[r][p - len([TERM, [13]][t]):p].tolist() == [TERM, [13]][t]   # the term before each [MASK]
    assert sorted(zip(inp.term.tolist(), inp.slot.tolist())) == [(0, 0), (0, 1), (0, 3), (1, 0), (1, 1)]


def test_a_shuffled_order_still_scores_into_the_same_slots():
    inp = ri.build([TERM], [CANDS], SP, 64, order=[[3, 0, 1]])
    assert inp.slot.tolist() == [3, 0, 1]                              # placed in the given order
    for r, p, s in zip(inp.row, inp.pos, inp.slot):
        assert segment_after(inp.ids[r], p) == CANDS[s]


def test_packed_input_too_long_is_split_never_cut_through_a_candidate():
    """Each segment is len(t)+1+len(c)+1 = 4..6 tokens, the header 4: at 14 tokens a row holds two short
    segments, so the packed input is split across rows, each with its own header; every candidate keeps
    its [MASK] exactly once and every row fits."""
    cands = [[21], [22], [23], [24], [25]]
    inp = ri.build([TERM], [cands], SP, 14)
    assert len(inp.ids) == 3 and all(len(r) <= 14 for r in inp.ids)
    assert all(r[:4].tolist() == [101, 11, 12, 102] for r in inp.ids)
    assert sorted(inp.slot.tolist()) == [0, 1, 2, 3, 4]
    for r, p, s in zip(inp.row, inp.pos, inp.slot):
        assert segment_after(inp.ids[r], p) == cands[s]


def test_a_long_candidate_and_term_are_cut_to_fit_one_segment():
    long_term, long_cand = list(range(200, 220)), list(range(300, 340))
    inp = ri.build([long_term], [[long_cand]], SP, 16)
    row = inp.ids[0]
    assert len(row) == 16
    kept_term = ri.fit_term(long_term, 16)
    assert kept_term == long_term[:5]                                  # (16 - 5) // 2
    assert row[:7].tolist() == [101, *kept_term, 102]
    assert segment_after(row, int(inp.pos[0])) == long_cand[:16 - 4 - 2 * 5]
    with pytest.raises(ValueError, match="max_seq_length"):
        ri.build([TERM], [[[21]]], SP, 6)


def test_no_token_types_for_models_without_them():
    sp = ri.Special(101, 102, 103, 0, token_types=False)
    inp = ri.build([TERM], [CANDS], sp, 64)
    assert not inp.types[0].any()


class FirstCandidateToken:
    """A fake engine: the margin at a position is the id of the token after it (at a [MASK]: the
    candidate's first token), so gathering is checked end to end through batching and padding."""

    name = "fake"

    def __init__(self):
        self.calls = 0

    def margins(self, feeds):
        self.calls += 1
        ids = feeds["input_ids"]
        return np.concatenate([ids[:, 1:], np.zeros((len(ids), 1), dtype=ids.dtype)], axis=1).astype(np.float32)


@pytest.mark.parametrize("per_row", [1, None])
def test_scores_gather_at_each_mask_into_term_by_slot(per_row):
    rng = np.random.default_rng(0)
    terms = [list(rng.integers(200, 300, size=rng.integers(1, 4))) for _ in range(7)]
    cands = [[list(rng.integers(1000, 2000, size=rng.integers(1, 5))) if rng.random() > 0.2 else None
              for _ in range(5)] for _ in terms]
    inp = ri.build(terms, cands, SP, 24, per_row)
    eng = FirstCandidateToken()
    out = score_inputs(eng, inp, SP.pad, token_budget=60, max_rows=4)
    assert eng.calls > 1                                               # several batches
    for i, row in enumerate(cands):
        for j, c in enumerate(row):
            assert (np.isnan(out[i, j]) if c is None else out[i, j] == c[0])
