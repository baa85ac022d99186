"""The quality gate: every model format is measured the same way as FP32 PyTorch, and passes or fails.

Metrics per format: agreement with FP32 embeddings (mean / min cosine, nearest-neighbour agreement),
HPO lay-term alignment Acc@1 (all and non-trivial), STS Spearman (all BIOSSES pairs, STS-benchmark dev),
latency per batch (avg / max / min over interleaved rounds), model file size, energy from RAPL when
this machine exposes it (never assumed) and the CO2 that follows from ``P.co2_kg_per_kwh``.
A format that breaks a threshold is reported as failing with its reasons and is never chosen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lib.data import public
from lib.data.hpo import load_hpo
from lib.data.tiers import sample_alignment
from lib.engines.cache import embed
from lib.evaluate.retrieval import accuracy_at_k, embedding_agreement, gold_ranks
from lib.formats import load_encoder
from lib.params import Params
from lib.perf.size import model_size_mb
from lib.perf.timing import interleaved_rounds, latency_batches, latency_summary, timed_batches
from lib.search.topk import topk

log = logging.getLogger("lib.gate")


REFERENCE = "fp32-torch"


INT8_FORMATS = ("onnx-int8-dynamic", "onnx-int8-smoothquant", "torch-int8", "ov-int8")


@dataclass
class GateData:
    """Texts every format encodes; built once per run so all formats see the same inputs."""

    queries: pd.DataFrame          # lay terms: source_text, gold_hpos, trivial
    targets: pd.DataFrame          # MRCONSO layout: STR, CODE (HPO id)
    sts: dict[str, pd.DataFrame]   # name -> sentence1, sentence2, score
    latency_texts: list[str]
    info: dict = field(default_factory=dict)

    @property
    def agreement_texts(self) -> list[str]:
        """Strings whose FP32 vectors the other formats must reproduce: queries and STS sentences."""
        sts = [s for df in self.sts.values() for s in pd.concat([df.sentence1, df.sentence2])]
        return list(dict.fromkeys(list(self.queries.source_text) + sts))


def _cap(a: int | None, b: int | None) -> int | None:
    return b if a is None else (a if b is None else min(a, b))


def build_gate_data(P: Params, n_latency: int = 2000) -> GateData:
    """HPO lay terms (sampled by ``P.gate_max_sources`` / ``P.gate_max_targets``, capped by
    ``P.max_sources`` / ``P.max_targets``: the gate encodes every format, so it samples where 04-align
    does not), all 100 BIOSSES pairs and STS-b dev (capped by ``P.gate_max_sts_pairs``, else
    ``P.max_eval_pairs``; calibration uses neither) and a latency set of lay terms of natural length."""

    hpo = load_hpo()
    q, t, info = sample_alignment(hpo.lexicon, hpo.targets, _cap(P.max_sources, P.gate_max_sources),
                                  _cap(P.max_targets, P.gate_max_targets), P.seed)
    stsb = "stsb-fr" if P.language == "fr" else "stsb-en"
    sts = {}
    for name, split in (("biosses", "all"), (stsb, "dev")):
        df = public.load_sts(name, split)
        cap = _cap(P.max_eval_pairs, P.gate_max_sts_pairs)
        if cap and len(df) > cap:
            info[f"{name}_pairs_left_out"] = len(df) - cap
            df = df.sample(cap, random_state=P.seed).reset_index(drop=True)
        sts[f"{name}/{split}"] = df
        info[f"{name}_pairs"] = len(df)
    rng = np.random.default_rng(P.seed + 1)
    lay = hpo.lexicon.source_text.to_numpy()
    latency = [str(x) for x in lay[rng.choice(len(lay), min(n_latency, len(lay)), replace=False)]]
    info.update(hpo_version=hpo.version, latency_texts=len(latency))
    return GateData(q, t, sts, latency, info)


# ---------------------------------------------------------------------------------------------
# Quality


def sts_spearman(vectors: Mapping[str, np.ndarray], df: pd.DataFrame) -> float:
    """Spearman between pair cosines and gold scores (scipy.stats)."""
    from scipy.stats import spearmanr

    a = np.stack([vectors[s] for s in df.sentence1])
    b = np.stack([vectors[s] for s in df.sentence2])
    return float(spearmanr((a * b).sum(1), df.score.to_numpy()).statistic)


def alignment_acc1(q_vec: np.ndarray, t_vec: np.ndarray, data: GateData) -> dict:
    """Acc@1 of lay terms against the target strings (a string listed under several terms counts
    as correct for any of them), overall and on the non-trivial terms."""

    _, idx = topk(q_vec, t_vec, k=1)
    ranks = gold_ranks(data.targets.CODE.to_numpy()[idx], list(data.queries.gold_hpos))
    nontrivial = ~data.queries.trivial.to_numpy(dtype=bool)
    return {"acc1": accuracy_at_k(ranks, 1),
            "acc1_nontrivial": accuracy_at_k(ranks[nontrivial], 1) if nontrivial.any() else float("nan"),
            "top1": data.targets.CODE.to_numpy()[idx[:, 0]]}


def quality(encoder, data: GateData, use_cache: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Quality metrics of one encoder and its vectors (keyed by text) for agreement checks."""

    texts = list(dict.fromkeys(data.agreement_texts + list(data.targets.STR)))
    vec = embed(encoder, texts, use_cache=use_cache)
    by_text = dict(zip(texts, vec))
    q_vec = np.stack([by_text[s] for s in data.queries.source_text])
    t_vec = np.stack([by_text[s] for s in data.targets.STR])
    acc = alignment_acc1(q_vec, t_vec, data)
    metrics = {"acc1": acc["acc1"], "acc1_nontrivial": acc["acc1_nontrivial"]}
    for name, df in data.sts.items():
        metrics[f"spearman[{name}]"] = sts_spearman(by_text, df)
    return metrics, {"by_text": by_text, "top1": acc["top1"]}


def agreement(ref: Mapping, other: Mapping, data: GateData) -> dict:
    """Cosine and nearest-neighbour agreement with the FP32 vectors, plus top-1 target agreement."""

    texts = data.agreement_texts
    a = embedding_agreement(np.stack([ref["by_text"][s] for s in texts]),
                            np.stack([other["by_text"][s] for s in texts]))
    a["top1_agreement"] = float(np.mean(ref["top1"] == other["top1"]))
    return a


# ---------------------------------------------------------------------------------------------
# Latency and energy


def check(metrics: Mapping[str, float], ref: Mapping[str, float], P: Params) -> tuple[bool, list[str]]:
    """Thresholds from params; returns (passed, reasons for failing)."""
    reasons = []
    cos = metrics.get("mean_cosine", float("nan"))
    if not cos >= P.gate_min_cosine:
        reasons.append(f"mean cosine to FP32 {cos:.4f} < {P.gate_min_cosine}")
    drop = ref["acc1"] - metrics.get("acc1", float("nan"))
    if not drop <= P.gate_max_acc1_drop:
        reasons.append(f"HPO Acc@1 drop {drop * 100:.2f} points > {P.gate_max_acc1_drop * 100:.2f}")
    for key in (k for k in ref if k.startswith("spearman[")):
        d = ref[key] - metrics.get(key, float("nan"))
        if not d <= P.gate_max_spearman_drop:
            reasons.append(f"{key} drop {d:.4f} > {P.gate_max_spearman_drop}")
    return not reasons, reasons


def choose(table: pd.DataFrame, candidates: Sequence[str] = INT8_FORMATS) -> str | None:
    """The fastest INT8 format that passes the gate, or None (a failing model is never chosen)."""
    ok = table[table.format.isin(candidates) & table.passed]
    if ok.empty:
        return None
    return str(ok.sort_values("latency_avg_ms").iloc[0].format)


# Latency columns of the gate table (lib.perf.timing.latency_summary has more): per batch of P.batch_size.
LATENCY_COLUMNS = ("latency_avg_ms", "latency_max_ms", "latency_min_ms", "sentences_per_s", "energy_j_per_1k",
                   "co2_g_per_1k")


def latency(encoders: Mapping[str, object], texts: Sequence[str], P: Params, rounds: int
            ) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Every encoder timed by lib.perf.timing's interleaved rounds on the same batches of ``P.batch_size``
    strings (the paper's latency unit: one ``encode`` call per batch), after two warm-up batches.
    Returns (per-call times with a ``format`` column, run facts, the gate's latency columns by format)."""
    batches = latency_batches(texts, P.batch_size)
    t = interleaved_rounds({f: timed_batches(lambda b, e=e: e.encode(b, progress=False), batches)
                            for f, e in encoders.items()}, rounds, warmup_strings=2 * P.batch_size)
    info = {**t.info, "batches": len(batches), "sentences": len(texts), "batch_size": P.batch_size}
    lat = latency_summary(t, P.co2_kg_per_kwh)[list(LATENCY_COLUMNS)]
    return t.calls.rename(columns={"engine": "format"}), info, lat


def run_gate(P: Params, formats: Sequence[str], data: GateData, encoders: Mapping[str, object] | None = None,
             rounds: int = 3, use_cache: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Evaluate every format against fp32-torch: (gate table, per-batch times, benchmark info).

    The reference format is always evaluated first and included in the table.
    """

    names = [REFERENCE] + [f for f in formats if f != REFERENCE]
    encoders = dict(encoders or {})
    for f in names:
        if f not in encoders:
            encoders[f] = load_encoder(P, f)
    results, vecs = {}, {}
    for f in names:
        results[f], vecs[f] = quality(encoders[f], data, use_cache=use_cache)
    times, bench, lat = latency(encoders, data.latency_texts, P, rounds)
    rows = []
    for f in names:
        e = encoders[f]
        model_file = e.info.get("onnx") or e.info.get("ir")  # ONNX file, or OpenVINO IR (.xml + .bin)
        row = {"format": f, **results[f], **agreement(vecs[REFERENCE], vecs[f], data),
               "size_mb": model_size_mb(e.fmt, e.info.get("model_dir"), model_file), **lat.loc[f].to_dict(),
               "artifact": model_file or e.info.get("model_dir", "")}
        row["passed"], reasons = check(row, results[REFERENCE], P)
        row["reasons"] = "; ".join(reasons)
        rows.append(row)
    table = pd.DataFrame(rows)
    onnx_fp32 = table.set_index("format").latency_avg_ms.get("onnx-fp32")
    if onnx_fp32 is not None:
        table["speedup_vs_onnx_fp32"] = onnx_fp32 / table.latency_avg_ms
    table["speedup_vs_fp32_torch"] = table.latency_avg_ms.iloc[0] / table.latency_avg_ms
    return table, times, bench


# ---------------------------------------------------------------------------------------------
# Reporting


def format_records(table: pd.DataFrame) -> dict[str, dict]:
    """The gate table as ``{label: {...}}`` for the result JSON (reasons as a list)."""
    out = {}
    for rec in table.to_dict("records"):
        label = rec["format"]
        base, _, variant = label.partition(":")
        rec.update(format=base, variant=variant or "default",
                   reasons=[r for r in str(rec.get("reasons") or "").split("; ") if r])
        out[label] = rec
    return out


def done_criteria(table: pd.DataFrame, chosen: str | None, max_acc1_drop_points: float = 0.5,
                  min_cosine: float = 0.99, min_speedup: float = 1.8) -> dict:
    """The issue's acceptance figures for the chosen INT8 format, measured in this run."""
    if chosen is None:
        return {"chosen": None, "met": False, "why": "no INT8 format passed the gate"}
    t = table.set_index("format")
    drop = 100 * (t.loc[REFERENCE, "acc1"] - t.loc[chosen, "acc1"])
    speed = float(t.loc[chosen].get("speedup_vs_onnx_fp32", float("nan")))
    cos = float(t.loc[chosen, "mean_cosine"])
    return {"chosen": chosen, "acc1_drop_points": float(drop), "mean_cosine": cos,
            "speedup_vs_onnx_fp32": speed,
            "thresholds": {"acc1_drop_points": max_acc1_drop_points, "mean_cosine": min_cosine,
                           "speedup_vs_onnx_fp32": min_speedup},
            "met": bool(drop <= max_acc1_drop_points and cos >= min_cosine and speed >= min_speedup)}
