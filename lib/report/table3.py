"""The paper's Table 3 (before -> after optimization), built in one place for every caller.

The paper's Table 3 gives, per task and model, the quality after optimization (Task 1 accuracy /
precision / recall / F1; Task 2 MAP, "unchanged") and latency, model size, energy and CO2 before ->
after. :func:`build` lays out rows in exactly those columns, adds our HPO lay-term Acc@1 before ->
after and the data and tier each row was measured on, then the paper's rows from
``lib/data/paper_reported.yaml``. Its three callers differ only in where the rows come from:

- notebook 03 (:func:`gate_rows`): FP32 PyTorch -> each format its quality gate measured, this run;
- notebook 05 (:func:`task1_rows`): Task 1 classification per data set and score map;
- notebook 09 (:func:`lib.report.paper.table3`): per model, 03's reference -> chosen INT8 format
  with 05's and 06's quality.

Ours are measured on this machine's CPU (latency in ms per batch of ``batch_size``, energy in J and CO2
in g per 1,000 sentences, blank when energy is not measurable); the paper's on an A100 GPU in its own
units: compare ratios (speed-up, size after / before), not values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Mapping

import pandas as pd

from lib.params import Params
from lib.results.schema import GateFormat, Task1Set, coerce

QUALITY = ("accuracy", "precision", "recall", "F1", "MAP")

COLUMNS = ["task", "system", "data", "tier", *QUALITY, "Acc@1 HPO before", "Acc@1 HPO after",
           "latency avg before", "latency avg after", "speed-up", "size before (MB)", "size after (MB)",
           "energy before", "energy after", "CO2 before", "CO2 after", "source"]

PAPER_TIER = "licensed (DEFT 2020, as reported by the paper)"

GATE_TASK = "-"  # notebook 03's rows: measured on HPO lay terms and STS, not on a DEFT task


@dataclass(frozen=True)
class Row:
    """One of our lines: what was measured (``quality``: keys of :data:`QUALITY`), on which data, and
    the formats before and after optimization (their latency, size, energy, CO2 and HPO Acc@1)."""

    task: int | str
    system: str
    data: str = ""
    tier: str = "-"
    quality: Mapping[str, float | None] = field(default_factory=dict)
    before: GateFormat | None = None
    after: GateFormat | None = None
    source: str = "ours"

    def __post_init__(self) -> None:
        unknown = set(self.quality) - set(QUALITY)
        if unknown:
            raise ValueError(f"Table 3 quality columns are {QUALITY}; unknown {sorted(unknown)}")


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def ratio(a: Any, b: Any) -> float | None:
    """a / b, or None when either is missing or b is 0 (a speed-up that cannot be computed is blank)."""
    a, b = _finite(a), _finite(b)
    return a / b if a is not None and b not in (None, 0.0) else None


def tier_label(raw: str | None) -> str:
    """One of licensed / public stand-in / embedded (combinations joined by " + ")."""
    text = (raw or "").lower()
    found = [label for key, label in (("licensed", "licensed"), ("embedded", "embedded"),
                                      ("public", "public stand-in"), ("stand-in", "public stand-in"))
             if key in text]
    found = list(dict.fromkeys(found))
    return " + ".join(found) if found else (raw or "unknown")


def _measures(b: GateFormat | None, a: GateFormat | None) -> dict[str, Any]:
    """The before / after columns; blank for a side that was not measured (notebook 05's rows)."""
    def get(m: GateFormat | None, key: str) -> Any:
        return getattr(m, key) if m is not None else None
    return {"Acc@1 HPO before": get(b, "acc1"), "Acc@1 HPO after": get(a, "acc1"),
            "latency avg before": get(b, "latency_avg_ms"), "latency avg after": get(a, "latency_avg_ms"),
            "speed-up": ratio(get(b, "latency_avg_ms"), get(a, "latency_avg_ms")),
            "size before (MB)": get(b, "size_mb"), "size after (MB)": get(a, "size_mb"),
            "energy before": get(b, "energy_j_per_1k"), "energy after": get(a, "energy_j_per_1k"),
            "CO2 before": get(b, "co2_g_per_1k"), "CO2 after": get(a, "co2_g_per_1k")}


def paper_rows(reported: Mapping, tasks: Collection[int] = (1, 2)) -> list[dict[str, Any]]:
    """The paper's Table 3 rows (``reported["table3"]``); Task 2's MAP is its Table 2 mean, which the
    paper says is unchanged by optimization."""
    out = []
    for r in reported.get("table3", {}).get("rows", []):
        if r["task"] not in tasks:
            continue
        map_mean = next((x.get("map_mean") for x in reported.get("table2", [])
                         if x["system"].startswith(r["model"])), None) if r["task"] == 2 else None
        out.append({"task": r["task"], "system": f"{r['model']} (paper, GPU)", "data": f"DEFT 2020 T{r['task']}",
                    "tier": PAPER_TIER, "accuracy": r.get("accuracy"), "precision": r.get("precision"),
                    "recall": r.get("recall"), "F1": r.get("f1"), "MAP": map_mean,
                    "latency avg before": r.get("latency_before"), "latency avg after": r.get("latency_after"),
                    "speed-up": ratio(r.get("latency_before"), r.get("latency_after")),
                    "size before (MB)": r.get("size_before_mb"), "size after (MB)": r.get("size_after_mb"),
                    "energy before": r.get("energy_before"), "energy after": r.get("energy_after"),
                    "CO2 before": r.get("co2_before"), "CO2 after": r.get("co2_after"),
                    "source": "paper (latency/energy/CO2 in the paper's units)"})
    return out


def build(rows: Iterable[Row], reported: Mapping | None = None, paper_tasks: Collection[int] = (1, 2)) -> pd.DataFrame:
    """Table 3: our rows, then the paper's rows of ``paper_tasks`` (none without ``reported``), in
    :data:`COLUMNS`, ordered by task (03's gate rows first; stable within a task)."""
    ours = [{"task": r.task, "system": r.system, "data": r.data, "tier": r.tier, **dict(r.quality),
             **_measures(r.before, r.after), "source": r.source} for r in rows]
    theirs = paper_rows(reported, paper_tasks) if reported else []
    df = pd.DataFrame(ours + theirs, columns=COLUMNS).astype({"task": object})
    order = df["task"].map(lambda t: t if isinstance(t, int) else 0)
    return df.iloc[order.argsort(kind="stable")].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Where the rows come from


def gate_rows(formats: Mapping[str, GateFormat | Mapping], reference: str, P: Params) -> list[Row]:
    """Notebook 03: ``reference`` -> every other format the gate measured (``lib.gate.format_records``
    of this run), with whether it passed the gate."""
    fmts = {label: coerce(GateFormat, rec) for label, rec in formats.items()}
    ref = fmts[reference]
    name = P.display_name or P.name
    return [Row(GATE_TASK, f"{name}: {reference} -> {label}", "HPO lay terms + STS (03 quality gate)",
                tier_label("embedded+public"), before=ref, after=rec,
                source="ours (this CPU); gate: " + ("pass" if rec.passed else "FAIL: " + "; ".join(rec.reasons)))
            for label, rec in fmts.items() if label != reference]


def task1_rows(sets: Mapping[str, Task1Set | Mapping], system: str) -> list[Row]:
    """Notebook 05: Task 1 accuracy / precision / recall / F1 per data set and score map (binarised at
    the threshold each set's ``classification`` records)."""
    out = []
    for d in (coerce(Task1Set, s) for s in sets.values()):
        for mapping, r in d.mappings.items():
            c = r.classification
            out.append(Row(1, f"{system} ({mapping})", d.label, tier_label(d.tier),
                           {"accuracy": c.accuracy, "precision": c.precision, "recall": c.recall, "F1": c.f1}))
    return out
