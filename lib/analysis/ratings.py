"""Six-point ratings of alignments from the HPO is-a graph, expert-rating import, model complementarity.

The paper has experts rate every alignment 0-5 and publishes no gold standard; without experts we rate
each (gold term, predicted term) pair from the ontology itself, with a scale whose steps follow is-a
distance, and let real expert ratings (CSV ``source,target,rating``) replace the automatic ones.

Scale (``RATING_SCALE``), first rule that applies wins:

* 5 same concept (same HPO id, or same UMLS CUI);
* 4 parent or child (one is-a edge);
* 3 sibling (a shared parent) or grandparent / grandchild (two is-a edges in one direction);
* 2 related: within 4 is-a edges, either direction (distance 3-4, or 2 through a shared child),
  not counting paths through the root or "Phenotypic abnormality";
* 1 same top-level branch (same child of "Phenotypic abnormality", HP:0000118, among the ancestors);
* 0 unrelated.

The complementarity part compares two models' main alignment tables (04-align) source by source.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.stats import norm, zscore

from lib import results
from lib.data.textio import open_text
from lib.errors import DataFormatError

RATING_SCALE: dict[int, str] = {
    5: "same concept",
    4: "parent or child",
    3: "sibling or grandparent",
    2: "within 4 is-a steps",
    1: "same top-level branch",
    0: "unrelated",
}


PHENOTYPIC_ABNORMALITY = "HP:0000118"


ID_SEPARATORS = ("|", ";", ",")


# ---------------------------------------------------------------------------------------------
# The is-a graph


def _as_list(value) -> list[str]:
    """Parents / ids stored as a list, a tuple, a ``|``-joined string or missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    for sep in ID_SEPARATORS:
        if sep in text:
            return [t.strip() for t in text.split(sep) if t.strip()]
    return [text] if text else []


@dataclass
class IsAGraph:
    """HPO terms with parent sets, an undirected adjacency matrix and each term's top-level branches."""

    ids: list[str]
    index: dict[str, int]
    parents: dict[str, frozenset[str]]
    adjacency: sparse.csr_matrix
    branches: dict[str, frozenset[str]] = field(default_factory=dict)
    blocked: frozenset[str] = frozenset()  # root(s) and "Phenotypic abnormality": too general to relate

    def grandparents(self, term: str) -> set[str]:
        return {g for p in self.parents.get(term, ()) for g in self.parents.get(p, ())} - self.blocked


def build_graph(terms: pd.DataFrame, top: str = PHENOTYPIC_ABNORMALITY) -> IsAGraph:
    """Graph from ``HpoData.terms`` (columns ``hpo_id`` and ``parents``).

    Top-level branches are the children of ``top`` when it is in the graph, else children of the roots.
    """
    ids = [str(i) for i in terms["hpo_id"]]
    index = {t: i for i, t in enumerate(ids)}
    parents = {t: frozenset(p for p in _as_list(ps) if p in index)
               for t, ps in zip(ids, terms["parents"])}
    # Paths through the root(s) or "Phenotypic abnormality" link everything to everything: not counted.
    blocked = {t for t in ids if not parents[t]} | {top}
    edges = [(index[c], index[p]) for c, ps in parents.items() for p in ps
             if c not in blocked and p not in blocked]
    rows, cols = [e[0] for e in edges], [e[1] for e in edges]
    n = len(ids)
    adj = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    adj = ((adj + adj.T) > 0).astype(np.float64).tocsr()
    children: dict[str, set[str]] = {}
    for c, ps in parents.items():
        for p in ps:
            children.setdefault(p, set()).add(c)
    if top in index:
        tops = children.get(top, set())
    else:
        tops = {c for r in ids if not parents[r] for c in children.get(r, set())}
    return IsAGraph(ids, index, parents, adj, _branches(ids, parents, tops), frozenset(blocked))


def _branches(ids: Sequence[str], parents: dict[str, frozenset[str]], tops: set[str]) -> dict[str, frozenset[str]]:
    """Top-level branch(es) of every term: the members of ``tops`` among its ancestors (or itself)."""
    memo: dict[str, frozenset[str]] = {}

    def visit(term: str) -> frozenset[str]:
        # iterative DFS (HPO is ~15 levels deep, but a recursion limit is not worth the risk)
        stack = [term]
        while stack:
            t = stack[-1]
            if t in memo:
                stack.pop()
                continue
            todo = [p for p in parents.get(t, ()) if p not in memo]
            if todo:
                stack.extend(todo)
                continue
            own = frozenset({t}) if t in tops else frozenset()
            memo[t] = own.union(*(memo[p] for p in parents.get(t, ())))
            stack.pop()
        return memo[term]

    return {t: visit(t) for t in ids}


def isa_distance(graph: IsAGraph, a: str, b: str, limit: int = 4) -> float:
    """Undirected is-a path length between two terms (inf beyond ``limit``)."""
    if a == b:
        return 0.0
    dist = dijkstra(graph.adjacency, directed=False, indices=graph.index[a], unweighted=True, limit=limit + 0.5)
    return float(dist[graph.index[b]])


def rate_terms(graph: IsAGraph, gold: str, pred: str) -> int:
    """Rating 0-5 of one predicted HPO term against one gold term (see the module's scale)."""
    if gold == pred:
        return 5
    if gold not in graph.index or pred not in graph.index:
        raise KeyError(f"term not in the ontology: {gold if gold not in graph.index else pred}")
    pg, pp = graph.parents[gold], graph.parents[pred]
    if pred in pg or gold in pp:
        return 4
    if (pg & pp) - graph.blocked or pred in graph.grandparents(gold) or gold in graph.grandparents(pred):
        return 3
    if isa_distance(graph, gold, pred, limit=4) <= 4:
        return 2
    if graph.branches.get(gold, frozenset()) & graph.branches.get(pred, frozenset()):
        return 1
    return 0


def rate_row(graph: IsAGraph, gold_hpo, pred_hpo, gold_cui=None, pred_cui=None) -> float:
    """Best rating over every gold x predicted id (a CUI may map to several HPO terms); NaN if unratable."""
    gcuis, pcuis = set(_as_list(gold_cui)), set(_as_list(pred_cui))
    if gcuis & pcuis:
        return 5.0
    golds = [g for g in _as_list(gold_hpo) if g in graph.index]
    preds = [p for p in _as_list(pred_hpo) if p in graph.index]
    if not golds or not preds:
        return float("nan")
    return float(max(rate_terms(graph, g, p) for g in golds for p in preds))


def rate_alignments(table: pd.DataFrame, graph: IsAGraph) -> pd.Series:
    """Automatic rating of every row of a 04-align main table (NaN where gold or prediction has no HPO id)."""
    get = lambda col: table[col] if col in table else pd.Series([None] * len(table), index=table.index)  # noqa: E731
    vals = [rate_row(graph, g, p, gc, pc) for g, p, gc, pc in
            zip(get("gold_hpo"), get("pred_hpo"), get("gold_cui"), get("pred_cui"))]
    return pd.Series(vals, index=table.index, name="rating", dtype=float)


# ---------------------------------------------------------------------------------------------
# Expert ratings (CSV: source,target,rating)


EXPERT_COLUMNS = ("source", "target", "rating")


def read_expert_ratings(path: str | Path) -> pd.DataFrame:
    """Validated expert ratings; every problem names the file, the line and the field.

    Read through :func:`lib.data.textio.open_text`: a spreadsheet saved as latin-1 is a
    DataFormatError naming the line and byte (not a bare UnicodeDecodeError); BOM and gzip are fine.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, "expert-ratings file does not exist")
    rows: dict[tuple[str, str], tuple[int, int]] = {}
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in EXPERT_COLUMNS if c not in header]
        if missing:
            raise DataFormatError(path, f"missing column(s) {missing}; expected header "
                                        f"{','.join(EXPERT_COLUMNS)} (got {header})", line=1, field=missing[0])
        reader.fieldnames = header
        for rec in reader:
            line = reader.line_num
            if None in rec or any(rec.get(c) is None for c in EXPERT_COLUMNS):
                raise DataFormatError(path, f"expected {len(header)} fields", line=line)
            src, tgt, raw = (rec[c].strip() for c in EXPERT_COLUMNS)
            for col, val in (("source", src), ("target", tgt), ("rating", raw)):
                if not val:
                    raise DataFormatError(path, "empty value", line=line, field=col)
            try:
                rating = int(raw)
            except ValueError:
                raise DataFormatError(path, f"rating must be an integer 0-5, got {raw!r}",
                                      line=line, field="rating") from None
            if not 0 <= rating <= 5:
                raise DataFormatError(path, f"rating must be between 0 and 5, got {rating}",
                                      line=line, field="rating")
            prev = rows.get((src, tgt))
            if prev is not None and prev[0] != rating:
                raise DataFormatError(path, f"conflicting rating for ({src!r}, {tgt!r}): {prev[0]} on line "
                                            f"{prev[1]}", line=line, field="rating")
            rows[(src, tgt)] = (rating, line)
    return pd.DataFrame([(s, t, r, ln) for (s, t), (r, ln) in rows.items()],
                        columns=["source", "target", "rating", "line"])


def apply_expert_ratings(table: pd.DataFrame, experts: pd.DataFrame,
                         source_cols: Sequence[str] = ("source_id", "source_text"),
                         target_cols: Sequence[str] = ("pred_hpo", "pred_cui", "pred_str"),
                         ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Replace automatic ratings by expert ones where (source, target) matches a row.

    ``source`` may name a row by its id or text, ``target`` the predicted HPO id, CUI or string.
    Returns the table with ``rating`` and ``rating_source`` (auto / expert) and counts: rows replaced,
    expert rows that matched no alignment (reported, never silently dropped).
    """
    out = table.copy()
    if "rating_source" not in out:
        out["rating_source"] = "auto"
    lookup = {(s, t): r for s, t, r in experts[["source", "target", "rating"]].itertuples(index=False)}
    used: set[tuple[str, str]] = set()
    new = out["rating"].to_numpy(dtype=float, copy=True)
    src_kind = out["rating_source"].to_numpy(dtype=object, copy=True)
    scols = [c for c in source_cols if c in out]
    tcols = [c for c in target_cols if c in out]
    for i, rec in enumerate(out[scols + tcols].astype(str).to_dict("records")):
        keys = [(rec[s], rec[t]) for s in scols for t in tcols]
        hit = next((k for k in keys if k in lookup), None)
        if hit is not None:
            new[i], src_kind[i] = lookup[hit], "expert"
            used.add(hit)
    out["rating"], out["rating_source"] = new, src_kind
    stats = {"expert_rows": len(lookup), "replaced": int((src_kind == "expert").sum()),
             "unmatched_expert_rows": len(set(lookup) - used)}
    return out, stats


def rating_counts(ratings: Iterable[float]) -> dict[int, int]:
    """How many alignments got each rating 0-5 (NaN = unratable, counted apart by the caller)."""
    s = pd.Series(list(ratings), dtype=float).dropna().astype(int)
    return {r: int((s == r).sum()) for r in sorted(RATING_SCALE)}


# ---------------------------------------------------------------------------------------------
# Score distributions and complementarity of two models


def fit_gaussian(scores: Sequence[float]) -> tuple[float, float]:
    """Maximum-likelihood normal fit (scipy.stats.norm.fit) of alignment scores."""
    mu, sigma = norm.fit(np.asarray(scores, dtype=float))
    return float(mu), float(sigma)


def complementarity(a: pd.DataFrame, b: pd.DataFrame, key: str = "source_id") -> tuple[pd.DataFrame, dict]:
    """Where model A is right and B wrong (and vice versa), the oracle union and a score fusion.

    Fusion: each model's top-1 score is z-scored over its own sources (scores of different models live
    on different scales), and the prediction with the higher z wins. Both tables are 04-align main
    tables with ``correct`` and ``score``; they are joined on ``key``.
    """
    cols = [key, "correct", "score"] + [c for c in ("pred_hpo", "pred_cui", "pred_str") if c in a and c in b]
    m = a[cols].merge(b[cols], on=key, suffixes=("_a", "_b"), validate="one_to_one")
    ca, cb = m["correct_a"].astype(bool), m["correct_b"].astype(bool)
    za, zb = zscore(m["score_a"].to_numpy(float)), zscore(m["score_b"].to_numpy(float))
    za, zb = np.nan_to_num(za), np.nan_to_num(zb)  # constant scores (z = NaN): no preference
    pick_a = za >= zb
    m["z_a"], m["z_b"], m["fusion_pick"] = za, zb, np.where(pick_a, "a", "b")
    m["fusion_correct"] = np.where(pick_a, ca, cb)
    m["category"] = np.select([ca & cb, ca & ~cb, ~ca & cb], ["both right", "only A right", "only B right"],
                              "both wrong")
    n = len(m)
    summary = {
        "n": n,
        "both_right": int((ca & cb).sum()), "only_a": int((ca & ~cb).sum()),
        "only_b": int((~ca & cb).sum()), "both_wrong": int((~ca & ~cb).sum()),
        "acc_a": float(ca.mean()) if n else float("nan"),
        "acc_b": float(cb.mean()) if n else float("nan"),
        "oracle": float((ca | cb).mean()) if n else float("nan"),
        "fusion": float(m["fusion_correct"].mean()) if n else float("nan"),
        "lost_a": len(a) - n, "lost_b": len(b) - n,
    }
    return m, summary


def pair_second_model(name: str, requested: str, with_alignment: Sequence[str],
                      exclude: Sequence[str] = ("tiny",)) -> tuple[str | None, str]:
    """The model to compare ``name`` with in Figure 5c, and a sentence saying why (printed and recorded).

    Complementarity of a model with itself is meaningless (every source is "both right" or "both
    wrong"), so the answer is never ``name``: the ``requested`` model if it is another one, else the
    first of ``with_alignment`` (params names with 04-align results, ``report.models_with_alignment()``)
    other than ``name`` and ``exclude`` (the test model), else None: the caller then skips 5c.
    """
    if requested and requested != name:
        return requested, f"second model: {requested} (requested)"
    why = f"second_model = {name!r} would compare {name} with itself; " if requested else ""
    others = [m for m in with_alignment if m != name and m not in exclude]
    if others:
        return others[0], why + f"second model: {others[0]} (first other model with 04-align results: {others})"
    return None, why + (f"Figure 5c needs two models and no model other than {name} has 04-align results: "
                        f"5c and the complementarity table are skipped (run 04-align for a second model, "
                        f"e.g. `make paper MODELS=\"{name} mpnet-base\"`)")


# ---------------------------------------------------------------------------------------------
# Notebook 08's study: every alignment table of the compared models rated, counted, fitted, compared


@dataclass
class RatingStudy:
    """The rated 04-align tables of one or two models (Figure 5a-c and 08's record)."""

    models: list[str]
    tables: dict[str, dict[str, pd.DataFrame]]        # model -> format -> 04-align main table
    rated: dict[tuple[str, str], pd.DataFrame]       # (model, format) -> table with rating, rating_source
    tiers: dict[str, str]
    labels: dict[str, str]
    expert_stats: pd.DataFrame | None = None


def rate_models(models: Sequence[str], graph: IsAGraph, expert_ratings: str | Path | None = None) -> RatingStudy:
    """Each model's 04-align tables (:func:`lib.results.alignment_tables`) rated automatically on the HPO
    is-a graph, then (``expert_ratings``) overridden by expert ratings where they cover a row."""
    records, tables = {}, {}
    for m in models:
        records[m], tables[m] = results.alignment_tables(m)
    rated = {(m, fmt): t.assign(rating=rate_alignments(t, graph), rating_source="auto")
             for m, by_fmt in tables.items() for fmt, t in by_fmt.items()}
    expert_stats = None
    if expert_ratings:
        experts, stats = read_expert_ratings(expert_ratings), []
        for key, t in rated.items():
            rated[key], s = apply_expert_ratings(t, experts)
            stats.append({"model": key[0], "format": key[1], **s})
        expert_stats = pd.DataFrame(stats)
    return RatingStudy(list(models), tables, rated, {m: r["data"].get("tier", "unknown") for m, r in records.items()},
                       {m: r.get("display_name", m) for m, r in records.items()}, expert_stats)


def rating_count_table(study: RatingStudy, format_label=str) -> tuple[pd.DataFrame, dict[str, int]]:
    """(Figure 5a's table: alignments per rating, one row per model and format; unratable rows per
    model/format). ``format_label`` names a format in row labels."""
    rows = {f"{study.labels[m]} | {format_label(fmt)}": rating_counts(t.rating) for (m, fmt), t in study.rated.items()}
    unratable = {f"{m}/{fmt}": int(t.rating.isna().sum()) for (m, fmt), t in study.rated.items()}
    return pd.DataFrame.from_dict(rows, orient="index")[sorted(RATING_SCALE)], unratable


def score_gaussians(study: RatingStudy) -> tuple[dict[str, tuple[float, float]], pd.DataFrame, dict]:
    """Figure 5b: a normal fitted to each model/format's alignment scores. Returns (fits by
    ``model/format``, the table of mu / sigma / n, the figure's panels by model)."""
    fits = {f"{m}/{fmt}": fit_gaussian(t.score) for (m, fmt), t in study.rated.items()}
    table = pd.DataFrame([{"model": m, "format": fmt, "mu": fits[f"{m}/{fmt}"][0], "sigma": fits[f"{m}/{fmt}"][1],
                           "n": len(t)} for (m, fmt), t in study.rated.items()])
    panels = {f"{study.labels[m]} ({study.tiers[m]} tier)": {
        f: (study.rated[(m, f)].score.to_numpy(), fits[f"{m}/{f}"]) for f in study.tables[m]} for m in study.tables}
    return fits, table, panels


def complementarity_study(study: RatingStudy) -> tuple[dict[str, pd.DataFrame], dict[str, dict], pd.DataFrame]:
    """Figure 5c: the two models' correctness per shared format. Returns (merged rows by format, the
    summary by format, the summary table). Needs two models sharing a format."""
    ma, mb = study.models
    shared = [f for f in study.tables[ma] if f in study.tables[mb]]
    if not shared:
        raise ValueError(f"{ma} and {mb} share no format in 04-align; run both with the same `formats`")
    merged, summary = {}, {}
    for fmt in shared:
        merged[fmt], summary[fmt] = complementarity(study.tables[ma][fmt], study.tables[mb][fmt])
    return merged, summary, pd.DataFrame(summary).T


def result_metrics(study: RatingStudy, fits: Mapping[str, tuple[float, float]], comp: Mapping[str, dict]) -> dict:
    """The ``metrics`` block of notebook 08's record."""
    return {
        "models": study.models, "formats": {m: list(t) for m, t in study.tables.items()},
        "rating_scale": {str(k): v for k, v in RATING_SCALE.items()},
        "ratings": {f"{m}/{fmt}": {"counts": {str(k): v for k, v in rating_counts(t.rating).items()},
                                   "mean": float(t.rating.mean()), "unratable": int(t.rating.isna().sum()),
                                   "expert_rated": int((t.rating_source == "expert").sum())}
                    for (m, fmt), t in study.rated.items()},
        "gaussians": {k: {"mu": v[0], "sigma": v[1]} for k, v in fits.items()},
        "complementarity": dict(comp),
        "expert_ratings": study.expert_stats.to_dict("records") if study.expert_stats is not None else None,
    }
