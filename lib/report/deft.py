"""DEFT 2020 tables of one run (Tables 1 and 2 beside the paper's rows), for notebooks 05 and 06.

Table 3 (Task 1 classification included) is built by :mod:`lib.report.table3`; every table is
written by :func:`lib.report.write_table`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def _fmt_ci(ci) -> str:
    return "" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _int_counts(df: "pd.DataFrame") -> "pd.DataFrame":
    """Counts stay integers although the paper's rows leave them empty."""
    if "n" in df:
        df["n"] = df["n"].astype("Int64")
    return df


def table1_frame(ours: dict[str, dict[str, Any]], reported: dict[str, Any], system: str) -> "pd.DataFrame":
    """Table 1 layout (system, data, EDRM, Spearman, p) with our rows first, then the paper's and the
    campaign participants' rows exactly as transcribed in ``paper_reported.yaml``.

    ``ours`` maps dataset key -> the ``metrics["datasets"][key]`` entry written by notebook 05.
    """
    import pandas as pd

    rows = []
    for key, d in ours.items():
        for m, r in d["mappings"].items():
            rows.append({"system": f"{system} ({m})", "data": d["label"], "n": r["n"],
                         "EDRM": r["edrm"], "EDRM 95% CI": _fmt_ci(r["edrm_ci"]),
                         "EDRM convention": r["edrm_convention"],
                         "EDRM (other convention)": r["edrm_by_convention"][
                             "system" if r["edrm_convention"] == "reference" else "reference"],
                         "Spearman": r["spearman"], "Spearman 95% CI": _fmt_ci(r["spearman_ci"]),
                         "p": r["spearman_p"], "test undersampled": d["undersampled_test"]})
    for r in reported.get("table1", []):
        rows.append({"system": r["system"], "data": f"DEFT 2020 T1 test ({r.get('source', 'paper')})",
                     "EDRM": r.get("edrm"), "Spearman": r.get("spearman"), "p": r.get("spearman_p")})
    lo, hi = reported.get("campaign", {}).get("task1_edrm_range", [None, None])
    if lo is not None:
        rows.append({"system": f"DEFT 2020 campaign range: EDRM {lo}-{hi}",
                     "data": "DEFT 2020 T1 test (campaign)"})
    return _int_counts(pd.DataFrame(rows))


def table2_frame(ours: dict[str, dict[str, Any]], reported: dict[str, Any], system: str) -> "pd.DataFrame":
    """Table 2 layout (map-1 / map-2 / map-3 / mean) plus MAP and P@1, then the paper's rows."""
    import pandas as pd

    rows = []
    for key, d in ours.items():
        rows.append({"system": system, "data": d["label"], "n": d["n_items"], "map-1": d["map_1"],
                     "map-2": d["map_2"], "map-3": d["map_3"], "mean": d["map_mean"], "MAP": d["map"],
                     "MAP 95% CI": _fmt_ci(d["map_ci"]), "P@1": d["p_at_1"],
                     "P@1 95% CI": _fmt_ci(d["p_at_1_ci"])})
    for r in reported.get("table2", []):
        rows.append({"system": r["system"], "data": f"DEFT 2020 T2 test ({r.get('source', 'paper')})",
                     "map-1": r.get("map_1"), "map-2": r.get("map_2"), "map-3": r.get("map_3"),
                     "mean": r.get("map_mean")})
    lo, hi = reported.get("campaign", {}).get("task2_precision_range", [None, None])
    if lo is not None:
        rows.append({"system": f"DEFT 2020 campaign range: precision {lo}-{hi}",
                     "data": "DEFT 2020 T2 test (campaign)"})
    return _int_counts(pd.DataFrame(rows))
