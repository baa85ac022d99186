"""Training pairs for self-alignment (SapBERT) and definition grounding (BioLORD phase 1), by tier.

Every builder returns the one pair table, ``PAIR_COLUMNS``: ``anchor``, ``positive`` (both passed through
:func:`normalise`), ``concept`` (the id the two strings share; the sampler keeps one pair per concept in a
batch), ``kind`` (``synonym``, ``cross-lingual``, ``definition``, ``lay``) and ``source`` (``hpo``,
``hpo-fr``, ``mrconso``, ``hpo-lay``).

Leakage is handled in one place: :func:`drop_strings` removes every pair that holds a forbidden string
(the evaluated lay terms, the dev queries), compared after :func:`normalise`. :func:`embedded_training_set`
assembles the default run (HPO names + non-lay synonyms, optional French, definitions) with its dev split;
:func:`crossfit_folds` splits the lay terms by concept for the optional run that also trains on them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lib.data.hpo import HpoData
from lib.data.public import load_hpo_fr, load_hpo_fr_synonyms

log = logging.getLogger("lib.train.pairs")

PAIR_COLUMNS = ["anchor", "positive", "concept", "kind", "source"]
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower-case and collapse whitespace: SapBERT's string form, and the key of every leakage check.

    Unlike :func:`lib.text.normalise` punctuation is kept: "type-2" and "type 2" are different inputs to
    the model, and the issue defines leakage as equality after lower-casing and whitespace normalisation.
    """
    return _SPACES.sub(" ", text).strip().lower()


def empty_pairs() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=str) for c in PAIR_COLUMNS})


def _pair_indices(n: int, cap: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All unordered index pairs of ``n`` strings, or ``cap`` of them drawn without replacement."""
    i, j = np.triu_indices(n, 1)
    if cap is not None and len(i) > cap:
        pick = np.sort(rng.choice(len(i), cap, replace=False))
        i, j = i[pick], j[pick]
    return i, j


def concept_pairs(strings: pd.DataFrame, max_pairs_per_concept: int | None, seed: int = 0,
                  kind: str = "synonym", source: str = "hpo") -> pd.DataFrame:
    """SapBERT's construction over ``strings`` [concept, string]: normalise, dedupe within a concept, every
    unordered pair of a concept's strings, at most ``max_pairs_per_concept`` per concept (seeded sample).

    A concept left with one distinct string gives no pair (it has no positive).
    """
    if max_pairs_per_concept is not None and max_pairs_per_concept < 1:
        raise ValueError(f"max_pairs_per_concept must be >= 1 or None, got {max_pairs_per_concept}")
    rng = np.random.default_rng(seed)
    s = pd.DataFrame({"concept": strings["concept"].astype(str),
                      "string": strings["string"].astype(str).map(normalise)})
    s = s[s.string != ""].drop_duplicates().sort_values(["concept", "string"], kind="stable")
    rows: list[tuple[str, str, str]] = []
    for concept, group in s.groupby("concept", sort=True):
        values = group.string.to_numpy()
        i, j = _pair_indices(len(values), max_pairs_per_concept, rng)
        rows.extend(zip(values[i], values[j], [concept] * len(i)))
    out = pd.DataFrame(rows, columns=["anchor", "positive", "concept"]) if rows else empty_pairs()
    out["kind"], out["source"] = kind, source
    return out[PAIR_COLUMNS].reset_index(drop=True)


def cross_pairs(left: pd.DataFrame, right: pd.DataFrame, max_pairs_per_concept: int | None, seed: int = 0,
                kind: str = "cross-lingual", source: str = "hpo-fr") -> pd.DataFrame:
    """Pairs (left string, right string) of one concept, from two tables [concept, string] (e.g. English
    and French, or strings and definitions): the product per concept, normalised, deduped, at most
    ``max_pairs_per_concept`` per concept (seeded sample)."""
    rng = np.random.default_rng(seed)
    def norm(df: pd.DataFrame) -> pd.DataFrame:
        d = pd.DataFrame({"concept": df["concept"].astype(str), "string": df["string"].astype(str).map(normalise)})
        return d[d.string != ""].drop_duplicates()
    both = norm(left).merge(norm(right), on="concept", suffixes=("_l", "_r"))
    both = both[both.string_l != both.string_r].sort_values(["concept", "string_l", "string_r"], kind="stable")
    if max_pairs_per_concept is not None:
        keep = []
        for _, group in both.groupby("concept", sort=True):
            idx = group.index.to_numpy()
            keep.append(idx if len(idx) <= max_pairs_per_concept
                        else np.sort(rng.choice(idx, max_pairs_per_concept, replace=False)))
        both = both.loc[np.concatenate(keep)] if keep else both.iloc[:0]
    out = both.rename(columns={"string_l": "anchor", "string_r": "positive"})
    out["kind"], out["source"] = kind, source
    return out[PAIR_COLUMNS].reset_index(drop=True)


def drop_strings(pairs: pd.DataFrame, forbidden: Iterable[str]) -> tuple[pd.DataFrame, int]:
    """Pairs holding no forbidden string (compared after :func:`normalise`), and how many were dropped."""
    banned = {normalise(s) for s in forbidden}
    hit = pairs.anchor.map(normalise).isin(banned) | pairs.positive.map(normalise).isin(banned)
    return pairs[~hit].reset_index(drop=True), int(hit.sum())


def hpo_strings(hpo: HpoData) -> pd.DataFrame:
    """[concept, string, is_name] for every live HPO term: its name and its non-lay synonyms.

    ``HpoData.terms.synonyms`` already excludes every synonym typed ``layperson``, whatever its scope.
    """
    names = pd.DataFrame({"concept": hpo.terms.hpo_id, "string": hpo.terms.name, "is_name": True})
    syn = hpo.terms[["hpo_id", "synonyms"]].explode("synonyms").dropna()
    syns = pd.DataFrame({"concept": syn.hpo_id, "string": syn.synonyms, "is_name": False})
    return pd.concat([names, syns], ignore_index=True)


def lay_strings(hpo: HpoData) -> list[str]:
    """The evaluated lay terms of the embedded tier (the lexicon's ``Terme``: EXACT layperson synonyms)."""
    return hpo.lexicon["Terme"].tolist()


def dev_split(strings: pd.DataFrame, n_concepts: int, forbidden: Iterable[str], seed: int = 0) -> pd.DataFrame:
    """The dev set for model selection: ``n_concepts`` concepts (seeded) whose non-lay synonyms are held out
    of training, as [query, concept] for synonym -> concept retrieval.

    Queries are the synonyms that differ from the concept's name after :func:`normalise` (an identical one
    would be retrieved trivially) and that are not forbidden (evaluated lay strings never serve as queries).
    """
    banned = {normalise(s) for s in forbidden}
    s = strings.assign(norm=strings.string.map(normalise))
    name_of = s[s.is_name].drop_duplicates("concept").set_index("concept").norm
    syn = s[~s.is_name & ~s.norm.isin(banned)]
    syn = syn[syn.norm != syn.concept.map(name_of)].drop_duplicates(["concept", "norm"])
    eligible = np.array(sorted(syn.concept.unique()))
    if n_concepts > len(eligible):
        raise ValueError(f"dev set of {n_concepts} concepts asked, only {len(eligible)} have a usable synonym")
    chosen = set(np.random.default_rng(seed).choice(eligible, n_concepts, replace=False))
    dev = syn[syn.concept.isin(chosen)]
    return pd.DataFrame({"query": dev.norm, "concept": dev.concept}).sort_values(["concept", "query"]).reset_index(
        drop=True)


@dataclass
class TrainingSet:
    """The default run's pairs, the dev queries held out of them, and the counts of each step."""

    pairs: pd.DataFrame
    dev: pd.DataFrame
    counts: dict = field(default_factory=dict)
    strings: pd.DataFrame | None = None  # [concept, string, is_name] the dev corpus is drawn from


def embedded_training_set(hpo: HpoData, max_pairs_per_concept: int | None = 50, dev_concepts: int = 300,
                          french: bool = False, definitions: bool = True, seed: int = 0) -> TrainingSet:
    """Pairs of the default run on the embedded tier (no lay term), with the dev split held out.

    Self-alignment pairs come from each term's name and non-lay synonyms; definition pairs pair each of
    those strings with the term's ``def:`` text; French labels/synonyms (public tier, ``french=True``)
    pair with the English strings. Dev concepts keep their name (and its definition / French pairs) but
    lose their synonyms. Every pair holding an evaluated lay string or a dev query is then dropped.
    """
    strings = hpo_strings(hpo)
    lay = lay_strings(hpo)
    dev = dev_split(strings, dev_concepts, lay, seed)
    dev_keys = set(dev.concept + "\t" + dev["query"])
    held = (strings.concept + "\t" + strings.string.map(normalise)).isin(dev_keys) & ~strings.is_name
    train = strings[~held]
    parts = [concept_pairs(train, max_pairs_per_concept, seed, "synonym", "hpo")]
    if definitions:
        defs = hpo.terms.loc[hpo.terms.definition != "", ["hpo_id", "definition"]]
        defs = defs.rename(columns={"hpo_id": "concept", "definition": "string"})
        parts.append(cross_pairs(train, defs, max_pairs_per_concept, seed, "definition", "hpo"))
    if french:
        parts.append(cross_pairs(train, french_strings(), max_pairs_per_concept, seed, "cross-lingual", "hpo-fr"))
    pairs = pd.concat(parts, ignore_index=True)
    built = len(pairs)
    pairs, n_lay = drop_strings(pairs, lay)
    pairs, n_dev = drop_strings(pairs, dev["query"])
    counts = {"concepts": len(hpo.terms), "names": int(strings.is_name.sum()),
              "nonlay_synonyms": int((~strings.is_name).sum()), "lay_terms": len(lay),
              "dev_concepts": int(dev.concept.nunique()), "dev_queries": len(dev),
              "dev_synonyms_held_out": int(held.sum()), "pairs_built": built,
              "pairs_dropped_lay": n_lay, "pairs_dropped_dev": n_dev, "pairs": len(pairs),
              "pairs_by_kind": pairs.kind.value_counts().sort_index().to_dict(),
              "concepts_with_pairs": int(pairs.concept.nunique())}
    log.info("embedded training set: %s", counts)
    return TrainingSet(pairs, dev, counts, strings[~held].reset_index(drop=True))


def french_strings() -> pd.DataFrame:
    """[concept, string] of the HPO French labels and synonyms (public tier; fetched or mirrored)."""
    labels = load_hpo_fr().rename(columns={"hpo_id": "concept", "label_fr": "string"})
    syns = load_hpo_fr_synonyms().rename(columns={"hpo_id": "concept", "synonym_fr": "string"})
    return pd.concat([labels[["concept", "string"]], syns[["concept", "string"]]], ignore_index=True)


def mrconso_pairs(mrconso: pd.DataFrame, max_pairs_per_concept: int | None = 50, seed: int = 0) -> pd.DataFrame:
    """The licensed tier: MRCONSO strings grouped by CUI, SapBERT's construction (:func:`concept_pairs`).

    Filter languages, sources and suppressible rows when reading (``lib.data.umls.read_mrconso``); drop
    the lay lexicon's strings afterwards with :func:`drop_strings`.
    """
    strings = pd.DataFrame({"concept": mrconso["CUI"].astype(str), "string": mrconso["STR"].astype(str)})
    return concept_pairs(strings, max_pairs_per_concept, seed, "synonym", "mrconso")


def crossfit_folds(lexicon: pd.DataFrame, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold of each lay term, split by concept: terms linked by a shared gold concept, or by the same
    string after :func:`normalise`, always share a fold, so a fold's model never saw a lay term of a
    concept it scores. Linked groups are shuffled (seeded) and dealt to the lightest fold, largest first.
    """
    gold = lexicon["gold_hpos"].map(lambda g: (g,) if isinstance(g, str) else tuple(g))
    norm = lexicon["Terme"].map(normalise)
    nodes = {k: i for i, k in enumerate(pd.unique(pd.concat([norm.map("s:{}".format),
                                                             gold.explode().map("c:{}".format)])))}
    row_node = norm.map(lambda s: nodes[f"s:{s}"]).to_numpy()
    src, dst = [], []
    for r, golds in enumerate(gold):
        for g in golds:
            src.append(row_node[r])
            dst.append(nodes[f"c:{g}"])
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(len(nodes), len(nodes)))
    _, component = connected_components(graph, directed=False)
    comp = component[row_node]
    sizes = pd.Series(comp).value_counts()
    order = sizes.index.to_numpy()[np.random.default_rng(seed).permutation(len(sizes))]
    order = sorted(order, key=lambda c: -sizes[c])  # stable: seeded order among equal sizes
    load, fold_of = np.zeros(n_folds, dtype=int), {}
    for c in order:
        f = int(np.argmin(load))
        fold_of[c] = f
        load[f] += sizes[c]
    return np.array([fold_of[c] for c in comp])


def lay_pairs(hpo: HpoData, lexicon: pd.DataFrame) -> pd.DataFrame:
    """(lay term, name of its gold term) for the cross-fitted run; a term listed under several HPO terms
    pairs with its first (``gold_hpo``), so one string never carries two labels in a batch."""
    names = dict(zip(hpo.terms.hpo_id, hpo.terms.name))
    out = pd.DataFrame({"anchor": lexicon["Terme"].map(normalise), "positive": lexicon["gold_hpo"].map(names),
                        "concept": lexicon["gold_hpo"], "kind": "lay", "source": "hpo-lay"})
    out = out.dropna(subset=["positive"])
    out["positive"] = out.positive.map(normalise)
    return out[out.anchor != out.positive][PAIR_COLUMNS].reset_index(drop=True)


def crossfit_training_pairs(default_pairs: pd.DataFrame, hpo: HpoData, folds: np.ndarray, fold: int) -> pd.DataFrame:
    """Training pairs of one cross-fit fold: the default pairs plus the lay pairs of every *other* fold;
    the fold's own lay terms are what its model scores."""
    lexicon = hpo.lexicon
    other = lay_pairs(hpo, lexicon[folds != fold])
    other, _ = drop_strings(other, lexicon.loc[folds == fold, "Terme"])  # a shared string stays unseen
    return pd.concat([default_pairs, other], ignore_index=True)


def mrconso_training_set(mrconso: pd.DataFrame, forbidden: Iterable[str], max_pairs_per_concept: int | None = 50,
                         dev_concepts: int = 300, seed: int = 0) -> TrainingSet:
    """The licensed tier's run: MRCONSO strings grouped by CUI, a dev split of held-out strings (the
    concept's preferred string, ``ISPREF=Y`` on a ``TS=P`` row, plays the name), forbidden strings (the
    evaluated lay terms) dropped."""
    preferred = (mrconso["ISPREF"].astype(str) == "Y") & (mrconso["TS"].astype(str) == "P")
    strings = pd.DataFrame({"concept": mrconso["CUI"].astype(str).to_numpy(),
                            "string": mrconso["STR"].astype(str).to_numpy(), "is_name": preferred.to_numpy()})
    forbidden = list(forbidden)
    dev = dev_split(strings, dev_concepts, forbidden, seed)
    held = (strings.concept + "\t" + strings.string.map(normalise)).isin(set(dev.concept + "\t" + dev["query"])) \
        & ~strings.is_name
    pairs = concept_pairs(strings[~held], max_pairs_per_concept, seed, "synonym", "mrconso")
    built = len(pairs)
    pairs, n_lay = drop_strings(pairs, forbidden)
    pairs, n_dev = drop_strings(pairs, dev["query"])
    counts = {"concepts": int(strings.concept.nunique()), "strings": len(strings),
              "dev_concepts": int(dev.concept.nunique()), "dev_queries": len(dev), "pairs_built": built,
              "pairs_dropped_lay": n_lay, "pairs_dropped_dev": n_dev, "pairs": len(pairs),
              "pairs_by_kind": pairs.kind.value_counts().sort_index().to_dict(),
              "concepts_with_pairs": int(pairs.concept.nunique())}
    log.info("MRCONSO training set: %s", counts)
    return TrainingSet(pairs, dev, counts, strings[~held].reset_index(drop=True))


def training_set(P) -> TrainingSet:
    """The pairs and dev split of a params file's ``training`` recipe (corpus, OBO file, French, caps).

    The forbidden strings are every lay term that could be evaluated: the OBO's layperson synonyms and,
    when params name one, the licensed lay lexicon's terms.
    """
    from lib import paths
    from lib.data.hpo import load_hpo
    from lib.data.lexicon import read_lexicon

    T = P.training
    hpo = load_hpo(str(paths.project_path(T.obo)) if T.obo else None)
    extra = read_lexicon(paths.project_path(P.lay_lexicon))["Terme"].tolist() if P.lay_lexicon else []
    if T.corpus == "mrconso":
        from lib.data.umls import read_mrconso
        if not P.umls_mrconso:
            raise ValueError(f"params/{P.name}.yaml: training corpus mrconso needs umls_mrconso")
        mrconso = read_mrconso(paths.project_path(P.umls_mrconso), P.umls_languages, P.umls_sources)
        return mrconso_training_set(mrconso, lay_strings(hpo) + extra, T.max_pairs_per_concept, T.dev_concepts,
                                    P.seed)
    ts = embedded_training_set(hpo, T.max_pairs_per_concept, T.dev_concepts, french=T.french,
                               definitions=T.definitions != "none", seed=P.seed)
    if extra:
        ts.pairs, n = drop_strings(ts.pairs, extra)
        ts.counts["pairs_dropped_lexicon"] = n
        ts.counts["pairs"] = len(ts.pairs)
    if T.crossfit_folds is not None:  # concept-disjoint supervised: + the lay terms of the other folds
        folds = crossfit_folds(hpo.lexicon, T.crossfit_folds, P.seed)
        before = len(ts.pairs)
        ts.pairs = crossfit_training_pairs(ts.pairs, hpo, folds, T.crossfit_fold)
        ts.counts.update(crossfit_folds=T.crossfit_folds, crossfit_fold=T.crossfit_fold,
                         lay_pairs=len(ts.pairs) - before, pairs=len(ts.pairs),
                         lay_terms_scored=int((folds == T.crossfit_fold).sum()))
    return ts
