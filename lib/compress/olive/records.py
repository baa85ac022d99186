"""The search as notebook 02 reports it: the candidates table and the result record.
"""

from __future__ import annotations

import pandas as pd


TABLE_COLUMNS = ("mean_cosine", "min_cosine", "nn_agreement", "spearman", "latency_ms",
                 "latency_max_ms", "latency_min_ms", "sentences_per_s", "goal_cosine", "goal_spearman",
                 "goal_latency", "meets_goals", "meets_literal_goal", "olive_goals_met", "olive_pareto",
                 "pareto", "pruned")


def candidates_frame(summary: dict) -> pd.DataFrame:
    """Candidates table: searched parameters first, then metrics and flags, fastest first."""
    df = pd.DataFrame(summary["candidates"])
    params_cols = [f"{p}.{k}" for p, ks in summary["search_space"].items() for k in ks]
    cols = ["model_id"] + [c for c in params_cols if c in df] + [c for c in TABLE_COLUMNS if c in df]
    return df[cols].sort_values("latency_ms").reset_index(drop=True)


def result_record(summary: dict) -> tuple[dict, dict]:
    """(metrics, extra) for ``results.write_result`` of notebook 02-optimize."""
    df = pd.DataFrame(summary["candidates"])
    chosen, vs = summary.get("chosen"), summary.get("vs_onnx_fp32") or {}
    metrics = {
        "n_candidates": int(len(df)), "n_evaluated": int((~df["pruned"].astype(bool)).sum()),
        "n_meeting_goals": int(df["meets_goals"].astype(bool).sum()),
        "n_meeting_literal_goal": int(df["meets_literal_goal"].astype(bool).sum()),
        "n_pareto": int(df["pareto"].astype(bool).sum()), "search_seconds": summary["seconds"],
        "chosen": chosen is not None,
        "input_fp32_spearman": summary["baseline"]["spearman"],
        "input_fp32_latency_ms": summary["baseline"]["latency_ms"],
    }
    if chosen is not None:
        metrics.update({"chosen_mean_cosine": chosen["mean_cosine"], "chosen_spearman": chosen["spearman"],
                        "chosen_latency_ms": chosen["latency_ms"]})
    if vs:
        metrics.update({"onnx_fp32_latency_ms": vs["onnx_fp32"]["latency_ms"],
                        "olive_best_latency_ms": vs["olive_best"]["latency_ms"],
                        "speedup_vs_onnx_fp32": vs["speedup"],
                        "latency_improvement_vs_onnx_fp32_percent": vs["latency_improvement_percent"],
                        "olive_best_mean_cosine": vs["olive_best"]["mean_cosine"],
                        "olive_best_spearman": vs["olive_best"]["spearman"],
                        "onnx_fp32_spearman": vs["onnx_fp32"]["spearman"]})
    cfg = summary["olive_config"]
    extra = {"search": {"space": summary["search_space"], "strategy": cfg["engine"]["search_strategy"],
                        "goals": cfg["evaluators"]["ours"]["metrics"][0]["sub_types"][:3],
                        "goal_definition": GOAL_DEFINITION, "config_hash": summary["config_hash"],
                        "execution_providers": cfg["systems"]["local_system"]["accelerators"][0],
                        "opset": cfg["passes"]["conversion"]["target_opset"]},
             "baseline_input_model": summary["baseline"], "candidates": summary["candidates"],
             "chosen": chosen, "chosen_model": summary["chosen_model"],
             "session_options": summary["session_options"], "vs_onnx_fp32": vs or None,
             "opsets": summary.get("opsets", {})}
    return metrics, extra


GOAL_DEFINITION = (
    "Goals as in the paper, read as Olive's stock BERT goals (max-degradation 0.01 = an absolute drop "
    "of 0.01, percent-min-improvement 20): mean cosine to FP32 >= gate_min_cosine; held-out STS "
    "Spearman >= FP32 Spearman - gate_max_spearman_drop; mean batch latency <= 0.8 x the PyTorch FP32 "
    "input model's. meets_literal_goal = relative drop <= 0.01% (Spearman >= 0.9999 x FP32 and mean "
    "cosine >= 0.9999).")
