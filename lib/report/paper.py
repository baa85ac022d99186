"""Paper assembly: Tables 1-3 in the paper's layout and ``results/summary.md``, all from result files.

Every number comes from ``results/<params-name>/<notebook>.json`` (ours) or from
``lib.data.paper.reported()`` (the paper's, typed once in ``lib/data/paper_reported.yaml``). A result
file that does not exist gives a row saying which make target builds it, never a crash. Every row
names its data tier (licensed / public stand-in / embedded; the paper's rows: licensed DEFT 2020).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from lib import atomic, paths, report

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


PAPER_TIER = "licensed (DEFT 2020, as reported by the paper)"


# Which of our models stands in for each of the paper's models when the paper's own is not run:
# a BERT-base-sized model for KRISSBERT (BERT-base), the other embedded model for SapBERT-Large.
DEFAULT_PAIRING = {"KRISSBERT": ["krissbert", "mpnet-base", "minilm-l6"],
                   "SapBERT-Large": ["sapbert-large", "minilm-l6", "mpnet-base"]}


PAPER_MAPPING = "minmax"  # the paper's map of cosines to 0-5 (MinMaxScaler)


def tier_label(raw: str | None) -> str:
    """One of licensed / public stand-in / embedded (combinations joined by " + ")."""
    text = (raw or "").lower()
    found = [label for key, label in (("licensed", "licensed"), ("embedded", "embedded"),
                                      ("public", "public stand-in"), ("stand-in", "public stand-in"))
             if key in text]
    found = list(dict.fromkeys(found))
    return " + ".join(found) if found else (raw or "unknown")


def not_run(model: str, notebook: str) -> str:
    return f"not run (make results/{model}/{notebook}.json)"


# ---------------------------------------------------------------------------------------------
# Result files


@dataclass
class Records:
    """Result records by (params name, notebook); ``None`` where the file does not exist."""

    models: list[str]
    by_key: dict[tuple[str, str], dict | None]

    def get(self, model: str, notebook: str) -> dict | None:
        return self.by_key.get((model, notebook))

    def source(self, model: str, notebook: str) -> str:
        return _rel(report.result_path(model, notebook))


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
    out: dict[tuple[str, str], dict | None] = {}
    for m in models:
        for nb in notebooks:
            path = report.result_path(m, nb)
            out[(m, nb)] = report.read_result(m, nb) if path.exists() else None  # a torn file: clear error
    return Records(list(models), out)


def _label(rec: dict | None, model: str) -> str:
    return (rec or {}).get("display_name") or model


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------------------------------------
# Tables 1-3


def _format_sets(met: Mapping) -> list[tuple[str, str, dict]]:
    """(format, set key, set record) of a 05/06 result: every format it ran (``formats``), else
    its single ``model_format`` / ``datasets``."""
    by_format = met.get("formats") or {met.get("model_format", "?"): met.get("datasets", {})}
    return [(fmt, key, d) for fmt, sets in by_format.items() for key, d in sets.items()]


def table1(recs: Records, reported: Mapping) -> pd.DataFrame:
    """DEFT Task 1 (EDRM, Spearman, p): our rows per model, data set and map, then the paper's."""
    rows = []
    for m in recs.models:
        rec = recs.get(m, NB_TASK1)
        if rec is None:
            rows.append({"system": m, "data": not_run(m, NB_TASK1), "tier": "-", "source": "ours"})
            continue
        met = rec["metrics"]
        for fmt, key, d in _format_sets(met):
            for mapping, r in d.get("mappings", {}).items():
                rows.append({"system": f"{_label(rec, m)} [{fmt}] ({mapping})", "data": d.get("label", key),
                             "tier": tier_label(d.get("tier", met.get("tier"))), "n": r.get("n"),
                             "EDRM": r.get("edrm"), "EDRM convention": r.get("edrm_convention"),
                             "Spearman": r.get("spearman"), "p": r.get("spearman_p"), "source": "ours"})
    for r in reported.get("table1", []):
        rows.append({"system": r["system"], "data": "DEFT 2020 T1 test", "tier": PAPER_TIER,
                     "EDRM": r.get("edrm"), "Spearman": r.get("spearman"), "p": r.get("spearman_p"),
                     "source": r.get("source", "paper")})
    lo, hi = reported.get("campaign", {}).get("task1_edrm_range", [None, None])
    if lo is not None:
        rows.append({"system": f"DEFT 2020 campaign: EDRM {lo}-{hi}", "data": "DEFT 2020 T1 test",
                     "tier": PAPER_TIER, "source": "campaign range quoted by the paper"})
    return _frame(rows, ["system", "data", "tier", "n", "EDRM", "EDRM convention", "Spearman", "p", "source"])


def table2(recs: Records, reported: Mapping) -> pd.DataFrame:
    """DEFT Task 2 (map-1 / map-2 / map-3 / mean, P@1): ours per model and data set, then the paper's."""
    rows = []
    for m in recs.models:
        rec = recs.get(m, NB_TASK2)
        if rec is None:
            rows.append({"system": m, "data": not_run(m, NB_TASK2), "tier": "-", "source": "ours"})
            continue
        met = rec["metrics"]
        for fmt, key, d in _format_sets(met):
            rows.append({"system": f"{_label(rec, m)} [{fmt}]", "data": d.get("label", key),
                         "tier": tier_label(d.get("tier", met.get("tier"))), "n": d.get("n_items"),
                         "map-1": d.get("map_1"), "map-2": d.get("map_2"), "map-3": d.get("map_3"),
                         "mean": d.get("map_mean"), "P@1": d.get("p_at_1"), "source": "ours"})
    for r in reported.get("table2", []):
        rows.append({"system": r["system"], "data": "DEFT 2020 T2 test", "tier": PAPER_TIER,
                     "map-1": r.get("map_1"), "map-2": r.get("map_2"), "map-3": r.get("map_3"),
                     "mean": r.get("map_mean"), "source": r.get("source", "paper")})
    lo, hi = reported.get("campaign", {}).get("task2_precision_range", [None, None])
    if lo is not None:
        rows.append({"system": f"DEFT 2020 campaign: precision {lo}-{hi}", "data": "DEFT 2020 T2 test",
                     "tier": PAPER_TIER, "source": "campaign range quoted by the paper"})
    return _frame(rows, ["system", "data", "tier", "n", "map-1", "map-2", "map-3", "mean", "P@1", "source"])


def quant_before_after(rec03: dict | None) -> tuple[str | None, dict, dict]:
    """(chosen INT8 format, reference record, chosen record) from a 03-quantize result."""
    if rec03 is None:
        return None, {}, {}
    met = rec03["metrics"]
    fmts = met.get("formats", {})
    ref = fmts.get(met.get("reference", "fp32-torch"), {})
    chosen = met.get("chosen") or ("onnx-int8-smoothquant" if "onnx-int8-smoothquant" in fmts else None)
    return chosen, ref, fmts.get(chosen, {}) if chosen else {}


def paper_int8_format(rec_task: dict | None, rec03: dict | None) -> str | None:
    """Our format to set beside the paper's rows, which are all INT8 (Tables 1-3 report the quantized
    models): the 03 gate's choice if this notebook ran it, else SmoothQuant (the paper's method), else
    any INT8 format it ran; the headline format if it ran no INT8 format (its label then says FP32)."""
    met = (rec_task or {}).get("metrics", {})
    ran = list(met.get("formats") or {})
    chosen, _, _ = quant_before_after(rec03)
    for f in (chosen, "onnx-int8-smoothquant", *ran):
        if f and f in ran and "int8" in f:
            return f
    return met.get("model_format")


def _sets(rec_task: dict | None, fmt: str | None) -> dict:
    """{set key: set record} of one format of a 05/06 result (the single-format layout has only ``datasets``)."""
    met = (rec_task or {}).get("metrics", {})
    return (met.get("formats") or {}).get(fmt) or met.get("datasets", {})


def _task1_quality(rec05: dict | None, rec03: dict | None = None) -> tuple[dict, str, str]:
    """Task 1 classification figures of the paper's map on the first data set, for the format paired
    with the paper's INT8 rows (and its label, tier)."""
    if rec05 is None:
        return {}, "", ""
    met = rec05["metrics"]
    fmt = paper_int8_format(rec05, rec03)
    for key, d in _sets(rec05, fmt).items():
        r = d.get("mappings", {}).get(PAPER_MAPPING) or next(iter(d.get("mappings", {}).values()), {})
        return r.get("classification", {}), f"{d.get('label', key)} [{fmt or '?'}]", \
            tier_label(d.get("tier", met.get("tier")))
    return {}, "", ""


def _task2_quality(rec06: dict | None, rec03: dict | None = None) -> tuple[dict, str, str]:
    if rec06 is None:
        return {}, "", ""
    met = rec06["metrics"]
    fmt = paper_int8_format(rec06, rec03)
    for key, d in _sets(rec06, fmt).items():
        return d, f"{d.get('label', key)} [{fmt or '?'}]", tier_label(d.get("tier", met.get("tier")))
    return {}, "", ""


def table3(recs: Records, reported: Mapping) -> pd.DataFrame:
    """Before -> after optimization per task and model (quality, latency, size, energy, CO2)."""
    rows = []
    for m in recs.models:
        rec03 = recs.get(m, NB_QUANT)
        chosen, ref, best = quant_before_after(rec03)
        q1, d1, t1 = _task1_quality(recs.get(m, NB_TASK1), rec03)
        q2, d2, t2 = _task2_quality(recs.get(m, NB_TASK2), rec03)
        missing = [nb for nb, r in ((NB_QUANT, rec03), (NB_TASK1, recs.get(m, NB_TASK1)),
                                    (NB_TASK2, recs.get(m, NB_TASK2))) if r is None]
        common = {
            "system": f"{_label(rec03 or recs.get(m, NB_TASK1), m)}: "
                      f"{(rec03 or {}).get('metrics', {}).get('reference', 'fp32-torch')} -> {chosen or '?'}",
            "latency avg before": ref.get("latency_avg_ms"),
            "latency avg after": best.get("latency_avg_ms"),
            "speed-up": _ratio(ref.get("latency_avg_ms"), best.get("latency_avg_ms")),
            "size before (MB)": ref.get("size_mb"), "size after (MB)": best.get("size_mb"),
            "energy before": ref.get("energy_j_per_1k"), "energy after": best.get("energy_j_per_1k"),
            "CO2 before": ref.get("co2_g_per_1k"), "CO2 after": best.get("co2_g_per_1k"),
            "Acc@1 HPO before": ref.get("acc1"), "Acc@1 HPO after": best.get("acc1"),
            "source": "ours" + (f"; {'; '.join(not_run(m, nb) for nb in missing)}" if missing else ""),
        }
        rows.append({"task": 1, **common, "data": d1, "tier": t1 or "-",
                     "accuracy": q1.get("accuracy"), "precision": q1.get("precision"),
                     "recall": q1.get("recall"), "F1": q1.get("f1")})
        rows.append({"task": 2, **common, "data": d2, "tier": t2 or "-", "MAP": q2.get("map_mean")})
    t3 = reported.get("table3", {})
    for r in t3.get("rows", []):
        map_mean = next((x.get("map_mean") for x in reported.get("table2", [])
                         if x["system"].startswith(r["model"])), None) if r["task"] == 2 else None
        rows.append({"task": r["task"], "system": f"{r['model']} (paper, GPU)", "data": f"DEFT 2020 T{r['task']}",
                     "tier": PAPER_TIER, "accuracy": r.get("accuracy"), "precision": r.get("precision"),
                     "recall": r.get("recall"), "F1": r.get("f1"), "MAP": map_mean,
                     "latency avg before": r.get("latency_before"),
                     "latency avg after": r.get("latency_after"),
                     "speed-up": _ratio(r.get("latency_before"), r.get("latency_after")),
                     "size before (MB)": r.get("size_before_mb"), "size after (MB)": r.get("size_after_mb"),
                     "energy before": r.get("energy_before"), "energy after": r.get("energy_after"),
                     "CO2 before": r.get("co2_before"), "CO2 after": r.get("co2_after"),
                     "source": "paper (latency/energy/CO2 in the paper's units)"})
    cols = ["task", "system", "data", "tier", "accuracy", "precision", "recall", "F1", "MAP",
            "Acc@1 HPO before", "Acc@1 HPO after", "latency avg before",
            "latency avg after", "speed-up", "size before (MB)", "size after (MB)",
            "energy before", "energy after", "CO2 before", "CO2 after", "source"]
    return _frame(rows, cols).sort_values("task", kind="stable").reset_index(drop=True)


def _ratio(a: Any, b: Any) -> float | None:
    a, b = _finite(a), _finite(b)
    return a / b if a is not None and b not in (None, 0.0) else None


def _frame(rows: list[dict], cols: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = None
    return df[cols]


# ---------------------------------------------------------------------------------------------
# Writing


def paper_dir() -> Path:
    d = paths.results_dir() / "paper"
    d.mkdir(parents=True, exist_ok=True)
    return d


def fmt_number(x: Any) -> str:
    """Four significant digits (p-values in scientific notation); blanks for missing values."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int):
        return str(x)
    return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.3g}"


def write_table(df: pd.DataFrame, stem: str, caption: str) -> list[Path]:
    """``results/paper/<stem>.csv``, ``.md`` (caption above) and ``.tex`` (booktabs tabular)."""
    out = paper_dir()
    csv, md, tex = out / f"{stem}.csv", out / f"{stem}.md", out / f"{stem}.tex"
    atomic.write_text(csv, df.to_csv(index=False))
    shown = df.astype(object).map(fmt_number)
    atomic.write_text(md, f"{caption}\n\n{shown.to_markdown(index=False)}\n")
    atomic.write_text(tex, shown.style.hide(axis="index").to_latex(caption=_tex_escape(caption), hrules=True,
                                                                   label=f"tab:{stem}"))
    return [csv, md, tex]


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


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


def summary_rows(recs: Records, reported: Mapping, pairing: Mapping | None = None) -> pd.DataFrame:
    """One row per reported number: quantity, the paper's value, ours, our system, data tier, file."""
    pairs = pair_models(recs.models, pairing)
    rows: list[dict] = []

    def add(section, quantity, paper_value, model, notebook, value, system, tier):
        rec = recs.get(model, notebook) if model else None
        rows.append({"section": section, "quantity": quantity, "paper": paper_value,
                     "ours": value if rec is not None else None,
                     "our system": system if rec is not None else not_run(model, notebook),
                     "data tier (ours)": tier if rec is not None else "-",
                     "from": recs.source(model, notebook) if model else ""})

    for r in reported.get("table1", []):
        if r.get("source") != "paper":
            continue
        pm = r["system"].replace(" INT8", "")
        m = pairs.get(pm, recs.models[0] if recs.models else "")
        rec = recs.get(m, NB_TASK1)
        fmt = paper_int8_format(rec, recs.get(m, NB_QUANT))
        sets = _sets(rec, fmt) or {"-": {}}
        for key, d in sets.items():
            res = d.get("mappings", {}).get(PAPER_MAPPING, {})
            system = f"{_label(rec, m)} [{fmt or '?'}] on {d.get('label', key)}"
            tier = tier_label(d.get("tier"))
            for q, k in (("EDRM", "edrm"), ("Spearman", "spearman"), ("Spearman p", "spearman_p")):
                add("Table 1", f"{r['system']}: {q}", r.get(k), m, NB_TASK1, res.get(k), system, tier)
    for r in reported.get("table2", []):
        if r.get("source") != "paper":
            continue
        pm = r["system"].replace(" INT8", "")
        m = pairs.get(pm, recs.models[0] if recs.models else "")
        rec = recs.get(m, NB_TASK2)
        fmt = paper_int8_format(rec, recs.get(m, NB_QUANT))
        sets = _sets(rec, fmt) or {"-": {}}
        for key, d in sets.items():
            system = f"{_label(rec, m)} [{fmt or '?'}] on {d.get('label', key)}"
            for q in ("map_1", "map_2", "map_3", "map_mean"):
                add("Table 2", f"{r['system']}: {q.replace('_', '-')}", r.get(q), m, NB_TASK2, d.get(q), system,
                    tier_label(d.get("tier")))
    for r in reported.get("table3", {}).get("rows", []):
        m = pairs.get(r["model"], recs.models[0] if recs.models else "")
        rec03 = recs.get(m, NB_QUANT)
        chosen, ref, best = quant_before_after(rec03)
        system = f"{_label(rec03, m)}: fp32-torch -> {chosen} (this CPU)"
        tier = tier_label((rec03 or {}).get("data", {}).get("tier"))
        task = f"T{r['task']} {r['model']}"
        if r["task"] == 1:
            q1, d1, t1 = _task1_quality(recs.get(m, NB_TASK1), rec03)
            for q in ("accuracy", "precision", "recall", "f1"):
                add("Table 3", f"{task}: {q}", r.get(q), m, NB_TASK1, q1.get(q), d1, t1)
        add("Table 3", f"{task}: latency speed-up (before/after)",
            _ratio(r.get("latency_before"), r.get("latency_after")), m, NB_QUANT,
            _ratio(ref.get("latency_avg_ms"), best.get("latency_avg_ms")), system, tier)
        add("Table 3", f"{task}: size after / before",
            _ratio(r.get("size_after_mb"), r.get("size_before_mb")), m, NB_QUANT,
            _ratio(best.get("size_mb"), ref.get("size_mb")), system, tier)
        add("Table 3", f"{task}: size before (MB)", r.get("size_before_mb"), m, NB_QUANT, ref.get("size_mb"),
            system, tier)
        add("Table 3", f"{task}: size after (MB)", r.get("size_after_mb"), m, NB_QUANT, best.get("size_mb"),
            system, tier)
        add("Table 3", f"{task}: energy after / before", _ratio(r.get("energy_after"), r.get("energy_before")),
            m, NB_QUANT, _ratio(best.get("energy_j_per_1k"), ref.get("energy_j_per_1k")), system, tier)
    for m in recs.models:
        rec = recs.get(m, NB_OUTLIERS)
        met = (rec or {}).get("metrics", {})
        tier = tier_label((rec or {}).get("data", {}).get("tier"))
        system = f"{_label(rec, m)}, SmoothQuant alpha {met.get('alpha')}"
        for stage in ("before", "after"):
            for k, v in met.get("channel_shares", {}).get(stage, {}).items():
                add("Figure 4", f"{m}: share of channels with abs(x) {k[len('share'):]} ({stage})", None, m,
                    NB_OUTLIERS, v, system, tier)
            add("Figure 4", f"{m}: max abs(x) ({stage})", None, m, NB_OUTLIERS, met.get("max_abs", {}).get(stage),
                system, tier)
        for v, c in met.get("qdq_mean_cosine_to_fp32", {}).items():
            add("Figure 4", f"{m}: QDQ static INT8 ({v}) mean cosine to FP32", None, m, NB_OUTLIERS, c, system, tier)
        if rec is None:
            add("Figure 4", f"{m}: activation outliers", None, m, NB_OUTLIERS, None, "", "-")
        rec = recs.get(m, NB_HEATMAPS)
        met = (rec or {}).get("metrics", {})
        tier = tier_label((rec or {}).get("data", {}).get("tier"))
        for key, r in met.get("ratings", {}).items():
            add("Figure 5", f"{key}: mean rating (0-5)", None, m, NB_HEATMAPS, r.get("mean"),
                "automatic HPO is-a rating" + (" + expert" if r.get("expert_rated") else ""), tier)
        for fmt, c in met.get("complementarity", {}).items():
            pair = " vs ".join(met.get("models", []))
            for k in ("acc_a", "acc_b", "fusion", "oracle"):
                add("Figure 5", f"{pair} [{fmt}]: {k}", None, m, NB_HEATMAPS, c.get(k), "Acc@1 vs gold", tier)
        if rec is None:
            add("Figure 5", f"{m}: ratings and complementarity", None, m, NB_HEATMAPS, None, "", "-")
    return pd.DataFrame(rows, columns=["section", "quantity", "paper", "ours", "our system",
                                       "data tier (ours)", "from"])


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
    shown = rows.astype(object).map(fmt_number)
    lines = [
        "# Summary: our numbers beside the paper's",
        "",
        f"Paper: {' '.join(str(reported.get('citation', '')).split())}",
        f"Paper hardware: {reported.get('hardware', '?')}. Ours: CPU (see each results file's `machine`).",
        "",
        "Every number below is read from a results file (ours) or from `lib/data/paper_reported.yaml` "
        "(the paper's); nothing is typed here. Stand-ins: " +
        ", ".join(f"{k} -> `{v}`" for k, v in pairs.items()) + ". Our DEFT figures come from the data tier "
        "named on each row; on a public stand-in they are not comparable with the paper's DEFT 2020 test.",
        "",
        "## Result files",
        "",
        status.to_markdown(index=False) if len(status) else "(no model has results yet)",
        "",
        "## Numbers",
        "",
        shown.to_markdown(index=False) if len(shown) else "(nothing to compare yet)",
        "",
        "## Tables (paper layout)",
        "",
    ]
    for name, files in tables.items():
        lines.append(f"- {name}: " + ", ".join(f"`{_rel(p)}`" for p in files))
    lines += ["", "## Figures (the paper's beside ours)", "", figure_table(recs.models).to_markdown(index=False),
              "", "All figures written:", ""]
    lines += [f"- `{_rel(p)}`" for p in figures] or ["(none found)"]
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
