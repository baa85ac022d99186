"""Search-optimized ONNX Runtime configuration with Olive 0.13 (the study's step 2): run the workflow of
:mod:`lib.compress.olive.config` (or reuse its cached summary), read the footprint, flag the goals with
the study's gate rule and choose the fastest candidate that meets them; the ``olive-best`` format.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lib import atomic, paths
from lib.compress.export import artifact_dir, artifact_key, model_input_names, unfused_onnx
from lib.compress.olive import compat as olive_compat
from lib.compress.olive.config import (LITERAL_RELATIVE_DROP, SPEEDUP_GOAL_PERCENT, config_hash, olive_config,
                                       olive_env, search_space)
from lib.compress.olive.evaldata import prepare_eval_data
from lib.compress.olive.footprint import candidates_table, input_model_metrics
from lib.compress.olive.metric import (in_input_order, latency_metrics, load_eval_data, pooled_engine,
                                       prepared_batches, score_embeddings, session_options_from)
from lib.engines.hub import load_tokenizer, resolve_model_dir
from lib.engines.ort import onnx_forward, ort_session
from lib.evaluate.gate import Criterion, check, fastest_passing
from lib.fingerprint import settings_key
from lib.params import Params
from lib.perf.timing import interleaved_rounds, latency_summary

log = logging.getLogger("lib.compress.olive.search")


NOTEBOOK = "02-optimize"


def work_dir(P: Params) -> Path:
    """Olive's work folder (cache, output, eval data) under the git-ignored cache, keyed by the model's
    content (:func:`lib.export.artifact_key`), not the params name; the Olive config's hash keys the rest."""
    return paths.cache_dir() / "olive" / artifact_key(P)


def pareto_flags(df: pd.DataFrame, maximise: Sequence[str] = ("mean_cosine", "spearman"),
                 minimise: Sequence[str] = ("latency_ms",)) -> np.ndarray:
    """Non-dominated rows over the objectives (small and exact; recomputed here so that the
    frontier also covers the candidates Olive pruned from its own frontier, e.g. duplicates)."""
    x = np.column_stack([df[c].to_numpy(float) for c in maximise] +
                        [-df[c].to_numpy(float) for c in minimise])
    ok = ~np.isnan(x).any(1)
    flags = np.zeros(len(df), dtype=bool)
    for i in np.flatnonzero(ok):
        dominated = (x[ok] >= x[i]).all(1) & (x[ok] > x[i]).any(1)
        flags[i] = not dominated.any()
    return flags


def goal_flags(df: pd.DataFrame, baseline: dict[str, float], P: Params, *,
               speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> pd.DataFrame:
    """Each goal as a boolean column, decided by the study's gate rule (:func:`lib.evaluate.gate.check`, the
    Spearman drop on its paired interval where the metric measured one; ``spearman_decision`` says
    within / inconclusive / exceeds). With ``speedup_goal_percent=None`` there is no latency goal and
    ``goal_latency`` is True throughout. See :mod:`lib.compress.olive.config` for the goals' meaning."""
    out = pd.DataFrame(index=df.index)
    rule = [Criterion("mean_cosine", "min", P.gate_min_cosine, "mean cosine to FP32"),
            Criterion("spearman", "max_drop", P.gate_max_spearman_drop, "STS Spearman drop")]
    verdicts = [check(row, baseline, rule, {"spearman": _drop_ci(row)}) for row in df.to_dict("records")]
    out["goal_cosine"] = [v.decisions[0].passed for v in verdicts]
    out["goal_spearman"] = [v.decisions[1].passed for v in verdicts]
    out["spearman_decision"] = [v.decisions[1].decision for v in verdicts]
    if speedup_goal_percent is None:
        out["goal_latency"] = True
    else:
        out["goal_latency"] = df["latency_ms"] <= baseline["latency_ms"] * (1 - speedup_goal_percent / 100)
    out["meets_goals"] = out[["goal_cosine", "goal_spearman", "goal_latency"]].all(1)
    out["meets_literal_goal"] = ((df["spearman"] >= baseline["spearman"] * (1 - LITERAL_RELATIVE_DROP))
                                 & (df["mean_cosine"] >= 1 - LITERAL_RELATIVE_DROP))
    return out


def _drop_ci(row: dict) -> tuple[float, float] | None:
    lo, hi = row.get("spearman_drop_ci_lo"), row.get("spearman_drop_ci_hi")
    return (float(lo), float(hi)) if lo is not None and hi is not None and np.isfinite([lo, hi]).all() else None


def choose(df: pd.DataFrame) -> int | None:
    """Index of the fastest evaluated candidate that meets every goal, or None (the one gate rule,
    :func:`lib.evaluate.gate.fastest_passing`: never a failing model)."""
    pick = fastest_passing(df[~df["pruned"].astype(bool)], "latency_ms", passed="meets_goals")
    return None if pick is None else int(pick)


def run_olive(config: dict):
    """Run the workflow (with the Olive 0.13 shims); returns Olive's WorkflowOutput."""
    olive_env()

    olive_compat.apply()
    from olive.workflows import run as olive_run

    return olive_run(copy.deepcopy(config))  # Olive normalises the dict in place


def _copy_model(src: str | Path, dest_dir: Path) -> Path:
    """Copy an ONNX file and its external-data files (if any) out of Olive's cache."""
    src = Path(src)
    if src.is_dir():
        src = next(iter(sorted(src.glob("*.onnx"))))
    with atomic.atomic_dir(dest_dir) as tmp:  # the folder appears whole, with its external data
        for f in src.parent.iterdir():
            if f.is_file() and (f == src or f.suffix in {".data", ".bin"} or f.name.startswith(src.name + ".")):
                shutil.copy2(f, tmp / (f.name if f != src else "model.onnx"))
    return dest_dir / "model.onnx"


def compare_with_onnx_fp32(P: Params, chosen: Path, session_options: dict, eval_data: Path,
                           rounds: int = 3, repeats: int = 3) -> dict:
    """Our metric for the chosen model and the un-optimized ONNX FP32 export (lib.export.unfused_onnx),
    timed by lib.perf.timing's interleaved rounds (``rounds * repeats`` passes each, the order rotating
    every pass) so both see the same load on the shared CPU."""

    base = onnx_forward(ort_session(unfused_onnx(P), P))
    best = onnx_forward(ort_session(chosen, P, extra_options=session_options))
    d = load_eval_data(eval_data)
    batches, masks, order = prepared_batches(d)
    engines, vecs = {}, {}
    for name, forward in (("onnx_fp32", base), ("olive_best", best)):
        engines[name], vecs[name] = pooled_engine(forward, batches, masks, str(d["pooling"]))
    lat = latency_summary(interleaved_rounds(engines, rounds * repeats, warmup_strings=1, desc=None))
    summary = {k: {**score_embeddings(in_input_order(vecs[k], order), d["reference"], len(d["gold"]), d["gold"]),
                   **latency_metrics(lat.loc[k])} for k in engines}
    summary["speedup"] = summary["onnx_fp32"]["latency_ms"] / summary["olive_best"]["latency_ms"]
    summary["latency_improvement_percent"] = 100 * (1 - 1 / summary["speedup"])
    return summary


def onnx_opsets(path: Path) -> dict[str, int]:
    """Opset per domain of an ONNX file ('' = the default ai.onnx domain)."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    return {o.domain or "ai.onnx": int(o.version) for o in m.opset_import}


def search(P: Params, force: bool = False, *,
           speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> dict:
    """Run (or reuse) the search for ``P``; returns the summary stored in ``search.json``.
    ``speedup_goal_percent``: the latency goal (None: none; tests only, see the module docstring).

    Summary: ``config_hash``, ``olive_config``, ``search_space``, ``candidates`` (records of
    :func:`candidates_table` + goal and frontier flags), ``baseline`` (the input model's metrics),
    ``chosen`` (a candidate record or None), ``chosen_model`` (path or None), ``session_options``,
    ``vs_onnx_fp32`` (latency and quality of the chosen model against the un-optimized ONNX FP32
    export, same run), ``seconds`` (search wall time), ``opsets`` (of the chosen model),
    ``eval_data`` (the held-out split used)."""

    model_dir = resolve_model_dir(P)
    names = model_input_names(load_tokenizer(model_dir))
    base = work_dir(P)
    eval_key = settings_key(pooling=P.pooling, max_length=P.max_length, batch_size=P.batch_size,
                            token_budget=P.token_budget, language=P.language, size=P.olive_eval_pairs, seed=P.seed)
    # the file keeps its old "calibration-" name: same key, same cached eval data and search as before the split
    eval_data = prepare_eval_data(P, base / "eval" / f"calibration-{P.olive_eval_pairs}-seed{P.seed}-{eval_key}.npz")
    config = olive_config(P, model_dir, eval_data, base, names, speedup_goal_percent=speedup_goal_percent)
    h = config_hash(config)
    summary_path = base / f"search-{h}.json"
    if force:
        atomic.remove(summary_path)

    def chosen_model_exists(summary: dict) -> None:
        if summary.get("chosen_model") is not None and not Path(summary["chosen_model"]).exists():
            raise FileNotFoundError(f"its chosen model {summary['chosen_model']} is gone")
    return atomic.cached_json(summary_path, lambda: _run_search(P, base, h, names, eval_data, speedup_goal_percent),
                              "Olive summary", check=chosen_model_exists, indent=2, default=str)


def _run_search(P: Params, base: Path, h: str, names: list[str], eval_data: Path,
                speedup_goal_percent: float | None) -> dict:
    """Run Olive in ``base/<config hash>``, then flag, choose and compare (the summary of :func:`search`)."""
    model_dir = resolve_model_dir(P)
    work = base / h
    config = olive_config(P, model_dir, eval_data, work, names, speedup_goal_percent=speedup_goal_percent)
    t0 = time.perf_counter()
    output = run_olive(config)
    seconds = time.perf_counter() - t0
    footprint = output.footprint
    space = search_space(P)
    df = candidates_table(footprint, space, config["passes"])
    baseline = input_model_metrics(footprint)
    if df.empty or not baseline:
        raise RuntimeError(f"Olive search produced no evaluated candidate (see {work}/output)")
    df = pd.concat([df, goal_flags(df, baseline, P, speedup_goal_percent=speedup_goal_percent)], axis=1)
    df["pareto"] = pareto_flags(df)
    pick = choose(df)
    chosen = df.loc[pick].to_dict() if pick is not None else None
    chosen_model, session_options, versus = None, {}, None
    if chosen is not None:
        chosen_model = _copy_model(chosen["model_path"], artifact_dir(P, "olive-best") / h)
        session_options = session_options_from(json.loads(chosen["inference_settings"]))
        versus = compare_with_onnx_fp32(P, chosen_model, session_options, eval_data)
    summary = {"config_hash": h, "olive_config": config, "search_space": space,
               "candidates": df.to_dict(orient="records"), "baseline": baseline,
               "chosen": chosen, "chosen_model": str(chosen_model) if chosen_model else None,
               "session_options": {k: (v.value if hasattr(v, "value") else v)
                                   for k, v in session_options.items()},
               "vs_onnx_fp32": versus, "seconds": seconds,
               "opsets": onnx_opsets(chosen_model) if chosen_model else {},
               "eval_data": {"file": str(eval_data), "source": f"stsb-{P.language}/train",
                             "pairs": P.olive_eval_pairs, "seed": P.seed}}
    return summary


def olive_session_options(P: Params) -> dict:
    """Tuned ONNX Runtime SessionOptions of the chosen model, which lib.formats applies to ``olive-best``
    (``lib.engines.ort.ort_session(path, P, extra_options=...)``; empty when nothing was chosen)."""
    summary = search(P)
    if summary.get("chosen") is None:
        return {}
    return session_options_from(json.loads(summary["chosen"]["inference_settings"]))


def olive_best(P: Params, *, speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> Path:
    """``olive-best`` format (lib.formats.ONNX_BUILDERS): the chosen model of the (cached) search
    (``speedup_goal_percent`` as in :func:`search`).

    Raises if no candidate meets the goals: a failing model is never silently chosen."""
    summary = search(P, speedup_goal_percent=speedup_goal_percent)
    if summary["chosen_model"] is None:
        latency = "none" if speedup_goal_percent is None else f"-{speedup_goal_percent:.0f}%"
        raise RuntimeError(f"params {P.name!r}: no Olive candidate met the goals "
                           f"(cosine >= {P.gate_min_cosine}, Spearman drop <= "
                           f"{P.gate_max_spearman_drop}, latency {latency}); "
                           f"see results/{P.name}/{NOTEBOOK}.json")
    return Path(summary["chosen_model"])
