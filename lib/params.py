"""The one params schema: every ``params/*.yaml`` file and every notebook override goes through it.

Papermill's ``-f params/<name>.yaml`` injects each key as a notebook variable. Notebooks then call
:func:`from_globals`, which re-reads the whole file (so an unknown key is caught, with the file named)
and overlays any schema field that was injected with ``-p``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import paths
from .errors import ParamsError

Pooling = Literal["cls", "mean", "mean_unmasked_padded"]
Format = Literal["fp32-torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant",
                 "torch-int8", "olive-best"]
FORMATS: tuple[str, ...] = Format.__args__  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Params(_Strict):
    """Everything a run depends on. Defaults are the embedded MiniLM setting."""

    name: str = Field(description="params file stem; names the results folder")
    model: str = Field(description="'tiny', 'pypi:<package>', 'parts:<name>', a local folder or a hub id")
    display_name: str = ""
    pooling: Pooling = "mean"
    max_length: int = Field(128, gt=0, le=4096)
    batch_size: int = Field(32, gt=0, description="rows per forward call with the paper's fixed padding; "
                                                   "the gate's latency batch")
    token_budget: int = Field(4096, gt=0, description="padded tokens per forward call with dynamic padding "
                                                      "(short strings share a call)")
    language: Literal["en", "fr"] = "en"
    seed: int = 0
    threads: int | None = Field(None, gt=0, description="intra-op threads; None = all cores")
    clean_text: bool = False
    formats: list[Format] = ["fp32-torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant"]
    # data
    data_tier: Literal["embedded", "public", "licensed", "auto"] = "auto"
    max_sources: int | None = Field(None, gt=0, description="sample lay terms (None = all)")
    max_targets: int | None = Field(None, gt=0, description="sample target strings (None = all)")
    top_k: int = Field(10, gt=0)
    bootstrap: int = Field(1000, ge=0)
    umls_mrconso: str | None = None
    umls_languages: list[str] = ["ENG"]
    umls_sources: list[str] | None = None
    lay_lexicon: str | None = None
    deft_dir: str | None = None
    medsts: str | None = None
    expert_ratings: str | None = None
    # DEFT / STS evaluation
    task1_threshold: float = 2.5
    score_mapping: Literal["minmax", "isotonic", "linear"] = "minmax"
    undersample_test: bool = False
    max_eval_pairs: int | None = Field(None, gt=0)
    # optimization and quantization
    opset: int = 14
    execution_providers: list[str] = ["CPUExecutionProvider"]
    olive_max_samples: int = Field(16, gt=0)
    smoothquant_alpha: float = Field(0.5, ge=0.0, le=1.0)
    quant_format: Literal["QOperator", "QDQ"] = Field(
        "QDQ", description="ONNX format of the static INT8 model: QDQ runs ~1.3x faster than QOperator "
                           "here (ORT fuses Q/DQ pairs into integer kernels), same vectors")
    alpha_sweep: list[float] = [0.3, 0.5, 0.7, 0.8]
    sensitivity_method: Literal["probe", "qdq-debug"] = Field(
        "probe", description="per-layer sensitivity for the FP32-fallback search: 'probe' quantizes one "
                             "MatMul at a time (exact, one build per MatMul); 'qdq-debug' ranks by each "
                             "MatMul's own quantization noise from one QDQ model (fast, for large models)")
    calibration_size: int = Field(200, gt=0)
    gate_min_cosine: float = 0.99
    gate_max_acc1_drop: float = 0.005
    gate_max_spearman_drop: float = 0.01
    gate_variants: bool = Field(True, description="03 also gates dynamic per-tensor, the other quant "
                                                   "format, SmoothQuant without fallback, static without SmoothQuant")
    gate_latency_texts: int = Field(2000, gt=0, description="lay terms timed per round and format")
    gate_latency_rounds: int = Field(3, gt=0, description="interleaved rounds of the gate's latency benchmark")
    gate_max_sources: int | None = Field(1500, gt=0, description="lay terms the gate aligns per format")
    gate_max_targets: int | None = Field(6000, gt=0, description="targets in the gate (gold always kept)")
    gate_max_sts_pairs: int | None = Field(None, gt=0, description="STS-b dev pairs in the gate's Spearman "
                                                                  "check (None = max_eval_pairs)")
    # reporting
    co2_kg_per_kwh: float = 0.475


def _format_validation(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key {key!r}")
        else:
            lines.append(f"{source}: key {key!r}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def validate(values: Mapping[str, Any], source: str = "<params>") -> Params:
    """Validate a mapping; errors name the key and the source file."""
    try:
        return Params.model_validate(dict(values))
    except ValidationError as err:
        raise ParamsError(_format_validation(err, source)) from None


def params_file(name: str) -> Path:
    p = Path(name)
    if p.suffix in {".yaml", ".yml"}:
        return paths.project_path(p)  # type: ignore[return-value]
    return paths.PARAMS / f"{name}.yaml"


def available() -> list[str]:
    return sorted(p.stem for p in paths.PARAMS.glob("*.yaml"))


def load(name: str, **overrides: Any) -> Params:
    """Load ``params/<name>.yaml`` (or a path), apply overrides, validate the result."""
    path = params_file(name)
    if not path.exists():
        raise ParamsError(f"{path}: no such params file (known: {', '.join(available())})")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values")
    validate(values, str(path))  # the file alone must be valid
    values.update(overrides)
    return validate(values, f"{path} (with overrides {sorted(overrides)})" if overrides else str(path))


def from_globals(ns: Mapping[str, Any]) -> Params:
    """Params for a notebook run: the file named by ``name`` plus any injected schema field."""
    name = ns.get("name") or "minilm-l6"
    overrides = {k: ns[k] for k in Params.model_fields if k in ns and k != "name"}
    # papermill -f injects every key of the file; only keep those that differ (true overrides)
    base = load(name)
    overrides = {k: v for k, v in overrides.items() if v != getattr(base, k)}
    return load(name, **overrides)
