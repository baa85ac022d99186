"""DEFT 2020 Tables 1 and 2: our rows (one per system, data set and score mapping) beside the paper's
and the campaign's, as transcribed in ``lib/data/paper_reported.yaml``. The one builder of both tables:
notebooks 05 / 06 call it on one run, notebook 09 (:mod:`lib.report.paper`) on every model's records.

Table 3 (Task 1 classification included) is built by :mod:`lib.report.table3`; every table is written
by :func:`lib.results.write_table`.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from lib.report.table3 import PAPER_TIER, tier_label
from lib.results.schema import Task1Set, Task2Set, coerce

TABLE1_COLUMNS = ["system", "data", "tier", "n", "EDRM", "EDRM 95% CI", "EDRM convention", "EDRM (other convention)",
                  "Spearman", "Spearman 95% CI", "p", "test undersampled", "source"]
TABLE2_COLUMNS = ["system", "data", "tier", "n", "map-1", "map-2", "map-3", "mean", "MAP", "MAP 95% CI", "P@1",
                  "P@1 95% CI", "source"]

# A run: (system label, {data set key: its record, typed or as notebook 05 / 06 builds it}).
Run = tuple[str, Mapping[str, Any]]


def fmt_ci(ci) -> str:
    """One ``[lo, hi]`` text for every interval column of the report tables (blank when absent)."""
    return "" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _frame(rows: list[dict], cols: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = None
    df = df[cols]
    df["n"] = df["n"].astype("Int64")      # counts stay integers although the paper's rows leave them empty
    return df


def _not_run_rows(not_run: Iterable[tuple[str, str]]) -> list[dict]:
    return [{"system": system, "data": why, "tier": "-", "source": "ours"} for system, why in not_run]


def table1(runs: Iterable[Run], reported: Mapping, not_run: Iterable[tuple[str, str]] = ()) -> pd.DataFrame:
    """Table 1 (EDRM with its convention and interval, Spearman with its interval and p): our rows per
    system, data set and score mapping, ``not_run`` (system, reason) rows, then the paper's and the
    campaign's EDRM range."""
    rows = _not_run_rows(not_run)
    for system, sets in runs:
        for d in (coerce(Task1Set, v) for v in sets.values()):
            for mapping, r in d.mappings.items():
                other = "system" if r.edrm_convention == "reference" else "reference"
                rows.append({"system": f"{system} ({mapping})", "data": d.label, "tier": tier_label(d.tier),
                             "n": r.n, "EDRM": r.edrm, "EDRM 95% CI": fmt_ci(getattr(r, "edrm_ci", None)),
                             "EDRM convention": r.edrm_convention,
                             "EDRM (other convention)": (getattr(r, "edrm_by_convention", None) or {}).get(other),
                             "Spearman": r.spearman, "Spearman 95% CI": fmt_ci(getattr(r, "spearman_ci", None)),
                             "p": r.spearman_p, "test undersampled": d.undersampled_test, "source": "ours"})
    for r in reported.get("table1", []):
        rows.append({"system": r["system"], "data": "DEFT 2020 T1 test", "tier": PAPER_TIER,
                     "EDRM": r.get("edrm"), "Spearman": r.get("spearman"), "p": r.get("spearman_p"),
                     "source": r.get("source", "paper")})
    lo, hi = reported.get("campaign", {}).get("task1_edrm_range", [None, None])
    if lo is not None:
        rows.append({"system": f"DEFT 2020 campaign: EDRM {lo}-{hi}", "data": "DEFT 2020 T1 test",
                     "tier": PAPER_TIER, "source": "campaign range quoted by the paper"})
    return _frame(rows, TABLE1_COLUMNS)


def table2(runs: Iterable[Run], reported: Mapping, not_run: Iterable[tuple[str, str]] = ()) -> pd.DataFrame:
    """Table 2 (map-1 / map-2 / map-3 / mean, MAP and P@1 with their intervals): our rows per system and
    data set, ``not_run`` rows, then the paper's and the campaign's precision range."""
    rows = _not_run_rows(not_run)
    for system, sets in runs:
        for d in (coerce(Task2Set, v) for v in sets.values()):
            rows.append({"system": system, "data": d.label, "tier": tier_label(d.tier), "n": d.n_items,
                         "map-1": d.map_1, "map-2": d.map_2, "map-3": d.map_3, "mean": d.map_mean, "MAP": d.map,
                         "MAP 95% CI": fmt_ci(getattr(d, "map_ci", None)), "P@1": d.p_at_1,
                         "P@1 95% CI": fmt_ci(getattr(d, "p_at_1_ci", None)), "source": "ours"})
    for r in reported.get("table2", []):
        rows.append({"system": r["system"], "data": "DEFT 2020 T2 test", "tier": PAPER_TIER,
                     "map-1": r.get("map_1"), "map-2": r.get("map_2"), "map-3": r.get("map_3"),
                     "mean": r.get("map_mean"), "source": r.get("source", "paper")})
    lo, hi = reported.get("campaign", {}).get("task2_precision_range", [None, None])
    if lo is not None:
        rows.append({"system": f"DEFT 2020 campaign: precision {lo}-{hi}", "data": "DEFT 2020 T2 test",
                     "tier": PAPER_TIER, "source": "campaign range quoted by the paper"})
    return _frame(rows, TABLE2_COLUMNS)
