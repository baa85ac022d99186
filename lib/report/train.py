"""Tables of the training study (notebook 11): alignment accuracy of every model with its intervals, and
paired McNemar tests between two models on the same lay terms.

Frames only: notebooks write them with :func:`lib.results.write_table` (aggregate: ``row_level=False``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from lib.errors import DataFormatError
from lib.evaluate.retrieval import paired_mcnemar
from lib.report.deft_tables import fmt_ci

# column label -> metric key of lib.evaluate.retrieval.retrieval_metrics
_METRICS: tuple[tuple[str, str], ...] = (("Acc@1", "acc@1"), ("MRR", "mrr"), ("Acc@10", "acc@10"))


def _metric_cells(m: Mapping[str, Any], key: str, label: str) -> dict[str, Any]:
    """The value and its 95% interval text; blanks when the run has no such metric (no gold, no
    non-trivial terms)."""
    value = m.get(key)
    return {label: float(value) if value is not None else np.nan,
            f"{label} 95% CI": fmt_ci((m.get("ci") or {}).get(key))}


def alignment_rows(rows: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per model label: Acc@1, MRR, Acc@10 and non-trivial Acc@1 with their 95% bootstrap
    intervals, the lay terms scored, the group (e.g. "unsupervised", "concept-disjoint supervised")
    and the training minutes (blank for a model that was not trained here).

    Each value of ``rows`` is the metrics dict of :func:`lib.search.align.align_and_score` (the
    layout of :func:`lib.evaluate.retrieval.retrieval_metrics`, with ``nontrivial`` the same layout on
    the non-trivial terms) plus optional ``group`` and ``minutes``. A run without gold ranks (no
    ``acc@1``) is an error: its row would be all blanks.
    """
    out = []
    for label, m in rows.items():
        if "acc@1" not in m:
            raise KeyError(f"alignment_rows: {label!r} has no acc@1 (keys: {sorted(m)}); pass the metrics "
                           "of a run scored against gold (align_and_score with a gold column)")
        row: dict[str, Any] = {"model": label, "group": m.get("group") or ""}
        for col, key in _METRICS:
            row.update(_metric_cells(m, key, col))
        row.update(_metric_cells(m.get("nontrivial") or {}, "acc@1", "non-trivial Acc@1"))
        row["n"] = m.get("n", m.get("n_sources"))
        row["n non-trivial"] = (m.get("nontrivial") or {}).get("n")
        minutes = m.get("minutes")
        row["training minutes"] = float(minutes) if minutes is not None else np.nan
        out.append(row)
    df = pd.DataFrame(out, columns=["model", "group"] + [c for col, _ in _METRICS for c in (col, f"{col} 95% CI")]
                      + ["non-trivial Acc@1", "non-trivial Acc@1 95% CI", "n", "n non-trivial",
                         "training minutes"])
    for col in ("n", "n non-trivial"):  # counts stay integers, blank where unknown
        df[col] = df[col].astype("Int64")
    return df


def mcnemar_row(a_hits: Sequence[bool] | np.ndarray, b_hits: Sequence[bool] | np.ndarray, label_a: str,
                label_b: str) -> dict[str, Any]:
    """One row of the paired comparison table: the exact McNemar test of two models' top-1 hits on
    the same lay terms (:func:`lib.evaluate.retrieval.paired_mcnemar`), with both accuracies."""
    a, b = np.asarray(a_hits, dtype=bool), np.asarray(b_hits, dtype=bool)
    t = paired_mcnemar(a, b)
    return {"model A": label_a, "model B": label_b, "n": t["n"],
            "Acc@1 A": float(a.mean()) if len(a) else np.nan, "Acc@1 B": float(b.mean()) if len(b) else np.nan,
            "A - B": t["diff"], "only A right": t["only_a"], "only B right": t["only_b"],
            "p (exact McNemar)": t["p"]}


def corpus_rows(rows: Sequence[Mapping[str, Any]],
                paired: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The corpus-mix table of notebook 11 (issue 22): one row per variant of
    :func:`lib.train.study.run_sweep`, its test-part lay metrics with CIs (the lay dev slice excluded)
    through :func:`alignment_rows`, beside the three proxies, the pairs each corpus gave, the merged groups
    and the pairs the punctuation-proof leakage filter moved; with ``paired``
    (:func:`lib.train.study.paired_tests`) the exact McNemar test against the first variant, so a reader sees
    whether two mixes differ beyond noise on the same terms."""
    paired = paired or {}
    test = alignment_rows({r["label"]: {**r["test"], "group": "corpus mix", "minutes": r["minutes"]} for r in rows})
    extra = pd.DataFrame([{
        "dev Acc@1 (c)": r.get("dev_acc@1"), "def->concept Acc@1 (b)": r.get("dev-def_acc@1"),
        "lay dev Acc@1 (a)": r.get("lay_dev_acc@1"), "steps": r.get("steps"),
        **{f"pairs {c}": v.get("pairs_used") for c, v in (r.get("per_corpus") or {}).items()},
        **{f"lay-dropped {c}": v.get("pairs_dropped_lay") for c, v in (r.get("per_corpus") or {}).items()},
        "merged groups": (r.get("merge") or {}).get("merged_groups"),
        "moved by stricter filter": r.get("pairs_dropped_by_stricter_key"),
        **({"McNemar vs first: only this / only first, p":
            f"{t['only_a']} / {t['only_b']}, p = {t['p']:.3g}" if (t := paired.get(r["label"])) else "-"}
           if paired else {})} for r in rows])
    return pd.concat([test.rename(columns={"model": "variant"}), extra], axis=1)


def proxy_rows(correlations: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per dev proxy: its Spearman with the test part's lay Acc@1 over the variants, p, n, and the
    variant it would choose."""
    return pd.DataFrame([{"proxy": name, "Spearman with lay Acc@1": c.get("spearman"), "p": c.get("p"),
                          "variants": c.get("n"), "would choose": c.get("chooses")}
                         for name, c in correlations.items()])


SWEEP_COLUMNS = ["variant", "Acc@1", "Acc@1 95% CI", "MRR", "Acc@10", "non-trivial Acc@1", "dev Acc@1 (c)",
                 "def->concept Acc@1 (b)", "lay dev Acc@1 (a)", "training minutes",
                 "McNemar vs first: only this / only first, p"]


def sweep_markdown(sweep: Mapping[str, Any]) -> str:
    """A corpus sweep file (``python -m lib.train.study ... --out F``) as the README shows it: the variants'
    test-part metrics, proxies, minutes and paired tests against the first, the proxies' correlations and
    the choice, each table through the one markdown writer."""
    from lib.results.tables import markdown

    rows = sweep["rows"]
    table = corpus_rows(rows, sweep.get("paired"))
    choice = sweep.get("choice") or {}
    return "\n".join([
        f"{sweep.get('steps')} steps per variant; test part: {rows[0]['n_test']} lay terms outside the "
        f"recipe-choosing slice; scored in {sweep.get('format')}.", "",
        markdown(table[[c for c in SWEEP_COLUMNS if c in table]].round(4)).rstrip("\n"), "",
        markdown(proxy_rows(sweep["correlations"]).round(3)).rstrip("\n"), "",
        f"Chosen on **{choice.get('proxy')}**: {choice.get('variant')}."])


def _hits(path: Path) -> pd.Series:
    """Top-1 hits by source id of one row-level alignment file (04-align's ``<format>.main.csv``)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (04-align writes results/<model>/04-align.<format>.main.csv)")
    df = pd.read_csv(path, dtype={"source_id": str})
    missing = [c for c in ("source_id", "gold_rank") if c not in df]
    if missing:
        raise ValueError(f"{path}: no column {missing} (a 04-align row-level file has source_id and gold_rank)")
    ranks = pd.to_numeric(df["gold_rank"], errors="coerce")
    if ranks.isna().any():
        bad = int(np.flatnonzero(ranks.isna().to_numpy())[0])
        raise DataFormatError(path, f"not a number ({df['gold_rank'].iloc[bad]!r})", line=bad + 2,   # after the header
                              field="gold_rank")
    return pd.Series((ranks == 1).to_numpy(), index=df["source_id"])


def runs_mcnemar(a: Path, b: Path) -> dict[str, Any]:
    """The exact McNemar test of two alignment runs on the same lay terms, from their row-level files
    (e.g. a model before and after a recipe change): :func:`mcnemar_row`, labelled by the files. The two
    runs must hold the same source ids, or the test would pair different terms."""
    ha, hb = _hits(Path(a)), _hits(Path(b))
    if set(ha.index) != set(hb.index) or ha.index.duplicated().any():
        only = sorted(set(ha.index) ^ set(hb.index))[:3]
        raise ValueError(f"{a} and {b} do not hold the same lay terms (source ids only in one: {only}): "
                         "McNemar pairs each term with itself")
    return mcnemar_row(ha.to_numpy(), hb.loc[ha.index].to_numpy(), str(a), str(b))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lib.report.train SWEEP.json``: print a corpus sweep's tables in markdown;
    ``python -m lib.report.train --compare A.main.csv B.main.csv``: the McNemar test of two alignment runs."""
    import json
    import sys

    args = list(argv if argv is not None else sys.argv[1:])
    if args[:1] == ["--compare"]:
        if len(args) != 3:
            raise SystemExit("usage: python -m lib.report.train --compare A.main.csv B.main.csv")
        from lib.results.tables import markdown
        table = pd.DataFrame([runs_mcnemar(Path(args[1]), Path(args[2]))])
        table["p (exact McNemar)"] = table["p (exact McNemar)"].map(lambda p: f"{p:.3g}")   # 4 decimals hide it
        table = table.round(4)
        print(markdown(table))
        return
    for path in args:
        print(sweep_markdown(json.loads(Path(path).read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
