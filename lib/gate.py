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

from lib.compress.calibration import Calibration
from lib.compress.fallback import FallbackSearch
from lib.data import public
from lib.data.hpo import load_hpo
from lib.data.tiers import sample_alignment
from lib.evaluate.gate import Criterion, check, criteria_from_params, fastest_passing
from lib.evaluators import AgreementEvaluator, AlignmentEvaluator, STSEvaluator, embed_texts
from lib.formats import load_encoder, variants
from lib.params import GATE_CHOSEN, Params
from lib.perf.size import model_size_mb
from lib.perf.timing import interleaved_rounds, latency_batches, latency_summary, timed_batches

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


def evaluators(data: GateData) -> tuple[AlignmentEvaluator, list[STSEvaluator], AgreementEvaluator]:
    """The gate's evaluators over ``data``: lay-term alignment, one STS set each, agreement with FP32."""
    sts = [STSEvaluator.from_frame(name, df) for name, df in data.sts.items()]
    return AlignmentEvaluator.from_frames(data.queries, data.targets), sts, AgreementEvaluator(data.agreement_texts)


@dataclass
class FormatQuality:
    """One format's quality on the gate data: metrics, and the per-item values they summarise."""

    metrics: dict
    top1: np.ndarray                       # alignment items: each query's top-1 concept
    sts_items: dict[str, np.ndarray]       # STS set -> pair cosines
    vectors: np.ndarray                    # agreement texts' vectors


def quality(encoder, data: GateData, use_cache: bool = True) -> FormatQuality:
    """Quality of one encoder: every string the evaluators need embedded in one cached call (one batch
    plan, as the engine is deployed; dynamic-INT8 vectors depend on it), then each evaluator's items."""
    align, sts, agree = evaluators(data)
    by_text = embed_texts(encoder, data.agreement_texts + list(data.targets.STR), use_cache)
    top1 = align.items(by_text)
    metrics = align.metrics(top1)
    sts_items = {ev.name: ev.items(by_text) for ev in sts}
    for ev in sts:
        metrics.update(ev.metrics(sts_items[ev.name]))
    return FormatQuality(metrics, top1, sts_items, agree.items(by_text))


def compare(ref: FormatQuality, other: FormatQuality, data: GateData, n_boot: int, seed: int
            ) -> tuple[dict, dict[str, tuple[float, float] | None]]:
    """Agreement of a format with the FP32 reference (cosine, nearest neighbour, top-1 concept) and the
    paired bootstrap intervals of each quality metric's drop (Acc@1 and every STS Spearman)."""
    align, sts, agree = evaluators(data)
    a = agree.with_reference(ref.vectors).metrics(other.vectors)
    a["top1_agreement"] = align.top1_agreement(ref.top1, other.top1)
    cis = align.drop_cis(ref.top1, other.top1, n_boot, seed)
    for ev in sts:
        cis.update(ev.drop_cis(ref.sts_items[ev.name], other.sts_items[ev.name], n_boot, seed))
    return a, cis


def criteria(P: Params, data: GateData) -> list[Criterion]:
    """The gate's thresholds (params): cosine to FP32, HPO Acc@1 drop, each STS Spearman drop."""
    return criteria_from_params(P, sts_keys=[f"spearman[{name}]" for name in data.sts])


def choose(table: pd.DataFrame, candidates: Sequence[str] = INT8_FORMATS) -> str | None:
    """The fastest INT8 format that passes the gate, or None (the one rule,
    :func:`lib.evaluate.gate.fastest_passing`: a failing model is never chosen)."""
    return fastest_passing(table, "latency_avg_ms", candidates=candidates, label="format")


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
    results = {f: quality(encoders[f], data, use_cache=use_cache) for f in names}
    times, bench, lat = latency(encoders, data.latency_texts, P, rounds)
    rule = criteria(P, data)
    ref = results[REFERENCE]
    rows = []
    for f in names:
        e = encoders[f]
        agree, cis = compare(ref, results[f], data, P.bootstrap, P.seed)
        model_file = e.info.get("onnx") or e.info.get("ir")  # ONNX file, or OpenVINO IR (.xml + .bin)
        row = {"format": f, **results[f].metrics, **agree,
               "size_mb": model_size_mb(e.fmt, e.info.get("model_dir"), model_file), **lat.loc[f].to_dict(),
               "artifact": model_file or e.info.get("model_dir", "")}
        verdict = check(row, ref.metrics, rule, cis)
        for metric, ci in cis.items():
            row[f"{metric}_drop_ci_lo"], row[f"{metric}_drop_ci_hi"] = ci if ci else (None, None)
        row["passed"], row["reasons"] = verdict.passed, "; ".join(verdict.reasons)
        row["unproven"] = "; ".join(verdict.unproven)
        row["decisions"] = verdict.records()
        rows.append(row)
    table = pd.DataFrame(rows)
    onnx_fp32 = table.set_index("format").latency_avg_ms.get("onnx-fp32")
    if onnx_fp32 is not None:
        table["speedup_vs_onnx_fp32"] = onnx_fp32 / table.latency_avg_ms
    table["speedup_vs_fp32_torch"] = table.latency_avg_ms.iloc[0] / table.latency_avg_ms
    return table, times, bench


# ---------------------------------------------------------------------------------------------
# Reporting


def formats_to_gate(P: Params) -> list[str]:
    """What 03 gates besides the FP32 reference: params' formats, ONNX and OpenVINO FP32, every registered INT8
    format, and (with ``gate_variants``) their ablations (:func:`lib.formats.variants`). ``olive-best`` is
    02's; ``gate-chosen`` is what this gate chooses."""
    fmts = [*P.formats, "onnx-fp32", "ov-fp32", *INT8_FORMATS] + (variants(P) if P.gate_variants else [])
    return [f for f in dict.fromkeys(fmts) if f not in (REFERENCE, "olive-best", GATE_CHOSEN)]


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


def result_metrics(table: pd.DataFrame, chosen: str | None, search: FallbackSearch, sensitivity: pd.DataFrame,
                   cal: Calibration, sweep: pd.DataFrame, bench: dict) -> dict:
    """The ``metrics`` block of 03's result record (:class:`lib.results.schema.QuantizeMetrics`)."""
    records = format_records(table)
    return {
        "reference": REFERENCE, "chosen": chosen, "chosen_artifact": records[chosen]["artifact"] if chosen else None,
        "done_criteria": done_criteria(table, chosen), "formats": records,
        "smoothquant": {"alpha": search.alpha, "quant_format": search.quant_format, "keep_fp32": search.keep_fp32,
                        "n_linear": len(sensitivity), "search_reached": search.reached,
                        "target_cosine": search.target_cosine, "steps": search.steps,
                        "calibration_source": cal.source, "calibration_sentences": cal.n_sentences,
                        "held_out_sentences": len(cal.held_out), "calibration_seq_len": cal.seq_len},
        "alpha_sweep": sweep.to_dict("records"), "sensitivity": sensitivity.to_dict("records"),
        "energy": {"available": bool(bench.get("energy_available")), "reason": bench.get("energy_reason", "")},
        "latency": {k: bench[k] for k in ("rounds", "batches", "sentences", "batch_size")},
    }
