"""Training-study tables (lib.report.train): alignment rows with intervals, paired McNemar rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib import params, results
from lib.evaluate.retrieval import retrieval_metrics
from lib.report import train


def _metrics(ranks, trivial, **extra) -> dict:
    """The metrics layout of lib.search.align.align_and_score, from real ranks."""
    ranks, trivial = np.asarray(ranks), np.asarray(trivial, bool)
    m = {"n_sources": len(ranks), "n_targets": 500, **retrieval_metrics(ranks, n_boot=50, seed=0)}
    m["nontrivial"] = retrieval_metrics(ranks[~trivial], n_boot=50, seed=0)
    return {**m, **extra}


RANKS = [1, 1, 2, 0, 1, 10, 3, 1, 0, 1]
TRIVIAL = [True, False, False, False, True, False, False, True, False, False]


def test_alignment_rows_values_and_intervals():
    rows = {"MiniLM": _metrics(RANKS, TRIVIAL, group="unsupervised"),
            "MiniLM + MNRL": _metrics([1] * 8 + [2, 0], TRIVIAL, group="concept-disjoint supervised",
                                      minutes=12.5)}
    df = train.alignment_rows(rows)
    assert list(df.model) == ["MiniLM", "MiniLM + MNRL"]
    assert list(df.group) == ["unsupervised", "concept-disjoint supervised"]
    base = df.iloc[0]
    assert base["Acc@1"] == pytest.approx(0.5) and base["Acc@10"] == pytest.approx(0.8)
    assert base["MRR"] == pytest.approx((5 + 0.5 + 1 / 3 + 0.1) / 10)
    # non-trivial: 7 terms, hits at ranks 1 (index 1) and 1 (index 9)
    assert base["non-trivial Acc@1"] == pytest.approx(2 / 7) and base["n non-trivial"] == 7
    assert base["n"] == 10 and pd.isna(base["training minutes"])
    assert df.iloc[1]["training minutes"] == 12.5
    lo, hi = rows["MiniLM"]["ci"]["acc@1"]
    assert base["Acc@1 95% CI"] == f"[{lo:.3f}, {hi:.3f}]" and lo < 0.5 < hi
    for col in ("MRR 95% CI", "Acc@10 95% CI", "non-trivial Acc@1 95% CI"):
        assert df[col].str.fullmatch(r"\[\d\.\d{3}, \d\.\d{3}\]").all()
    assert str(df["n"].dtype) == "Int64"


def test_alignment_rows_rejects_a_run_without_gold():
    with pytest.raises(KeyError, match="'no gold' has no acc@1"):
        train.alignment_rows({"no gold": {"n_sources": 3, "n_targets": 4}})


def test_alignment_rows_written_by_the_one_writer(results_dir):
    df = train.alignment_rows({"a": _metrics(RANKS, TRIVIAL)})
    out = results.write_table(params.load("tiny"), "11-align", df, formats=("csv", "md"), row_level=False)
    md = out["md"].read_text(encoding="utf-8")
    header = [c.strip() for c in md.splitlines()[0].strip("|").split("|")]
    assert header == list(df.columns)
    assert df["Acc@1 95% CI"].iloc[0] in md  # the interval text is shown as it is, not re-parsed
    back = pd.read_csv(out["csv"])
    assert back["Acc@1"].iloc[0] == pytest.approx(0.5)


def test_mcnemar_row():
    a = np.array([1, 1, 1, 1, 1, 1, 0, 1, 1, 1], bool)
    b = np.array([1, 0, 0, 0, 0, 0, 0, 1, 1, 1], bool)
    row = train.mcnemar_row(a, b, "tuned", "base")
    assert row["model A"] == "tuned" and row["model B"] == "base" and row["n"] == 10
    assert (row["only A right"], row["only B right"]) == (5, 0)
    assert row["Acc@1 A"] == pytest.approx(0.9) and row["A - B"] == pytest.approx(0.5)
    assert row["p (exact McNemar)"] == pytest.approx(2 * 0.5 ** 5)  # two-sided exact binomial, 5 of 5
    same = train.mcnemar_row(a, a, "x", "y")
    assert same["p (exact McNemar)"] == 1.0 and same["A - B"] == 0.0
    with pytest.raises(ValueError, match="differ in length"):
        train.mcnemar_row(a, b[:5], "x", "y")


def test_corpus_rows_carry_the_paired_test_against_the_first_variant():
    def row(label):
        return {"label": label, "minutes": 1.0, "steps": 120, "dev_acc@1": 0.7, "test": _metrics(RANKS, TRIVIAL),
                "per_corpus": {"hpo": {"pairs_used": 10, "pairs_dropped_lay": 1}}, "merge": {"merged_groups": 2}}
    rows = [row("HPO"), row("HPO + MeSH 15%")]
    paired = {"HPO + MeSH 15%": {"against": "HPO", "only_a": 3, "only_b": 1, "p": 0.625, "n": 10, "diff": 0.2}}
    df = train.corpus_rows(rows, paired)
    col = "McNemar vs first: only this / only first, p"
    assert df[col].tolist() == ["-", "3 / 1, p = 0.625"]
    assert col not in train.corpus_rows(rows).columns  # an older sweep file without ranks: no column


def test_sweep_markdown_prints_the_variants_the_proxies_and_the_choice(capsys, tmp_path):
    import json

    row = {"label": "HPO", "minutes": 6.5, "steps": 400, "dev_acc@1": 0.7, "dev-def_acc@1": 0.6,
           "lay_dev_acc@1": 0.41, "n_test": 10, "test": _metrics(RANKS, TRIVIAL)}
    sweep = {"rows": [row, {**row, "label": "HPO + MeSH 15%", "lay_dev_acc@1": 0.43}], "steps": 400,
             "format": "fp32-torch", "paired": {"HPO + MeSH 15%": {"only_a": 3, "only_b": 1, "p": 0.625}},
             "correlations": {"lay-term dev slice (a)": {"spearman": 0.5, "p": 0.14, "n": 2,
                                                         "chooses": "HPO + MeSH 15%"}},
             "choice": {"proxy": "lay-term dev slice (a)", "variant": "HPO + MeSH 15%"}}
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    train.main([str(tmp_path / "sweep.json")])
    out = capsys.readouterr().out
    assert out.startswith("400 steps per variant; test part: 10 lay terms")
    assert "3 / 1, p = 0.625" in out and "| HPO + MeSH 15% |" in out.replace("  ", " ").replace("  ", " ")
    assert "Chosen on **lay-term dev slice (a)**: HPO + MeSH 15%." in out


def _run(path, ids, ranks):
    pd.DataFrame({"source_id": ids, "source_text": [f"t{i}" for i in range(len(ids))], "gold_rank": ranks}).to_csv(
        path, index=False)
    return path


def test_two_alignment_runs_are_compared_term_by_term(tmp_path, capsys):
    ids = [f"HPOLAY:{i:05d}" for i in range(6)]
    a = _run(tmp_path / "a.csv", ids, [1, 1, 1, 2, 1, 3])
    b = _run(tmp_path / "b.csv", ids[::-1], [1, 1, 5, 1, 2, 1][::-1])     # another row order: paired by id
    r = train.runs_mcnemar(a, b)
    assert (r["only A right"], r["only B right"], r["n"]) == (2, 2, 6) and r["Acc@1 A"] == pytest.approx(4 / 6)
    many = [f"HPOLAY:{i:05d}" for i in range(20)]
    e, f = _run(tmp_path / "e.csv", many, [1] * 20), _run(tmp_path / "f.csv", many, [2] * 20)
    train.main(["--compare", str(e), str(f)])
    out = capsys.readouterr().out
    assert "only A right" in out and "| 1.91e-06 " in out   # 20 vs 0 discordant terms: p not rounded to 0
    with pytest.raises(ValueError, match="do not hold the same lay terms"):
        train.runs_mcnemar(a, _run(tmp_path / "c.csv", ids[:5] + ["HPOLAY:99999"], [1] * 6))
    with pytest.raises(ValueError, match=r"d.csv, line 3, field 'gold_rank': not a number \('x'\)"):
        train.runs_mcnemar(a, _run(tmp_path / "d.csv", ids, ["1", "x", "1", "1", "1", "1"]))
    with pytest.raises(FileNotFoundError, match="no such file"):
        train.runs_mcnemar(a, tmp_path / "missing.csv")
