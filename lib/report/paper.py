"""Paper assembly: Tables 1-3 in the paper's layout and ``results/summary.md``, all from result files.

Every number comes from ``results/<params-name>/<notebook>.json`` (ours, read as the typed records of
:mod:`lib.results`: every field read here is a required field there) or from
``lib.data.paper.reported()`` (the paper's, typed once in ``lib/data/paper_reported.yaml``). A result
file that does not exist gives a row saying which make target builds it, never a crash. Every row
names its data tier (licensed / public stand-in / embedded; the paper's rows: licensed DEFT 2020).
Table 3's layout is :mod:`lib.report.table3`'s; tables are written by :func:`lib.results.write_table`
into ``results/paper/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from lib import atomic, paths, results
from lib.report import deft_tables
from lib.report import table3 as t3
from lib.report.table3 import ratio, tier_label
from lib.results.tables import markdown
from lib.results.schema import (
    Classification,
    GateFormat,
    QuantizeRecord,
    ResultRecord,
    Task1Record,
    Task2Record,
    Task2Set,
)

NB_TASK1 = "05-deft-task1-edrm"


NB_TASK2 = "06-deft-task2-map"


NB_QUANT = "03-quantize"


NB_ALIGN = "04-align"


NB_OUTLIERS = "07-activation-outliers"


NB_HEATMAPS = "08-heatmaps"


NOTEBOOKS = (NB_QUANT, NB_ALIGN, NB_TASK1, NB_TASK2, NB_OUTLIERS, NB_HEATMAPS)


# The paper's figures: (label, our file stem prefix, notebook, what the paper's figure shows)
PAPER_FIGURES = (
    ("Figure 3", "fig3-task1-regression", NB_TASK1,
     "Task 1: predicted vs gold similarity with linear, SVR (RBF), random-forest and degree-3 polynomial fits"),
    ("Figure 4", "fig4-activation-outliers", NB_OUTLIERS,
     "activation magnitude per channel before and after SmoothQuant (outliers typically abs(x) 2.5-5, peaks "
     "above 7.5)"),
    ("Figure 5a", "fig5a-rating-heatmap", NB_HEATMAPS, "six-point expert rating heatmap of the alignments"),
    ("Figure 5b", "fig5b-score-distributions", NB_HEATMAPS, "Gaussian distribution of scores across model formats"),
    ("Figure 5c", "fig5c-complementarity", NB_HEATMAPS, "detail of the complementarity area of (b)"),
)


# Which of our models stands in for each of the paper's models when the paper's own is not run:
# a BERT-base-sized model for KRISSBERT (BERT-base), the other embedded model for SapBERT-Large.
# Paper model -> our params names that stand in for it, first run first: the paper's SapBERT-Large beside our
# own SapBERT-style self-aligned models, KRISSBERT (a general biomedical encoder) beside MiniLM-L6 / MPNet;
# notebook 09's ``pairing`` parameter overrides it.
DEFAULT_PAIRING = {"KRISSBERT": ["krissbert", "minilm-l6", "mpnet-base"],
                   "SapBERT-Large": ["sapbert-large", "minilm-l6-sap", "mpnet-base-sap", "minilm-l6", "mpnet-base"]}


PAPER_MAPPING = "minmax"  # the paper's map of cosines to 0-5 (MinMaxScaler)


def not_run(model: str, notebook: str) -> str:
    return f"not run (make results/{model}/{notebook}.json)"


# ---------------------------------------------------------------------------------------------
# Result files


@dataclass
class Records:
    """Typed result records (:mod:`lib.results`) by (params name, notebook); ``None`` where the file
    does not exist."""

    models: list[str]
    by_key: dict[tuple[str, str], ResultRecord | None]

    def get(self, model: str, notebook: str) -> Any:
        """The record of ``notebook`` for ``model`` (its notebook's model class), or None if not run."""
        return self.by_key.get((model, notebook))

    def source(self, model: str, notebook: str) -> str:
        return _rel(results.result_path(model, notebook))


def available_models(first: str | None = None, include_tiny: bool = False) -> list[str]:
    """Params names that have a results folder (``first`` leads; ``tiny`` only when asked)."""
    root = paths.results_dir()
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "paper") if root.exists() else []
    if not include_tiny:
        found = [m for m in found if m != "tiny"]
    if first:
        found = [first] + [m for m in found if m != first]
    return found


def load_records(models: Sequence[str], notebooks: Iterable[str] = NOTEBOOKS) -> Records:
    """Every record, validated on read: a torn file or an older run's layout is an error naming the
    file, the field and the notebook to rerun (``lib.errors.ResultFileError``)."""
    out: dict[tuple[str, str], ResultRecord | None] = {}
    for m in models:
        for nb in notebooks:
            path = results.result_path(m, nb)
            out[(m, nb)] = results.read_result(m, nb) if path.exists() else None
    return Records(list(models), out)


def _label(rec: ResultRecord | None, model: str) -> str:
    return rec.display_name if rec is not None else model


def _attr(obj: Any, name: str) -> Any:
    """``obj.name``, or None where the record (or block) does not exist: a notebook not run."""
    return getattr(obj, name) if obj is not None else None


# ---------------------------------------------------------------------------------------------
# Tables 1-3


def _runs(recs: Records, notebook: str) -> tuple[list, list[tuple[str, str]]]:
    """(system, sets) per model and format of a 05 / 06 result, and (model, why) for models without one."""
    runs, missing = [], []
    for m in recs.models:
        rec = recs.get(m, notebook)
        if rec is None:
            missing.append((m, not_run(m, notebook)))
            continue
        for fmt, sets in rec.metrics.formats.items():
            runs.append((f"{_label(rec, m)} [{fmt}]", sets))
    return runs, missing


def table1(recs: Records, reported: Mapping) -> pd.DataFrame:
    """DEFT Task 1 (:func:`lib.report.deft_tables.table1`) of every model's 05 result, then the paper's."""
    runs, missing = _runs(recs, NB_TASK1)
    return deft_tables.table1(runs, reported, missing)


def table2(recs: Records, reported: Mapping) -> pd.DataFrame:
    """DEFT Task 2 (:func:`lib.report.deft_tables.table2`) of every model's 06 result, then the paper's."""
    runs, missing = _runs(recs, NB_TASK2)
    return deft_tables.table2(runs, reported, missing)


def quant_before_after(rec03: QuantizeRecord | None) -> tuple[str | None, GateFormat | None, GateFormat | None]:
    """(chosen INT8 format, reference record, chosen record) of a 03-quantize result; when no INT8
    format passed the gate, SmoothQuant (the paper's method) if the gate measured it."""
    if rec03 is None:
        return None, None, None
    met = rec03.metrics
    chosen = met.chosen or ("onnx-int8-smoothquant" if "onnx-int8-smoothquant" in met.formats else None)
    return chosen, met.formats[met.reference], met.formats[chosen] if chosen else None


def paper_int8_format(rec_task: Task1Record | Task2Record | None, rec03: QuantizeRecord | None) -> str | None:
    """Our format to set beside the paper's rows, which are all INT8 (Tables 1-3 report the quantized
    models): the 03 gate's choice if this notebook ran it, else SmoothQuant (the paper's method), else
    any INT8 format it ran; the headline format if it ran no INT8 format (its label then says FP32)."""
    if rec_task is None:
        return None
    ran = list(rec_task.metrics.formats)
    chosen, _, _ = quant_before_after(rec03)
    for f in (chosen, "onnx-int8-smoothquant", *ran):
        if f and f in ran and "int8" in f:
            return f
    return rec_task.metrics.model_format


def _sets(rec_task: Task1Record | Task2Record | None, fmt: str | None) -> dict[str, Any]:
    """{set key: set record} of one format of a 05/06 result (empty when it did not run)."""
    if rec_task is None or fmt is None:
        return {}
    return dict(rec_task.metrics.formats.get(fmt, {}))


def _task1_quality(rec05: Task1Record | None, rec03: QuantizeRecord | None = None
                   ) -> tuple[Classification | None, str, str]:
    """Task 1 classification figures of the paper's map on the first data set, for the format paired
    with the paper's INT8 rows (and its label, tier)."""
    fmt = paper_int8_format(rec05, rec03)
    for d in _sets(rec05, fmt).values():
        r = d.mappings.get(PAPER_MAPPING) or next(iter(d.mappings.values()), None)
        return _attr(r, "classification"), f"{d.label} [{fmt or '?'}]", tier_label(d.tier)
    return None, "", ""


def _task2_quality(rec06: Task2Record | None, rec03: QuantizeRecord | None = None
                   ) -> tuple[Task2Set | None, str, str]:
    fmt = paper_int8_format(rec06, rec03)
    for d in _sets(rec06, fmt).values():
        return d, f"{d.label} [{fmt or '?'}]", tier_label(d.tier)
    return None, "", ""


def table3(recs: Records, reported: Mapping) -> pd.DataFrame:
    """Table 3 (:func:`lib.report.table3.build`): per model and task, 03's reference -> chosen INT8
    format (latency, size, energy, CO2, HPO Acc@1), with that INT8 format's quality in 05 / 06."""
    rows = []
    for m in recs.models:
        rec03: QuantizeRecord | None = recs.get(m, NB_QUANT)
        chosen, ref, best = quant_before_after(rec03)
        q1, d1, tier1 = _task1_quality(recs.get(m, NB_TASK1), rec03)
        q2, d2, tier2 = _task2_quality(recs.get(m, NB_TASK2), rec03)
        missing = [nb for nb in (NB_QUANT, NB_TASK1, NB_TASK2) if recs.get(m, nb) is None]
        reference = rec03.metrics.reference if rec03 is not None else "fp32-torch"
        system = f"{_label(rec03 or recs.get(m, NB_TASK1), m)}: {reference} -> {chosen or '?'}"
        source = "ours" + (f"; {'; '.join(not_run(m, nb) for nb in missing)}" if missing else "")
        quality1 = {"accuracy": _attr(q1, "accuracy"), "precision": _attr(q1, "precision"),
                    "recall": _attr(q1, "recall"), "F1": _attr(q1, "f1")}
        rows += [t3.Row(1, system, d1, tier1 or "-", quality1, ref, best, source),
                 t3.Row(2, system, d2, tier2 or "-", {"MAP": _attr(q2, "map_mean")}, ref, best, source)]
    return t3.build(rows, reported)


# ---------------------------------------------------------------------------------------------
# Summary: each of our numbers beside the paper's


def pair_models(models: Sequence[str], pairing: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """Paper model -> our params name standing in for it (the first preference we have run)."""
    pairing = pairing or DEFAULT_PAIRING
    out = {}
    for paper_model, prefs in pairing.items():
        prefs = [prefs] if isinstance(prefs, str) else list(prefs)
        out[paper_model] = next((p for p in prefs if p in models), models[0] if models else "")
    return out


SUMMARY_COLUMNS = ["section", "quantity", "paper", "ours", "our system", "data tier (ours)"]


def summary_rows(recs: Records, reported: Mapping, pairing: Mapping | None = None) -> pd.DataFrame:
    """One row per quantity the paper reports (or per quantity of our figures): the paper's value and ours
    beside it, from the stand-in of :func:`pair_models`, on the first data set of its paper-paired INT8
    format (the DEFT tables hold every set). Every ``ours`` comes from ``results/<model>/<notebook>.json``."""
    pairs = pair_models(recs.models, pairing)
    rows: list[dict] = []

    def add(section, quantity, paper_value, model, notebook, value, system, tier):
        rec = recs.get(model, notebook) if model else None
        rows.append({"section": section, "quantity": quantity, "paper": paper_value,
                     "ours": value if rec is not None else None,
                     "our system": system if rec is not None else not_run(model, notebook),
                     "data tier (ours)": tier if rec is not None else "-"})

    def paired(paper_system: str) -> str:
        return pairs.get(paper_system.replace(" INT8", ""), recs.models[0] if recs.models else "")

    def first_set(rec, fmt) -> tuple[str, Any]:
        sets = _sets(rec, fmt)
        return next(iter(sets.items()), ("-", None))

    for r in (r for r in reported.get("table1", []) if r.get("source") == "paper"):
        m = paired(r["system"])
        rec: Task1Record | None = recs.get(m, NB_TASK1)
        fmt = paper_int8_format(rec, recs.get(m, NB_QUANT))
        key, d = first_set(rec, fmt)
        res = d.mappings.get(PAPER_MAPPING) if d is not None else None
        system = f"{_label(rec, m)} [{fmt or '?'}] on {d.label if d is not None else key}"
        for q, k in (("EDRM", "edrm"), ("Spearman", "spearman")):
            add("Table 1", f"{r['system']}: {q}", r.get(k), m, NB_TASK1, _attr(res, k), system,
                tier_label(_attr(d, "tier")))
    for r in (r for r in reported.get("table2", []) if r.get("source") == "paper"):
        m = paired(r["system"])
        rec2: Task2Record | None = recs.get(m, NB_TASK2)
        fmt = paper_int8_format(rec2, recs.get(m, NB_QUANT))
        key, d2 = first_set(rec2, fmt)
        system = f"{_label(rec2, m)} [{fmt or '?'}] on {d2.label if d2 is not None else key}"
        for q in ("map_1", "map_2", "map_3", "map_mean"):
            add("Table 2", f"{r['system']}: {q.replace('_', '-')}", r.get(q), m, NB_TASK2, _attr(d2, q), system,
                tier_label(_attr(d2, "tier")))
    for r in reported.get("table3", {}).get("rows", []):
        m = pairs.get(r["model"], recs.models[0] if recs.models else "")
        rec03: QuantizeRecord | None = recs.get(m, NB_QUANT)
        chosen, ref, best = quant_before_after(rec03)
        system = f"{_label(rec03, m)}: fp32-torch -> {chosen} (this CPU)"
        tier = tier_label(rec03.data.tier if rec03 is not None else None)
        task = f"T{r['task']} {r['model']}"
        if r["task"] == 1:
            q1, d1, tier1 = _task1_quality(recs.get(m, NB_TASK1), rec03)
            add("Table 3", f"{task}: F1", r.get("f1"), m, NB_TASK1, _attr(q1, "f1"), d1, tier1)
        add("Table 3", f"{task}: latency speed-up (before / after)",
            ratio(r.get("latency_before"), r.get("latency_after")), m, NB_QUANT,
            ratio(_attr(ref, "latency_avg_ms"), _attr(best, "latency_avg_ms")), system, tier)
        add("Table 3", f"{task}: size after / before", ratio(r.get("size_after_mb"), r.get("size_before_mb")),
            m, NB_QUANT, ratio(_attr(best, "size_mb"), _attr(ref, "size_mb")), system, tier)
        add("Table 3", f"{task}: energy after / before", ratio(r.get("energy_after"), r.get("energy_before")),
            m, NB_QUANT, ratio(_attr(best, "energy_j_per_1k"), _attr(ref, "energy_j_per_1k")), system, tier)
    for m in recs.models:
        rows += _figure_rows(recs, m)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _figure_rows(recs: Records, m: str) -> list[dict]:
    """Our Figure 4 and 5 quantities of one model (the paper shows these as figures, without numbers)."""
    out: list[dict] = []

    def add(section, quantity, value, system, tier):
        out.append({"section": section, "quantity": quantity, "paper": None, "ours": value, "our system": system,
                    "data tier (ours)": tier})
    rec07 = recs.get(m, NB_OUTLIERS)
    if rec07 is None:
        out.append({"section": "Figure 4", "quantity": f"{m}: activation outliers", "paper": None, "ours": None,
                    "our system": not_run(m, NB_OUTLIERS), "data tier (ours)": "-"})
    else:
        met7, tier = rec07.metrics, tier_label(rec07.data.tier)
        system = f"{_label(rec07, m)}, SmoothQuant alpha {met7.alpha}"
        for stage in ("before", "after"):
            add("Figure 4", f"{m}: share of channels with max abs(x) > 5 ({stage} SmoothQuant)",
                met7.channel_shares.get(stage, {}).get("share>5"), system, tier)
            add("Figure 4", f"{m}: max abs(x) ({stage} SmoothQuant)", met7.max_abs.get(stage), system, tier)
        for v, c in met7.qdq_mean_cosine_to_fp32.items():
            add("Figure 4", f"{m}: QDQ static INT8 ({v}) mean cosine to FP32", c, system, tier)
    rec08 = recs.get(m, NB_HEATMAPS)
    if rec08 is None:
        out.append({"section": "Figure 5", "quantity": f"{m}: ratings and complementarity", "paper": None,
                    "ours": None, "our system": not_run(m, NB_HEATMAPS), "data tier (ours)": "-"})
        return out
    met8, tier = rec08.metrics, tier_label(rec08.data.tier)
    key, rating = next(iter(met8.ratings.items()))
    add("Figure 5", f"{key}: mean rating (0-5)", rating.mean,
        "automatic HPO is-a rating" + (" + expert" if rating.expert_rated else ""), tier)
    if met8.complementarity:
        fmt, comp = next(iter(met8.complementarity.items()))
        for k, what in (("acc_a", met8.models[0]), ("acc_b", met8.models[-1]), ("fusion", "score fusion"),
                        ("oracle", "oracle (either right)")):
            add("Figure 5", f"{' vs '.join(met8.models)} [{fmt}]: Acc@1 of {what}", getattr(comp, k),
                "Acc@1 vs gold", tier)
    return out


def figure_table(models: Sequence[str], recs: "Records | None" = None) -> pd.DataFrame:
    """The paper's figures beside ours: one row per figure, our PNG files per model (or how to make them)."""
    rows = []
    for label, stem, nb, shows in PAPER_FIGURES:
        ours = []
        for m in models:
            found = sorted((paths.figures_dir() / m).glob(f"{stem}*.png"))
            ours += [f"`{_rel(p)}`" for p in found] or [not_run(m, nb)]
        rows.append({"paper": label, "the paper shows": shows, "ours": "<br>".join(ours)})
    return pd.DataFrame(rows)


def write_summary(recs: Records, reported: Mapping, tables: Mapping[str, Sequence[Path]],
                  figures: Sequence[Path], pairing: Mapping | None = None) -> tuple[Path, pd.DataFrame]:
    """``results/summary.md``: each paper number beside ours, the tables and figures written."""
    rows = summary_rows(recs, reported, pairing)
    status = pd.DataFrame([{"model": m, **{nb: ("ok" if recs.get(m, nb) is not None else not_run(m, nb))
                                           for nb in NOTEBOOKS}} for m in recs.models])
    pairs = pair_models(recs.models, pairing)
    lines = [
        "# Summary: our numbers beside the paper's",
        "",
        f"Paper: {' '.join(str(reported.get('citation', '')).split())}",
        f"Paper hardware: {reported.get('hardware', '?')}. Ours: CPU (see each results file's `machine`).",
        "",
        "Every number below is read from a results file (ours: `results/<model>/<notebook>.json`, listed "
        "under *Result files*) or from `lib/data/paper_reported.yaml` (the paper's); nothing is typed here. "
        "One row per quantity: ours on the first data set of the format paired with the paper's INT8 rows "
        "(the DEFT tables under *Tables* hold every set and format). Stand-ins: " +
        ", ".join(f"{k} -> `{v}`" for k, v in pairs.items()) + ". Our DEFT figures come from the data tier "
        "named on each row; on a public stand-in they are not comparable with the paper's DEFT 2020 test.",
        "",
        "## Result files",
        "",
        markdown(status).rstrip("\n") if len(status) else "(no model has results yet)",
        "",
        "## Numbers",
        "",
        markdown(rows).rstrip("\n") if len(rows) else "(nothing to compare yet)",
        "",
        "## Tables (paper layout)",
        "",
    ]
    for name, files in tables.items():
        lines.append(f"- {name}: " + ", ".join(f"`{_rel(p)}`" for p in files))
    lines += ["", "## Figures (the paper's beside ours)", "", markdown(figure_table(recs.models)).rstrip("\n"),
              "", f"{len(figures)} figure files written under `figures/` (PNG and PDF)."]
    lines += self_alignment_section(paths.results_dir())
    out = paths.results_dir() / "summary.md"
    atomic.write_text(out, "\n".join(lines) + "\n")
    return out, rows


def _rel(p: Path) -> str:
    try:
        return str(Path(p).relative_to(paths.ROOT))
    except ValueError:
        return str(p)


def figure_files(models: Sequence[str]) -> list[Path]:
    """PNG figures written for these models (Figures 3, 4, 5 and the per-notebook ones)."""
    out = []
    for m in models:
        folder = paths.figures_dir() / m
        if folder.exists():
            out += sorted(folder.glob("*.png"))
    return out


def self_alignment_section(results_root: Path) -> list[str]:
    """Markdown lines of every training study found (``results/*/11-self-alignment.json``): the lay-term
    table and McNemar, read from the record (``make train-study``); none when the study has not run."""
    from lib.report.train import alignment_rows

    lines: list[str] = []
    for path in sorted(results_root.glob("*/11-self-alignment.json")):
        m = results.read_result(path.parent.name, "11-self-alignment").metrics
        lines += ["", f"## Beyond the paper: self-alignment training ({path.parent.name}, notebook 11)", "",
                  markdown(alignment_rows(m.rows)).rstrip("\n"), "",
                  markdown(pd.DataFrame([m.mcnemar])).rstrip("\n")]
    return lines
