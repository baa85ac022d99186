"""Reading Olive's footprint: one row per evaluated candidate with its searched parameters and metrics.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from lib.compress.olive.config import FINAL_PASS


def _node_config(node) -> dict:
    return (node.model_config_data or {}).get("config", {}) if node is not None else {}


def _pass_params(footprint, model_id: str) -> dict[str, Any]:
    """Searched parameters along the chain of passes that produced ``model_id``, as
    ``<pass>.<param>`` (pass = Olive pass type)."""
    out: dict[str, Any] = {}
    node = footprint.nodes.get(model_id)
    while node is not None and node.parent_model_id is not None:
        cfg = node.pass_run_config or {}
        for k, v in cfg.items():
            out[f"{node.from_pass.lower()}.{k}"] = v
        node = footprint.nodes.get(node.parent_model_id)
    return out


def candidates_table(footprint, space: dict[str, dict[str, list]], passes: dict[str, dict]) -> pd.DataFrame:
    """One row per evaluated candidate (output of the final pass): its searched pass and session
    parameters, every metric value, Olive's goal and Pareto flags, the model file."""
    type_of = {name: cfg["type"].lower() for name, cfg in passes.items()}  # footprint: lower case
    final_type = type_of[FINAL_PASS]
    rows = []
    for model_id, node in footprint.nodes.items():
        if (node.from_pass or "").lower() != final_type:
            continue
        row: dict[str, Any] = {"model_id": model_id}
        chain = _pass_params(footprint, model_id)
        for pname, params in space.items():
            for param in params:
                row[f"{pname}.{param}"] = _jsonable_value(chain.get(f"{type_of[pname]}.{param}"))
        values = node.metrics.value if node.metrics and node.metrics.value else None
        if values is not None:
            for key, sub in values.root.items() if hasattr(values, "root") else values.items():
                row[key.split("-", 1)[-1]] = sub.value
        row["olive_goals_met"] = bool(node.metrics.if_goals_met) if node.metrics else False
        row["olive_pareto"] = bool(node.is_pareto_frontier)
        cfg = _node_config(node)
        row["model_path"] = cfg.get("model_path")
        row["inference_settings"] = json.dumps(cfg.get("inference_settings") or {}, default=str)
        row["pruned"] = bool((node.model_config_data or {}).get("is_pruned")) or values is None
        rows.append(row)
    return pd.DataFrame(rows)


def _jsonable_value(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def input_model_metrics(footprint) -> dict[str, float]:
    node = footprint.nodes.get(footprint.input_model_id)
    if node is None or not node.metrics or not node.metrics.value:
        return {}
    return {k.split("-", 1)[-1]: v.value for k, v in node.metrics.value.root.items()}
