"""Olive's OpenVINO passes (``OpenVINOConversion`` -> ``OpenVINOQuantization``) as candidates of 02's search.

Why a second Olive workflow beside the TPE search (:mod:`lib.compress.olive.search`): Olive 0.13 searches one
chain of passes, and the ORT chain ends with ``OrtSessionParamsTuning``, which cannot run on an OpenVINO
model; 0.13 has no alternative pass flows. So the OpenVINO chain runs as its own workflow (no search: the
passes have nothing our goals could tune here), on the plain ONNX FP32 export, calibrated on the project's
calibration set (:func:`lib.compress.calibration.prepare_calibration`, as ``ov-int8``), with NNCF's
transformer scheme; both models it makes (FP32 IR, INT8 IR) are scored by the search's own metric
(:func:`lib.compress.olive.metric.evaluate_forward`: cosine to FP32, STS Spearman, latency on the held-out
pairs) and listed as candidates with the search's goal flags. ``olive-best`` stays the best ORT candidate
(an ONNX Runtime format); the OpenVINO models compete for speed in 03's gate as ``ov-fp32`` / ``ov-int8``,
which lib.compress.openvino builds with the same ``nncf.quantize`` call this pass makes.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib import atomic
from lib.compress.calibration import prepare_calibration
from lib.compress.export import artifact_dir, unfused_onnx
from lib.compress.olive.config import SPEEDUP_GOAL_PERCENT, config_hash
from lib.compress.olive.metric import evaluate_forward
from lib.compress.olive.search import goal_flags, run_olive, work_dir
from lib.compress.openvino import cached_ir, ov_versions
from lib.engines.openvino import compile_ir, ov_forward
from lib.params import Params

log = logging.getLogger("lib.compress.olive.openvino")

USER_SCRIPT = Path(__file__).with_name("ov_data.py")
PASSES = ("OpenVINOConversion", "OpenVINOQuantization")


def save_feeds(feeds: list[dict[str, np.ndarray]], out: Path) -> Path:
    """The calibration batches in one ``.npz`` (read back by ``ov_data.read_feeds`` in Olive's process)."""
    arrays = {f"b{i}/{k}": v for i, f in enumerate(feeds) for k, v in f.items()}
    arrays["n_batches"] = np.array(len(feeds))
    with atomic.atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return out


def olive_openvino_config(src: Path, calibration: Path, work: Path) -> dict[str, Any]:
    """The Olive run config: ONNX model -> OpenVINOConversion (dynamic shapes, FP32 weights) ->
    OpenVINOQuantization (NNCF, ModelType.TRANSFORMER, CPU) on the calibration feeds."""
    data = {"name": "calibration", "user_script": str(USER_SCRIPT),
            "load_dataset_config": {"type": "lib_calibration_feeds", "data_file": str(calibration)},
            "dataloader_config": {"type": "lib_passthrough_dataloader"}}
    return {
        "input_model": {"type": "ONNXModel", "model_path": str(src)},
        "systems": {"local_system": {"type": "LocalSystem", "accelerators": [
            {"device": "cpu", "execution_providers": ["OpenVINOExecutionProvider"]}]}},
        "data_configs": [data],
        "passes": {"ov_conversion": {"type": "OpenVINOConversion", "static": False, "compress_to_fp16": False},
                   "ov_quantization": {"type": "OpenVINOQuantization", "data_config": "calibration",
                                       "model_type": "TRANSFORMER", "target_device": "cpu",
                                       "user_script": str(USER_SCRIPT)}},
        "engine": {"host": "local_system", "target": "local_system", "cache_dir": str(work / "cache"),
                   "output_dir": str(work / "output"), "log_severity_level": 3, "evaluate_input_model": False},
    }


def run_openvino_passes(P: Params) -> dict[str, Any]:
    """Run (or reuse) Olive's OpenVINO passes for ``P``: ``{"fp32": model.xml, "int8": model.xml, "seconds",
    "config_hash", "calibration"}``; the IRs are copied out of Olive's cache into content-keyed folders."""
    cal = prepare_calibration(P)
    base = work_dir(P) / "openvino"
    calibration = atomic.load_or_rebuild(base / f"calibration-{cal.key}.npz", _readable_feeds,
                                         lambda p: save_feeds(cal.feeds, p), what="calibration feeds")
    src = unfused_onnx(P)
    config = olive_openvino_config(src, calibration, base)
    h = config_hash({**config, "versions": ov_versions()})
    out = artifact_dir(P, "olive-openvino") / h

    def irs_exist(summary: dict) -> None:
        missing = [k for k in ("fp32", "int8") if not (out / k / "model.xml").exists()]
        if missing:
            raise FileNotFoundError(f"its IRs {missing} are gone")
    return atomic.cached_json(out / "summary.json", lambda: _run_passes(P, cal, src, calibration, base, h, out),
                              "Olive OpenVINO summary", check=irs_exist, indent=1)


def _readable_feeds(path: Path) -> Path:
    with np.load(path) as z:
        int(z["n_batches"])
    return path


def _run_passes(P: Params, cal, src: Path, calibration: Path, base: Path, h: str, out: Path) -> dict[str, Any]:
    """Run the OpenVINO workflow in ``base/<config hash>`` and copy its IRs into ``out`` (the summary)."""
    work = base / h
    config = olive_openvino_config(src, calibration, work)
    t0 = time.perf_counter()
    run_olive(config)
    seconds = time.perf_counter() - t0
    # the footprint as Olive writes it (its in-memory nodes name the model config by an alias: stack notes)
    nodes = json.loads((work / "output" / "footprint.json").read_text(encoding="utf-8")).values()
    by_pass = {str(n.get("from_pass")).lower(): n for n in nodes if n.get("from_pass")}
    irs = {}
    for key, pass_type in (("fp32", "openvinoconversion"), ("int8", "openvinoquantization")):
        if pass_type not in by_pass:
            raise RuntimeError(f"Olive's {pass_type} pass made no model (see {work / 'output'})")
        folder = Path(by_pass[pass_type]["model_config_data"]["config"]["model_path"])
        xml = next(iter(sorted(folder.glob("*.xml"))))

        def build(tmp: Path, xml=xml) -> None:
            shutil.copy2(xml.with_suffix(".bin"), tmp / "model.bin")
            shutil.copy2(xml, tmp / "model.xml")
        irs[key] = str(cached_ir(out / key, build))
    return {**irs, "seconds": seconds, "config_hash": h, "passes": list(PASSES),
            "calibration": {"source": cal.source, "sentences": cal.n_sentences, "seq_len": cal.seq_len,
                            "key": cal.key}, **ov_versions()}


def openvino_candidates(P: Params, search_summary: dict, *,
                        speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> pd.DataFrame:
    """The OpenVINO passes' two models scored by the search's metric on its held-out pairs, with its goal
    flags (against the search's input model, as every ORT candidate): rows ``candidate``, ``passes``,
    ``runtime``, ``mean_cosine``, ``spearman``, ``latency_ms``..., ``goal_*``, ``meets_goals``, ``model_path``."""
    ran = run_openvino_passes(P)
    rows = []
    for key, passes in (("fp32", PASSES[:1]), ("int8", PASSES)):
        forward = ov_forward(compile_ir(Path(ran[key]), P.threads))
        metrics = evaluate_forward(forward, search_summary["eval_data"]["file"], bootstrap=P.bootstrap)
        rows.append({"candidate": f"olive-openvino-{key}", "passes": " -> ".join(passes), "runtime": "openvino",
                     **metrics, "model_path": ran[key]})
    df = pd.DataFrame(rows)
    flags = goal_flags(df, search_summary["baseline"], P, speedup_goal_percent=speedup_goal_percent)
    out = pd.concat([df, flags], axis=1)
    out.attrs["olive_seconds"] = ran["seconds"]
    return out
