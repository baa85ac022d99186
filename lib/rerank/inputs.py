"""Reranker inputs: the base and packed layouts, and which (term, candidate) each [MASK] stands for.

Layouts (the paper's, without its context sentence: lay terms come without one)::

    base    [CLS] t [SEP] t [MASK] c [SEP]                                  one row per (term, candidate)
    packed  [CLS] t [SEP] t [MASK] c_1 [SEP] t [MASK] c_2 [SEP] ... t [MASK] c_C [SEP]      one row per term

Token types are 0 for the header ``[CLS] t [SEP]`` and 1 after it (BERT's pair convention) when the model
has two token types, else all 0. Both layouts come from one builder, :func:`build`: a row is the header
followed by as many segments ``t [MASK] c [SEP]`` as it may hold (base: one).

Truncation, stated once: a term is cut to ``max_term_tokens`` tokens and a candidate to
``max_candidate_tokens`` (:func:`token_ids`); then, so that the header and one segment always fit
``max_seq_length``, the term to ``(max_seq_length - 5) // 2`` tokens and the candidate to what is left.
A packed row is never cut through a
segment: when the next candidate does not fit, it starts a new row of the same term (with its own
header), so every candidate keeps its [MASK] and its score; those candidates only lose attention to
the ones in the other row. :class:`Inputs` records, per [MASK], its row, position, term and slot.

Hand-rolled because a tokenizer's pair template joins two segments, not a header and C of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lib.engines.batching import pad_batch, token_budget_batches

# special-token spellings tried in order (BERT / WordPiece, then RoBERTa / MPNet)
_SPELLINGS = {"cls": ("[CLS]", "<s>"), "sep": ("[SEP]", "</s>"), "mask": ("[MASK]", "<mask>"),
              "pad": ("[PAD]", "<pad>")}


@dataclass(frozen=True)
class Special:
    """Ids of the special tokens a layout needs, and whether the model reads token types."""

    cls: int
    sep: int
    mask: int
    pad: int
    token_types: bool


def special_tokens(model_dir: Path, tokenizer) -> Special:
    """The special tokens of a model folder (its Rust ``tokenizer``) and its config's type vocabulary."""
    ids = {}
    for key, spellings in _SPELLINGS.items():
        found = [tokenizer.token_to_id(s) for s in spellings if tokenizer.token_to_id(s) is not None]
        if not found:
            raise ValueError(f"{model_dir}: the tokenizer has no {key} token (tried {', '.join(spellings)}); "
                             "a [MASK] reranker needs [CLS], [SEP], [MASK] and [PAD]")
        ids[key] = int(found[0])
    cfg = Path(model_dir) / "config.json"
    types = json.loads(cfg.read_text(encoding="utf-8")).get("type_vocab_size", 0) if cfg.exists() else 0
    return Special(ids["cls"], ids["sep"], ids["mask"], ids["pad"], bool(types and types >= 2))


def text_tokenizer(model_dir: Path):
    """The model's Rust tokenizer, without padding, truncation or special tokens added (done here)."""
    from tokenizers import Tokenizer

    path = Path(model_dir) / "tokenizer.json"
    if path.exists():
        tok = Tokenizer.from_file(str(path))
    else:  # models without a tokenizer.json: transformers converts its tokenizer
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(str(model_dir)).backend_tokenizer
    tok.no_padding()
    tok.no_truncation()
    return tok


def token_ids(tokenizer, texts: Sequence[str], limit: int) -> list[list[int]]:
    """Token ids of each text without special tokens, cut to ``limit`` tokens."""
    return [e.ids[:limit] for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


@dataclass
class Inputs:
    """Rows of token ids (unpadded) and, per [MASK], its row, its position in the row, the term and the
    candidate slot it scores. ``n_terms`` x ``n_slots`` is the shape of the score matrix."""

    ids: list[np.ndarray]
    types: list[np.ndarray]
    row: np.ndarray
    pos: np.ndarray
    term: np.ndarray
    slot: np.ndarray
    n_terms: int
    n_slots: int

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())


def fit_term(term: list[int], max_seq_length: int) -> list[int]:
    """The term cut so that ``[CLS] t [SEP] t [MASK] c [SEP]`` holds at least one candidate token."""
    keep = (max_seq_length - 5) // 2
    if keep < 1:
        raise ValueError(f"max_seq_length={max_seq_length} cannot hold one term token and one candidate token "
                         "([CLS] t [SEP] t [MASK] c [SEP] needs 7)")
    return term[:keep]


def fit_candidate(term: list[int], cand: list[int], max_seq_length: int) -> list[int]:
    """The candidate cut so that the header and its one segment fit ``max_seq_length``."""
    return cand[:max_seq_length - 4 - 2 * len(term)]


def build(terms: Sequence[list[int]], candidates: Sequence[Sequence[list[int] | None]], sp: Special,
          max_seq_length: int, per_row: int | None = None,
          order: Sequence[Sequence[int]] | None = None) -> Inputs:
    """Rows for every term and its candidates: ``per_row=1`` is the base layout, ``None`` the packed one
    (as many candidates per row as fit). ``candidates[i][j]`` are the tokens of term i's slot j (None: an
    empty slot, not placed); ``order[i]`` the slots of term i in the order they are placed (default:
    slot order), so a shuffled order still scores into the same slots."""
    if per_row is not None and per_row < 1:
        raise ValueError(f"per_row must be >= 1 or None, got {per_row}")
    n_slots = max((len(c) for c in candidates), default=0)
    ids: list[np.ndarray] = []
    types: list[np.ndarray] = []
    rec_row, rec_pos, rec_term, rec_slot = [], [], [], []
    seg_type = 1 if sp.token_types else 0

    for i, term in enumerate(terms):
        t = fit_term(list(term), max_seq_length)
        header = [sp.cls] + t + [sp.sep]
        slots = list(order[i]) if order is not None else list(range(len(candidates[i])))
        row: list[int] = []
        in_row = 0
        for j in slots:
            cand = candidates[i][j]
            if cand is None:
                continue
            segment = t + [sp.mask] + fit_candidate(t, list(cand), max_seq_length) + [sp.sep]
            if row and ((per_row is not None and in_row >= per_row) or len(row) + len(segment) > max_seq_length):
                ids.append(np.asarray(row, dtype=np.int64))
                types.append(np.asarray([0] * len(header) + [seg_type] * (len(row) - len(header)), dtype=np.int64))
                row, in_row = [], 0
            if not row:
                row = list(header)
            rec_row.append(len(ids))
            rec_pos.append(len(row) + len(t))
            rec_term.append(i)
            rec_slot.append(j)
            row += segment
            in_row += 1
        if row:
            ids.append(np.asarray(row, dtype=np.int64))
            types.append(np.asarray([0] * len(header) + [seg_type] * (len(row) - len(header)), dtype=np.int64))
    return Inputs(ids, types, np.asarray(rec_row, dtype=np.int64), np.asarray(rec_pos, dtype=np.int64),
                  np.asarray(rec_term, dtype=np.int64), np.asarray(rec_slot, dtype=np.int64), len(terms), n_slots)


def collate(inputs: Inputs, rows: Sequence[int], pad_id: int) -> dict[str, np.ndarray]:
    """Padded int64 feeds (``input_ids``, ``attention_mask``, ``token_type_ids``) of some rows."""
    input_ids, mask = pad_batch([inputs.ids[r] for r in rows], pad_id=pad_id)
    types, _ = pad_batch([inputs.types[r] for r in rows], length=input_ids.shape[1], pad_id=0)
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": types}


def row_batches(inputs: Inputs, token_budget: int, max_rows: int) -> list[np.ndarray]:
    """Rows grouped by length into calls of at most ``token_budget`` padded tokens and ``max_rows`` rows."""
    return token_budget_batches(inputs.lengths, token_budget, max_rows)


def masks_of_rows(inputs: Inputs, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices into the [MASK] records, their row within ``rows``, their position) for a batch of rows."""
    local = np.full(len(inputs.ids), -1, dtype=np.int64)
    local[np.asarray(rows)] = np.arange(len(rows))
    which = np.flatnonzero(local[inputs.row] >= 0)
    return which, local[inputs.row[which]], inputs.pos[which]
