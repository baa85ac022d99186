"""Reranker inputs: three layouts over one row format, and where each candidate's score is read.

Every row is a header ``[CLS] t [SEP]`` (the term) followed by candidate segments ``[[MASK]] c [SEP]``,
where ``c`` is the candidate's name, optionally ``name : first N tokens of its definition``
(:func:`candidate_tokens`). Per token the row also carries its token type (0 header, 1 segments), its
position id and its attention group (:mod:`lib.engines.cross`: a token sees group 0 and its own group):

=================  ==========================  ==================================  =====================
layout             rows                        attention                           positions
=================  ==========================  ==================================  =====================
``base``           one per (term, candidate)   term: itself; candidate: term+self  0 .. L-1
``shared-prefix``  one per term (C segments)   the same as base, per candidate     each segment restarts
                                                                                   after the header
``paper``          one per term (C segments)   full (every token sees every one)   0 .. L-1
=================  ==========================  ==================================  =====================

So a shared-prefix row computes the term once and gives every candidate exactly the tokens, positions
and attention it has in its base row: the scores equal base's on the same weights (a test holds them
within 1e-4), and its speed-up is pure saving. The paper's layout (Sanz-Cruzado & Lever) lets
candidates attend to each other and to their neighbours' positions; its training shuffles their order.

Read-outs (:data:`READOUTS`): ``mean`` of the candidate's own token scores (name and definition, not its
``[SEP]``), its ``first`` token, or a ``mask`` token inserted before it (the paper's, for start models
pretrained as masked language models; a contrastive sentence encoder's ``[MASK]`` state carries little).

Truncation, stated once: the term is cut to ``max_term_tokens``, a candidate's name to
``max_candidate_tokens`` and its definition to ``definition_tokens``; a segment is then cut so that the
header and one segment fit ``max_seq_length``. A packed row is never cut through a segment: the next
candidate that does not fit starts a new row of the same term (with its own header).

Hand-rolled because a tokenizer's pair template joins two segments, not a header and C of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lib.engines.batching import pad_batch, token_budget_batches

LAYOUTS = ("base", "shared-prefix", "paper")
READOUTS = ("mean", "first", "mask")
# special-token spellings tried in order (BERT / WordPiece, then RoBERTa / MPNet)
_SPELLINGS = {"cls": ("[CLS]", "<s>"), "sep": ("[SEP]", "</s>"), "mask": ("[MASK]", "<mask>"),
              "pad": ("[PAD]", "<pad>")}
DEFINITION_JOINER = " : "


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
                             "a reranker row needs [CLS], [SEP], [MASK] and [PAD]")
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


def candidate_tokens(tokenizer, names: Sequence[str], definitions: Sequence[str] | None, max_name: int,
                     max_definition: int) -> list[list[int]]:
    """``name`` cut to ``max_name`` tokens, then (``definitions`` given, ``max_definition`` > 0 and the
    concept has one) `` : `` and the first ``max_definition`` tokens of its definition."""
    out = token_ids(tokenizer, names, max_name)
    if definitions is None or max_definition <= 0:
        return out
    joiner = token_ids(tokenizer, [DEFINITION_JOINER], 8)[0]
    defs = token_ids(tokenizer, [d or "" for d in definitions], max_definition)
    return [n + joiner + d if d else n for n, d in zip(out, defs)]


@dataclass
class Inputs:
    """Rows (unpadded int64 arrays: ids, types, positions, groups) and one read-out record per scored
    (term, slot): its row and the token span ``[start, stop)`` whose scores are pooled."""

    ids: list[np.ndarray]
    types: list[np.ndarray]
    positions: list[np.ndarray]
    groups: list[np.ndarray]
    row: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    term: np.ndarray
    slot: np.ndarray
    n_terms: int
    n_slots: int
    layout: str = "base"

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())


def fit_term(term: list[int], max_seq_length: int) -> list[int]:
    """The term cut so that ``[CLS] t [SEP] [MASK] c [SEP]`` holds at least one candidate token."""
    keep = max_seq_length - 5
    if keep < 1:
        raise ValueError(f"max_seq_length={max_seq_length} cannot hold one term token and one candidate token "
                         "([CLS] t [SEP] [MASK] c [SEP] needs 6)")
    return term[:min(keep, max(1, (max_seq_length - 3) // 2))]


def build(terms: Sequence[list[int]], candidates: Sequence[Sequence[list[int] | None]], sp: Special,
          max_seq_length: int, layout: str = "base", readout: str = "mean",
          order: Sequence[Sequence[int]] | None = None) -> Inputs:
    """Rows of ``layout`` for every term and its candidates (``candidates[i][j]``: tokens of term i's slot
    j; None: an empty slot, not placed); ``order[i]``: the slots of term i in the order they are placed
    (default: slot order), so a shuffled order still scores into the same slots."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    if readout not in READOUTS:
        raise ValueError(f"unknown read-out {readout!r} (known: {', '.join(READOUTS)})")
    n_slots = max((len(c) for c in candidates), default=0)
    seg_type = 1 if sp.token_types else 0
    out: dict[str, list] = {k: [] for k in ("ids", "types", "positions", "groups")}
    rec: dict[str, list] = {k: [] for k in ("row", "start", "stop", "term", "slot")}
    lead = [sp.mask] if readout == "mask" else []

    def close(row: dict) -> None:
        for k in out:
            out[k].append(np.asarray(row[k], dtype=np.int64))

    for i, term in enumerate(terms):
        header = [sp.cls] + fit_term(list(term), max_seq_length) + [sp.sep]
        h = len(header)
        slots = list(order[i]) if order is not None else list(range(len(candidates[i])))
        row: dict | None = None
        for j in slots:
            cand = candidates[i][j]
            if cand is None:
                continue
            seg = lead + list(cand)[:max(1, max_seq_length - h - 1 - len(lead))] + [sp.sep]
            full = row is not None and (layout == "base" or len(row["ids"]) + len(seg) > max_seq_length)
            if full:
                close(row)
                row = None
            if row is None:
                row = {"ids": list(header), "types": [0] * h, "positions": list(range(h)), "groups": [0] * h, "n": 0}
            row["n"] += 1
            s0 = len(row["ids"])
            pos0 = h if layout == "shared-prefix" else s0
            group = 0 if layout == "paper" else row["n"]
            row["ids"] += seg
            row["types"] += [seg_type] * len(seg)
            row["positions"] += list(range(pos0, pos0 + len(seg)))
            row["groups"] += [group] * len(seg)
            if readout == "mean":  # the candidate's own tokens (its [SEP] when it has none)
                start = s0 + len(lead)
                stop = max(start + 1, s0 + len(seg) - 1)
            else:
                start, stop = s0, s0 + 1
            for k, v in (("row", len(out["ids"])), ("start", start), ("stop", stop), ("term", i), ("slot", j)):
                rec[k].append(v)
        if row is not None:
            close(row)
    return Inputs(out["ids"], out["types"], out["positions"], out["groups"],
                  *(np.asarray(rec[k], dtype=np.int64) for k in ("row", "start", "stop", "term", "slot")),
                  len(terms), n_slots, layout)


def collate(inputs: Inputs, rows: Sequence[int], pad_id: int) -> dict[str, np.ndarray]:
    """Padded int64 feeds of some rows: ``input_ids``, ``attention_mask``, ``token_type_ids``,
    ``position_ids``, ``attention_groups`` (:data:`lib.engines.cross.INPUTS`)."""
    rows = list(rows)
    input_ids, mask = pad_batch([inputs.ids[r] for r in rows], pad_id=pad_id)
    length = input_ids.shape[1]
    feeds = {"input_ids": input_ids, "attention_mask": mask}
    for name, part in (("token_type_ids", inputs.types), ("position_ids", inputs.positions),
                       ("attention_groups", inputs.groups)):
        feeds[name] = pad_batch([part[r] for r in rows], length=length, pad_id=0)[0]
    return feeds


def row_batches(inputs: Inputs, token_budget: int, max_rows: int) -> list[np.ndarray]:
    """Rows grouped by length into calls of at most ``token_budget`` padded tokens and ``max_rows`` rows."""
    return token_budget_batches(inputs.lengths, token_budget, max_rows)


def records_of_rows(inputs: Inputs, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices into the read-out records, their row within ``rows``) for a batch of rows."""
    local = np.full(len(inputs.ids), -1, dtype=np.int64)
    local[np.asarray(rows)] = np.arange(len(rows))
    which = np.flatnonzero(local[inputs.row] >= 0)
    return which, local[inputs.row[which]]


def pool_spans(token_scores, local_rows, start, stop):
    """The mean token score over ``[start, stop)`` of each record's row: numpy arrays or torch tensors
    (the same code for scoring and training, through a cumulative sum along the row)."""
    if isinstance(token_scores, np.ndarray):
        c = np.concatenate([np.zeros((token_scores.shape[0], 1), np.float64),
                            np.cumsum(token_scores.astype(np.float64), axis=1)], axis=1)
        return ((c[local_rows, stop] - c[local_rows, start]) / (stop - start)).astype(np.float32)
    import torch

    c = torch.nn.functional.pad(torch.cumsum(token_scores, dim=1), (1, 0))
    return (c[local_rows, stop] - c[local_rows, start]) / (stop - start).to(token_scores.dtype)
