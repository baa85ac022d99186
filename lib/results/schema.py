"""The schema of every result file: one pydantic model per notebook's record.

Why: later stages (``lib.report.paper``'s Tables 1-3 and summary, notebook 08, the benchmark) read
fields that earlier notebooks wrote. Without a schema a renamed or missing field surfaces as a blank
cell or a ``KeyError`` three notebooks later; with one, :func:`lib.results.write_result` refuses a
malformed record at write time (naming notebook and field) and :func:`lib.results.read_result` refuses
a record an older run wrote in another layout (naming file and field, and the make target to rerun).

Every record is the envelope of :class:`ResultRecord` (what produced it) around a per-notebook
``metrics`` block (and ``data`` block). Rule for the blocks: a field a later stage reads is declared,
typed and required; a field the notebook writes but nothing reads is declared with a default (so it
is documented and typed when present); blocks that hold open-ended dicts keep undeclared fields
(``extra="allow"``). A number that may be NaN is ``float | None``: NaN is written as ``null``.
Models are strict (a string is not a number, 1 is not ``true``), and the JSON on disk is validated as
JSON, so what passes here is exactly what a reader gets back.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lib.params import Params

M = TypeVar("M", bound=BaseModel)


class _Closed(BaseModel):
    """A block whose every key is declared (a misspelt key is an error)."""

    model_config = ConfigDict(strict=True, extra="forbid", protected_namespaces=(), populate_by_name=True)


class _Open(_Closed):
    """A block whose declared keys are typed and whose other keys are kept as written."""

    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------------------------------
# The envelope every record has


class Machine(_Open):
    python: str
    platform: str
    processor: str
    cpus: int | None
    cpu: dict[str, Any] = Field({}, description="lib.machine.cpu_info: model, vendor, family, ISA flags, int8_isa "
                                                "(empty in records written before it existed)")


class RunData(_Open):
    """``data``: the data tier the numbers come from (tables and the summary print it on every row)."""

    tier: str


class ResultRecord(_Closed):
    """What every result file holds besides its metrics: enough to know what produced them."""

    notebook: str
    params_name: str
    model: str
    display_name: str
    created: datetime
    params: Params
    model_identity: dict[str, Any] = Field(description="lib.engines.hub.model_identity, or {'error': ...}")
    licensed_inputs: list[str]
    data: RunData
    versions: dict[str, str]
    machine: Machine
    metrics: _Open


# ---------------------------------------------------------------------------------------------
# 01-preprocess


class PreprocessMetrics(_Open):
    integrity: dict[str, dict[str, Any]]
    cleaning: dict[str, dict[str, Any]]


class PreprocessData(_Open):
    tiers: list[str]
    hpo_version: str
    hpo_counts: dict[str, Any] = {}
    clean_text_used_downstream: bool | None = None


class PreprocessRecord(ResultRecord):
    notebook: Literal["01-preprocess"]
    data: PreprocessData  # type: ignore[assignment]
    metrics: PreprocessMetrics


# ---------------------------------------------------------------------------------------------
# 02-optimize (Olive search); its candidates and chosen configuration sit beside the metrics


class OptimizeMetrics(_Open):
    n_candidates: int
    n_evaluated: int
    n_meeting_goals: int
    n_meeting_literal_goal: int
    n_pareto: int
    search_seconds: float
    chosen: bool
    input_fp32_spearman: float | None
    input_fp32_latency_ms: float | None
    chosen_mean_cosine: float | None = None
    chosen_spearman: float | None = None
    chosen_latency_ms: float | None = None
    onnx_fp32_latency_ms: float | None = None
    olive_best_latency_ms: float | None = None
    speedup_vs_onnx_fp32: float | None = None
    latency_improvement_vs_onnx_fp32_percent: float | None = None
    olive_best_mean_cosine: float | None = None
    olive_best_spearman: float | None = None
    onnx_fp32_spearman: float | None = None


class OptimizeRecord(ResultRecord):
    notebook: Literal["02-optimize"]
    metrics: OptimizeMetrics
    search: dict[str, Any]
    baseline_input_model: dict[str, Any]
    candidates: list[dict[str, Any]]
    chosen: dict[str, Any] | None
    chosen_model: str | None
    session_options: dict[str, Any]
    vs_onnx_fp32: dict[str, Any] | None
    opsets: dict[str, int]


# ---------------------------------------------------------------------------------------------
# 03-quantize (the quality gate)


class GateFormat(_Open):
    """One gated format (``lib.gate.format_records``): Table 3 reads its latency, size, energy, CO2
    and Acc@1; the benchmark reads format, variant and passed."""

    format: str
    variant: str
    passed: bool
    reasons: list[str]
    latency_avg_ms: float | None
    size_mb: float | None
    acc1: float | None
    energy_j_per_1k: float | None
    co2_g_per_1k: float | None
    latency_max_ms: float | None = None
    latency_min_ms: float | None = None
    mean_cosine: float | None = None
    artifact: str | None = None


class QuantizeMetrics(_Open):
    reference: str
    chosen: str | None
    formats: dict[str, GateFormat]
    chosen_artifact: str | None = None
    done_criteria: dict[str, Any] = {}
    smoothquant: dict[str, Any] = {}
    alpha_sweep: list[dict[str, Any]] = []
    sensitivity: list[dict[str, Any]] = []
    energy: dict[str, Any] = {}
    latency: dict[str, Any] = {}

    @model_validator(mode="after")
    def _named_formats_exist(self) -> "QuantizeMetrics":
        """The reference and the chosen format are labels of ``formats`` (Table 3 looks them up)."""
        for key in ("reference", "chosen"):
            label = getattr(self, key)
            if label is not None and label not in self.formats:
                raise ValueError(f"{key} {label!r} is not a label of formats ({sorted(self.formats)})")
        return self


class QuantizeRecord(ResultRecord):
    notebook: Literal["03-quantize"]
    metrics: QuantizeMetrics


# ---------------------------------------------------------------------------------------------
# 04-align


class AlignFormat(_Open):
    acc_at_1: float | None = Field(None, alias="acc@1")
    acc_at_5: float | None = Field(None, alias="acc@5")
    acc_at_10: float | None = Field(None, alias="acc@10")
    mrr: float | None = None
    n_sources: int | None = None
    n_targets: int | None = None


class AlignMetrics(_Open):
    formats: dict[str, AlignFormat]


class AlignRecord(ResultRecord):
    notebook: Literal["04-align"]
    metrics: AlignMetrics


# ---------------------------------------------------------------------------------------------
# 05 / 06: DEFT 2020 tasks, every format in params `formats`, per data set


class Classification(_Open):
    """Task 1 binarised at the threshold: Table 3's accuracy / precision / recall / F1."""

    threshold: float
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None


class Task1Mapping(_Open):
    """One cosine -> 0-5 map (minmax, isotonic, linear) on one data set: Table 1 and Table 3 figures."""

    n: int
    edrm: float | None
    edrm_convention: str
    spearman: float | None
    spearman_p: float | None
    classification: Classification


class Task1Set(_Open):
    label: str
    tier: str
    mappings: dict[str, Task1Mapping]
    notes: list[str] = []
    undersampled_test: bool | None = None


class Task1Metrics(_Open):
    tier: str
    model_formats: list[str]
    model_format: str
    formats: dict[str, dict[str, Task1Set]]
    datasets: dict[str, Task1Set]
    edrm_convention: str | None = None
    threshold: float | None = None
    calibrated_mapping: str | None = None
    maps_fitted_on: str | None = None
    undersample_test: bool | None = None

    @model_validator(mode="after")
    def _headline_ran(self) -> "Task1Metrics":
        return _check_headline(self)


class Task1Record(ResultRecord):
    notebook: Literal["05-deft-task1-edrm"]
    metrics: Task1Metrics


class Task2Set(_Open):
    """One Task 2 data set: Table 2's map-1/2/3, mean and P@1 (map-k null when no item has gold k)."""

    label: str
    tier: str
    n_items: int
    map_1: float | None
    map_2: float | None
    map_3: float | None
    map_mean: float | None
    p_at_1: float | None
    notes: list[str] = []
    map: float | None = None


class Task2Metrics(_Open):
    tier: str
    model_formats: list[str]
    model_format: str
    formats: dict[str, dict[str, Task2Set]]
    datasets: dict[str, Task2Set]
    tie_rule: str | None = None

    @model_validator(mode="after")
    def _headline_ran(self) -> "Task2Metrics":
        return _check_headline(self)


def _check_headline(m: Task1Metrics | Task2Metrics) -> Any:
    """The headline format is one of the formats the notebook ran (``datasets`` is its copy)."""
    if m.model_format not in m.formats:
        raise ValueError(f"model_format {m.model_format!r} is not a key of formats ({sorted(m.formats)})")
    return m


class Task2Record(ResultRecord):
    notebook: Literal["06-deft-task2-map"]
    metrics: Task2Metrics


# ---------------------------------------------------------------------------------------------
# 07-activation-outliers, 08-heatmaps, 09-paper


class OutliersMetrics(_Open):
    alpha: float
    channel_shares: dict[str, dict[str, float | None]] = Field(description="stage -> 'share>t' -> share")
    max_abs: dict[str, float | None]
    qdq_mean_cosine_to_fp32: dict[str, float | None]
    mean_max_over_median: dict[str, float | None] = {}
    qdq_input_sqnr_db: dict[str, float | None] = {}
    xmodel_input_sqnr_db: dict[str, float | None] = {}
    weight_sqnr_db: dict[str, float | None] = {}
    n_linear_matmuls: int | None = None
    debug_tokens: int | None = None


class OutliersRecord(ResultRecord):
    notebook: Literal["07-activation-outliers"]
    metrics: OutliersMetrics


class RatingSummary(_Open):
    counts: dict[str, int]
    mean: float | None
    unratable: int
    expert_rated: int


class Complementarity(_Open):
    acc_a: float | None
    acc_b: float | None
    fusion: float | None
    oracle: float | None


class HeatmapsMetrics(_Open):
    models: list[str]
    ratings: dict[str, RatingSummary]
    complementarity: dict[str, Complementarity]
    formats: dict[str, list[str]] = {}
    rating_scale: dict[str, str] = {}
    gaussians: dict[str, dict[str, float | None]] = {}
    expert_ratings: list[dict[str, Any]] | None = None


class Figure5c(_Closed):
    """Whether 08 drew Figure 5c, against which second model, and why (a model is never paired with
    itself: with one model 5c is skipped and ``note`` says so)."""

    drawn: bool
    second_model: str | None
    note: str
    format: str | None = None


class HeatmapsRecord(ResultRecord):
    notebook: Literal["08-heatmaps"]
    metrics: HeatmapsMetrics
    figure5c: Figure5c | None = None


class PaperMetrics(_Open):
    models: list[str]
    pairing: dict[str, str]
    rows_compared: int
    rows_not_run: int
    tables: dict[str, list[str]]
    figures: list[str]
    summary: str


class PaperRecord(ResultRecord):
    notebook: Literal["09-paper"]
    metrics: PaperMetrics


# ---------------------------------------------------------------------------------------------
# 10-scale-out (the store + Dask path; `make scale`, not part of `make paper`)


class ScaleSize(_Closed):
    """One target count N of 10's sweep: embedding the partitions new at this N, then the exact top-k
    over all of the first N rows, each with the peak memory of the driver and of the largest worker."""

    n_targets: int
    partitions: int
    embedded_rows: int
    embed_seconds: float
    embed_per_second: float | None
    search_seconds: float
    driver_peak_mb: float | None
    worker_peak_mb: float | None
    workers_peak_mb: dict[str, float | None] = {}


class ScaleMetrics(_Open):
    format: str
    workers: int
    scheduler: str
    partition_rows: int
    fixed_batch_rows: int
    n_sources: int
    n_hpo_targets: int
    n_mesh_targets: int
    acc1_hpo: float | None = Field(description="Acc@1 of the lay terms against HPO alone")
    acc1_hpo_mesh: float | None = Field(description="Acc@1 against HPO + MeSH (MeSH strings are distractors)")
    sizes: list[ScaleSize]
    mesh_top1_share: float | None = None


class ScaleRecord(ResultRecord):
    notebook: Literal["10-scale-out"]
    metrics: ScaleMetrics


class SelfAlignmentMetrics(_Open):
    """11-self-alignment: the training data and its leakage check, the recipe variants on the dev set, the
    lay-term rows (unsupervised and the concept-disjoint supervised row kept apart), McNemar, STS."""

    training_counts: dict[str, Any]
    leaked_lay_strings: int = Field(description="evaluated lay strings found in the default training pairs (0)")
    dev: dict[str, dict[str, Any]] = Field(description="variant -> final dev scores, minutes, steps")
    rows: dict[str, dict[str, Any]] = Field(description="row label -> lay-term alignment metrics (align_and_score)")
    groups: dict[str, str] = Field(description="row label -> 'unsupervised', 'concept-disjoint supervised' or 'base'")
    mcnemar: dict[str, Any]
    semantics: dict[str, dict[str, Any]] = Field(description="'base' / 'trained' -> general_semantics")
    chosen: str
    chosen_int8: dict[str, Any] = Field(description="the chosen model's INT8 row: format, Acc@1, where it came from")
    training_minutes: float | None


class SelfAlignmentRecord(ResultRecord):
    notebook: Literal["11-self-alignment"]
    metrics: SelfAlignmentMetrics


# ---------------------------------------------------------------------------------------------
# 12-rerank (issues 14, 23: residual cross-encoder rerankers, base vs packed layouts, FP32 vs INT8; lib.rerank)


class RerankAccuracy(_Open):
    """One row of 12's accuracy table: a system (the retriever, or a reranker in one layout and format) at C
    candidates, with the retriever's Acc@C (the ceiling a reranker cannot pass) beside it."""

    system: str
    candidates: int
    acc_at_1: float | None = Field(alias="acc@1")
    mrr: float | None
    ceiling_acc_at_c: float | None = Field(alias="ceiling_acc@C")
    format: str | None = None
    score: str | None = Field(None, description="cosine (the retriever), residual (w x cosine + f) or f alone")
    weight: str | None = Field(None, description="the retriever-cosine weight w of the row, chosen on the dev "
                                                 "queries ('inf': the retriever's order; '0': f alone)")
    layout: str | None = None
    readout: str | None = Field(None, description="where f was read: mean of the candidate's tokens, its first "
                                                  "token, or an inserted [MASK]")
    definitions: bool | None = None
    mcnemar_p: float | None = None
    n: int | None = None
    scored: bool | None = Field(None, description="False: training kept step 0, so the head is zero, f = 0 and the "
                                                  "order is the retriever's; not run by any engine")


class RerankMetrics(_Open):
    retriever: str
    miner: str | None = Field(None, description="the bi-encoder whose lists and cosines the rerankers trained on")
    candidates: list[int]
    chosen: str | None = Field(None, description="the system chosen on the dev queries to deploy: scored at every "
                                                 "C and quantized (the others at rerank.candidates, ONNX FP32)")
    accuracy: list[RerankAccuracy]
    leaked_lay_strings: int = Field(description="evaluated lay strings found in the training data (must be 0)")
    leaked_dev_queries: int = Field(0, description="dev queries found in the training data (must be 0)")
    speed: list[dict[str, Any]] = []
    end_to_end: dict[str, Any] = {}
    gate: list[dict[str, Any]] = []
    order_sensitivity: list[dict[str, Any]] = []
    mcnemar: dict[str, Any] = {}
    training: list[dict[str, Any]] = []
    training_data: dict[str, Any] = {}
    crossfit: dict[str, Any] = Field({}, description="the supervised row: concept-disjoint lay folds, out of fold")
    definitions_pipeline: dict[str, Any] = Field({}, description="target (5): definitions as the retriever's "
                                                                 "targets, then the deployed reranker (embedded tier)")


class RerankRecord(ResultRecord):
    notebook: Literal["12-rerank"]
    metrics: RerankMetrics


RECORDS: dict[str, type[ResultRecord]] = {
    "01-preprocess": PreprocessRecord, "02-optimize": OptimizeRecord, "03-quantize": QuantizeRecord,
    "04-align": AlignRecord, "05-deft-task1-edrm": Task1Record, "06-deft-task2-map": Task2Record,
    "07-activation-outliers": OutliersRecord, "08-heatmaps": HeatmapsRecord, "09-paper": PaperRecord,
    "10-scale-out": ScaleRecord, "11-self-alignment": SelfAlignmentRecord,
    "12-rerank": RerankRecord,
}


# ---------------------------------------------------------------------------------------------
# Validating


def record_model(notebook: str) -> type[ResultRecord]:
    """The model of a notebook's record; an unknown notebook is an error (every result has a schema)."""
    try:
        return RECORDS[notebook]
    except KeyError:
        raise ValueError(f"no result schema for notebook {notebook!r} (known: {', '.join(RECORDS)}); "
                         f"add one to lib/results.py") from None


def parse(notebook: str, text: str | bytes) -> ResultRecord:
    """Validate the JSON text of a record as ``notebook``'s (raises pydantic's ``ValidationError``)."""
    return record_model(notebook).model_validate_json(text)


def problems(err: ValidationError) -> list[str]:
    """One ``field.path: message`` per error, the way error messages name fields."""
    out = []
    for e in err.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"]) or "<record>"
        got = "" if e["type"] == "missing" else f" (got {_short(e.get('input'))})"
        out.append(f"{where}: {e['msg']}{got}")
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def jsonable(obj: Any) -> Any:
    """``obj`` in JSON's types: numpy scalars and arrays as Python numbers and lists, paths as strings,
    NaN and infinities as ``None`` (JSON has no NaN; the models read ``null`` as "not a number")."""
    import numpy as np

    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def coerce(model: type[M], value: Any) -> M:
    """``value`` as ``model``: kept if it already is one, else validated from its JSON form (so an
    in-memory block, numpy numbers included, is checked exactly as it would be once written)."""
    if isinstance(value, model):
        return value
    return model.model_validate_json(json.dumps(jsonable(value)))
