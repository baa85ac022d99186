"""The benchmark's strings and its quality measures: the same texts for every engine, cosine to FP32,
HPO lay-term Acc@1 (per term, for paired tests) and the choice of our best INT8 engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass
class BenchTexts:
    """The same strings for every engine: a timing sample and the quality set (sampled, see info)."""

    timing: list[str]
    targets: list[str]
    target_codes: list[str]
    sources: list[str]
    gold: list[tuple[str, ...]]
    info: dict = field(default_factory=dict)


def bench_texts(n_timing: int = 5000, seed: int = 0, max_targets: int | None = None,
                max_sources: int | None = None) -> BenchTexts:
    """HPO target strings (timing sample) and the quality set: lay terms with gold HPO ids against
    targets, sampled by :func:`lib.data.tiers.sample_alignment` (gold targets always kept, counts in info)."""
    from lib.data.hpo import load_hpo
    from lib.data.tiers import sample_alignment

    hpo = load_hpo()
    rng = np.random.default_rng(seed)
    all_targets = hpo.targets["STR"].astype(str).tolist()
    pick = rng.choice(len(all_targets), min(n_timing, len(all_targets)), replace=False)
    timing = [all_targets[i] for i in pick]
    lex, tg, sample = sample_alignment(hpo.lexicon, hpo.targets, max_sources or None, max_targets or None, seed)
    info = {"hpo_version": hpo.version, "n_timing": len(timing), "n_targets": len(tg),
            "n_sources": len(lex), "seed": seed, "quality_sample": sample}
    return BenchTexts(timing, tg["STR"].astype(str).tolist(), tg["CODE"].astype(str).tolist(),
                      lex["source_text"].astype(str).tolist(), [tuple(g) for g in lex["gold_hpos"]], info)


def token_lengths(tokenizer_dir: Path, texts: Sequence[str], max_length: int) -> np.ndarray:
    """Real (unpadded) token counts per string, special tokens included."""
    from lib.engines.ort import load_fast_tokenizer

    tok = load_fast_tokenizer(tokenizer_dir, max_length)
    return np.array([len(e.ids) for e in tok.encode_batch(list(texts))], dtype=np.int64)


def mean_cosine(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Row-wise cosine of two sets of vectors of the same strings (normalised here: a side venv's
    engine may return them unnormalised): mean and worst."""
    from lib.engines.batching import normalize

    c = np.sum(normalize(a) * normalize(b), axis=1)
    return {"mean": float(c.mean()), "min": float(c.min())}


def hits_at_1(source_vecs: np.ndarray, target_vecs: np.ndarray, target_codes: Sequence[str],
              gold: Sequence[Sequence[str]]) -> np.ndarray:
    """Per lay term: is the top-1 target's HPO id among its gold ids (kept per term for paired tests)."""
    from lib.evaluate.retrieval import gold_ranks
    from lib.search.topk import topk

    _, idx = topk(source_vecs, target_vecs, 1)
    codes = np.asarray(target_codes, dtype=object)[idx]
    return gold_ranks(codes, gold) == 1


def acc_at_1(source_vecs: np.ndarray, target_vecs: np.ndarray, target_codes: Sequence[str],
             gold: Sequence[Sequence[str]]) -> float:
    """HPO lay-term Acc@1: top-1 target's HPO id among the source's gold ids."""
    return float(hits_at_1(source_vecs, target_vecs, target_codes, gold).mean())


def not_worse(hits: np.ndarray, peer_hits: np.ndarray, level: float = 0.05) -> dict:
    """Acc@1 of ``hits`` against the peer's on the same lay terms: equal or better if it is higher, or
    if the exact McNemar test finds no difference at ``level`` (two INT8 roundings of one FP32 model flip
    a few dozen terms each way, so a strict >= on a sample is a coin toss)."""
    from lib.evaluate.retrieval import paired_mcnemar

    t = paired_mcnemar(hits, peer_hits)
    t["level"] = level
    t["higher"] = t["diff"] >= 0
    t["not_worse"] = bool(t["higher"] or t["p"] >= level)
    return t


def batch_invariance(alone: np.ndarray, mixed: np.ndarray) -> dict[str, float]:
    """How far the same strings' vectors move when their batch-mates change: max |dv| over every component
    and the worst cosine (vectors normalised here). 0 for an engine whose vector of a string depends on that
    string only (FP32, static INT8); dynamic INT8 computes its activation scale per call, so it moves."""
    from lib.engines.batching import normalize

    a, b = normalize(alone), normalize(mixed)
    return {"max_abs_dv": float(np.abs(a - b).max()), "min_cosine": float(np.sum(a * b, axis=1).min()),
            "strings": int(len(a))}


def mixed_probe(sources: Sequence[str], fillers: Sequence[str], n_probe: int,
                seed: int) -> tuple[list[str], np.ndarray]:
    """The first ``n_probe`` lay terms shuffled among ``fillers`` (other strings, other lengths): the texts to
    encode and the probes' positions in them, for :func:`batch_invariance` against the lay terms' own run."""
    probe = list(sources[:n_probe])
    texts = probe + list(fillers)
    order = np.random.default_rng(seed).permutation(len(texts))
    pos = np.empty(len(texts), dtype=np.int64)
    pos[order] = np.arange(len(texts))
    return [texts[i] for i in order], pos[:len(probe)]


def best_int8(engines: dict[str, dict], min_cosine: float) -> str | None:
    """Our fastest quality-gated INT8 engine: cosine to FP32 >= ``min_cosine`` (the 03 gate's) and Acc@1
    not worse than the peer's INT8 (:func:`not_worse`). Only the lean engines (kinds ``fast``: ONNX
    Runtime, :mod:`lib.engines.ort`, and ``ov``: OpenVINO, :mod:`lib.engines.openvino`; model folder
    given, no torch import) compete: they are what lib offers for deployment. The ``lib`` engines are
    what the notebooks load, in the table for comparison; on a noisy run one could edge ahead on speed
    within noise, with more memory."""
    from bench.engines import LEAN_KINDS

    cands = [k for k, e in engines.items() if e.get("precision") == "int8" and e.get("kind") in LEAN_KINDS
             and (e.get("cosine_to_fp32") or {}).get("mean", 0) >= min_cosine
             and (e.get("acc1_vs_st_int8") or {}).get("not_worse", True)]
    return max(cands, key=lambda k: engines[k]["strings_per_s"]) if cands else None
