"""Training pairs for self-alignment (SapBERT) and definition grounding (BioLORD phase 1), by tier.

Every builder returns the one pair table, ``PAIR_COLUMNS``: ``anchor``, ``positive`` (both in the model's
input form, :func:`normalise`), ``concept`` (the label the two strings share: after the cross-ontology
merge, one label per real concept; the sampler keeps one pair per label in a batch), ``kind`` (``synonym``,
``cross-lingual``, ``definition``, ``lay``) and ``source`` (``hpo``, ``mondo``, ``mesh``, ``hpo-fr``,
``mrconso``, ``hpo-lay``).

Strings are compared in one way only, :func:`lib.text.match_key` (case, punctuation, hyphens and spaces
ignored): dedupe within a concept, the leakage filter :func:`drop_strings` (no evaluated lay term, no dev
query, no dev definition in any pair of any corpus), the dev split and the merge of concepts that share a
string across ontologies (:func:`merge_concepts`, union-find over strings with generic glue cut).
:func:`corpus_training_set` assembles a run from its corpora (HPO, MONDO, MeSH disease entry terms), each
with its own builder under SapBERT's construction and a sampling share; :func:`crossfit_folds` splits the
lay terms by concept for the optional run that also trains on them.
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
from lib.text import match_key

log = logging.getLogger("lib.train.pairs")

PAIR_COLUMNS = ["anchor", "positive", "concept", "kind", "source"]
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower-case and collapse whitespace: SapBERT's string form, what the model is fed in training.

    Punctuation is kept here because "type-2" is what the model reads at inference too; strings are
    *compared* only by :func:`lib.text.match_key`, which ignores it.
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
    Two strings with one :func:`lib.text.match_key` are one string (the first in sorted order is kept).

    A concept left with one distinct string gives no pair (it has no positive).
    """
    if max_pairs_per_concept is not None and max_pairs_per_concept < 1:
        raise ValueError(f"max_pairs_per_concept must be >= 1 or None, got {max_pairs_per_concept}")
    rng = np.random.default_rng(seed)
    s = pd.DataFrame({"concept": strings["concept"].astype(str),
                      "string": strings["string"].astype(str).map(normalise)})
    s = s[s.string != ""].sort_values(["concept", "string"], kind="stable")
    s = s[~pd.Series(list(zip(s.concept, s.string.map(match_key))), index=s.index).duplicated()]
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
    both = both[both.string_l.map(match_key) != both.string_r.map(match_key)]
    both = both.sort_values(["concept", "string_l", "string_r"], kind="stable")
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
    """Pairs holding no forbidden string (compared by :func:`lib.text.match_key`), and how many were dropped."""
    banned = {match_key(s) for s in forbidden}
    hit = pairs.anchor.map(match_key).isin(banned) | pairs.positive.map(match_key).isin(banned)
    return pairs[~hit].reset_index(drop=True), int(hit.sum())


def _looser_drops(pairs: pd.DataFrame, forbidden: Iterable[str]) -> int:
    """How many pairs the former filter (case and spaces only) would have dropped: the stricter one's gain
    is reported beside it."""
    banned = {normalise(s) for s in forbidden}
    return int((pairs.anchor.map(normalise).isin(banned) | pairs.positive.map(normalise).isin(banned)).sum())


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

    Queries are the synonyms that differ from the concept's name under :func:`lib.text.match_key` (an
    identical one would be retrieved trivially) and that are not forbidden (evaluated lay strings never serve as
    queries).
    """
    banned = {match_key(s) for s in forbidden}
    s = strings.assign(norm=strings.string.map(normalise), key=strings.string.map(match_key))
    name_of = s[s.is_name].drop_duplicates("concept").set_index("concept").key
    syn = s[~s.is_name & ~s.key.isin(banned)]
    syn = syn[syn.key != syn.concept.map(name_of)].drop_duplicates(["concept", "key"])
    eligible = np.array(sorted(syn.concept.unique()))
    if n_concepts > len(eligible):
        raise ValueError(f"dev set of {n_concepts} concepts asked, only {len(eligible)} have a usable synonym")
    chosen = set(np.random.default_rng(seed).choice(eligible, n_concepts, replace=False))
    dev = syn[syn.concept.isin(chosen)]
    return pd.DataFrame({"query": dev.norm, "concept": dev.concept}).sort_values(["concept", "query"]).reset_index(
        drop=True)


@dataclass
class TrainingSet:
    """A run's pairs, the dev queries held out of them, and the counts of each step."""

    pairs: pd.DataFrame
    dev: pd.DataFrame
    counts: dict = field(default_factory=dict)
    strings: pd.DataFrame | None = None  # [concept, string, is_name] the dev corpus is drawn from
    dev_definitions: pd.DataFrame | None = None  # [query, concept]: the dev concepts' definitions (held out)


def mondo_strings(terms: pd.DataFrame) -> pd.DataFrame:
    """[concept, string, is_name] of the active MONDO terms: label and every synonym (MONDO does not type
    them; lay forms among them are removed by the leakage filter, not here)."""
    names = pd.DataFrame({"concept": terms.mondo_id, "string": terms.label, "is_name": True})
    syn = terms[["mondo_id", "synonyms"]].explode("synonyms").dropna()
    syns = pd.DataFrame({"concept": syn.mondo_id, "string": syn.synonyms, "is_name": False})
    return pd.concat([names, syns], ignore_index=True)


def entry_terms(variants: list[str]) -> list[str]:
    """A MeSH descriptor's variants without the generated forms: a plural (``+s`` / ``+es``) whose singular
    is also a variant, and an inverted ``"X, Y"`` whose ``"Y X"`` is also one (SapBERT's construction
    would otherwise spend the concept's pair cap on near-copies)."""
    have = set(variants)

    def generated(v: str) -> bool:
        plural = (v.endswith("s") and v[:-1] in have) or (v.endswith("es") and v[:-2] in have)
        head, sep, tail = v.partition(", ")
        return plural or bool(sep and f"{tail} {head}" in have)

    return [v for v in variants if not generated(v)]


def mesh_strings(terms: pd.DataFrame) -> pd.DataFrame:
    """[concept, string, is_name] of the MeSH disease descriptors: the heading and its entry terms (generated
    plurals and inversions dropped, :func:`entry_terms`); concepts are ``MESH:<descriptor id>``."""
    concept = "MESH:" + terms.mesh_id
    names = pd.DataFrame({"concept": concept, "string": terms.name, "is_name": True})
    entries = terms.variants.map(entry_terms)
    syn = pd.DataFrame({"concept": concept, "string": entries}).explode("string").dropna()
    return pd.concat([names, syn.assign(is_name=False)], ignore_index=True)


def merge_concepts(strings: pd.DataFrame, max_group: int = 10) -> tuple[pd.Series, dict]:
    """One label per real concept: concepts of *different* ontologies that share a string under
    :func:`lib.text.match_key` are merged (union-find over strings, as connected components of the
    concept-string graph), so "myocardial infarction" (MONDO) and "heart attack" (MeSH) are never each
    other's negatives in the loss or the sampler.

    Generic glue is cut twice: a string that two concepts of one ontology share ("ASD" for an autistic
    behaviour and an atrial septal defect; "disease"; "syndrome") is ambiguous and links nothing; a group
    that chains two concepts of one ontology (each a distinct target there) or holds more than
    ``max_group`` concepts is split by removing its most shared strings until every part holds at most
    one concept per ontology.
    The ontology of a concept is its id's prefix (``HP``, ``MONDO``, ``MESH``). The label of a group is its
    smallest concept id (HPO's ``HP:`` sorts first). Returns the label of every concept and a report
    (merged concepts, groups, the largest, the strings cut).
    """
    s = pd.DataFrame({"concept": strings["concept"].astype(str), "key": strings["string"].astype(str).map(match_key)})
    s = s[s.key != ""].drop_duplicates()
    s["ontology"] = s.concept.str.split(":").str[0]
    concepts = np.array(sorted(s.concept.unique()))
    per_ontology = s.groupby(["key", "ontology"]).concept.nunique().groupby("key").max()
    ambiguous = per_ontology[per_ontology > 1]
    degree = s.groupby("key").concept.nunique()
    links = s[s.key.map(degree).ge(2) & ~s.key.isin(ambiguous.index)]

    def components(edges: pd.DataFrame, nodes: np.ndarray) -> np.ndarray:
        keys = pd.Index(edges.key.unique())
        n = len(nodes) + len(keys)
        local = pd.Series(np.arange(len(nodes)), index=nodes)
        src = local[edges.concept].to_numpy()
        dst = len(nodes) + keys.get_indexer(edges.key)
        graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
        return connected_components(graph, directed=False)[1][: len(nodes)]

    comp = components(links, concepts)
    label = pd.Series(concepts, index=concepts)
    split = 0
    groups = pd.Series(np.arange(len(concepts))).groupby(comp).indices
    linked = links.groupby(links.concept.map(pd.Series(comp, index=concepts))).indices
    stack = [(concepts[idx], links.iloc[linked[c]]) for c, idx in groups.items() if len(idx) > 1]
    while stack:  # each pass removes edges, so it ends
        members, edges = stack.pop()
        onto = pd.Series(members).str.split(":").str[0]
        if len(members) > max_group or onto.duplicated().any():  # cut its most shared strings, look again
            split += 1
            deg = edges.groupby("key").concept.nunique()
            edges = edges[edges.key.map(deg) < deg.max()]
            sub = components(edges, members)
            for c in np.unique(sub):
                part = members[sub == c]
                if len(part) > 1:
                    stack.append((part, edges[edges.concept.isin(part)]))
            continue
        label[members] = min(members)
    sizes = label.value_counts()
    merged = sizes[sizes > 1]
    top = label[label == merged.index[0]].index.tolist() if len(merged) else []
    prefix = pd.Series(concepts, index=concepts).str.split(":").str[0]
    cross = int((prefix.groupby(label).nunique() > 1).sum())
    report = {"concepts": len(concepts), "labels": int(label.nunique()), "concepts_merged": int(merged.sum()),
              "merged_groups": len(merged), "cross_ontology_groups": cross,
              "largest_group": len(top), "largest_group_concepts": top[:25],
              "ambiguous_strings_not_linking": len(ambiguous),
              "ambiguous_examples": degree[ambiguous.index].sort_values(ascending=False).index[:10].tolist(),
              "groups_split": split, "max_group": max_group}
    return label, report


def _share_sample(parts: dict[str, pd.DataFrame], order: list[str], shares: dict[str, float], seed: int
                  ) -> tuple[dict[str, pd.DataFrame], dict]:
    """Subsample each corpus after the first to its share of the final pairs (seeded); the first corpus and
    corpora without a share keep every pair. A share a corpus cannot fill is filled as far as it goes."""
    rng = np.random.default_rng(seed)
    fixed = sum(len(parts[c]) for c in order if c not in shares)
    rest = 1.0 - sum(shares.values())
    out, report = dict(parts), {}
    for c, share in shares.items():
        want = int(round(share * fixed / rest))
        have = len(parts[c])
        if want < have:
            out[c] = parts[c].iloc[np.sort(rng.choice(have, want, replace=False))].reset_index(drop=True)
        report[c] = {"share_asked": share, "pairs_available": have, "pairs_kept": len(out[c])}
    total = sum(len(v) for v in out.values())
    for c in order:
        report.setdefault(c, {})["share"] = round(len(out[c]) / total, 4) if total else 0.0
    return out, report


def corpus_strings(name: str, hpo: HpoData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """([concept, string, is_name], [concept, string] definitions) of one corpus of ``training.corpus``."""
    if name == "hpo":
        defs = hpo.terms.loc[hpo.terms.definition != "", ["hpo_id", "definition"]]
        return hpo_strings(hpo), defs.rename(columns={"hpo_id": "concept", "definition": "string"})
    if name == "mondo":
        from lib.data.mondo import load_mondo
        terms = load_mondo().terms
        defs = terms.loc[terms.definition != "", ["mondo_id", "definition"]]
        return mondo_strings(terms), defs.rename(columns={"mondo_id": "concept", "definition": "string"})
    if name == "mesh":
        from lib.data.mesh_diseases import load_mesh_diseases
        return mesh_strings(load_mesh_diseases().terms), pd.DataFrame(columns=["concept", "string"])
    raise ValueError(f"unknown training corpus {name!r} (hpo, mondo, mesh; mrconso alone)")


def corpus_training_set(hpo: HpoData, corpus: list[str] | None = None, shares: dict[str, float] | None = None,
                        max_pairs_per_concept: int | None = 50, dev_concepts: int = 300, french: bool = False,
                        definitions: bool = True, seed: int = 0, extra_forbidden: Iterable[str] = (),
                        max_group: int = 10,
                        sources: dict[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None) -> TrainingSet:
    """Pairs of a run over its corpora, with the HPO dev split held out; never a lay term.

    1. The dev set: ``dev_concepts`` HPO concepts whose non-lay synonyms are held out (:func:`dev_split`);
       their definitions are the unsupervised dev proxy's queries, held out too.
    2. Forbidden strings (:func:`lib.text.match_key`): every evaluated lay term (+ ``extra_forbidden``, the
       licensed lexicon), every dev query, every dev definition.
    3. One label per real concept across corpora (:func:`merge_concepts`, over the strings left for
       training: a lay term never links two concepts).
    4. Per corpus, SapBERT's construction (:func:`concept_pairs`) and, with ``definitions``, (string,
       definition) pairs where the corpus has definitions; then the leakage filter, per corpus, counted;
       then the sampling share of each corpus after the first (:func:`_share_sample`).

    ``sources`` (tests) replaces the loaders: {corpus: (strings, definitions)}.
    """
    corpus = list(corpus or ["hpo"])
    shares = dict(shares or {})
    hpo_s = hpo_strings(hpo)
    lay = lay_strings(hpo)
    dev = dev_split(hpo_s, dev_concepts, lay, seed)
    dev_keys = set(dev.concept + "\t" + dev["query"].map(match_key))
    held = (hpo_s.concept + "\t" + hpo_s.string.map(match_key)).isin(dev_keys) & ~hpo_s.is_name
    hpo_defs = hpo.terms.loc[hpo.terms.definition != "", ["hpo_id", "definition"]]
    dev_defs = hpo_defs[hpo_defs.hpo_id.isin(set(dev.concept))]
    dev_definitions = pd.DataFrame({"query": dev_defs.definition.map(normalise).to_numpy(),
                                    "concept": dev_defs.hpo_id.to_numpy()})
    forbidden = {"lay": list(lay) + list(extra_forbidden), "dev": dev["query"].tolist(),
                 "dev_definitions": dev_definitions["query"].tolist()}
    banned = {match_key(x) for v in forbidden.values() for x in v}
    loaded = {}
    for name in corpus:
        strings, defs = (sources or {}).get(name) or corpus_strings(name, hpo)
        if name == "hpo" and name not in (sources or {}):
            strings = hpo_s[~held]
        loaded[name] = (strings.reset_index(drop=True), defs)
    train_strings = pd.concat([v[0] for v in loaded.values()], ignore_index=True)
    label, merge = merge_concepts(train_strings[~train_strings.string.astype(str).map(match_key).isin(banned)],
                                  max_group)
    parts, per_corpus = {}, {}
    for name, (strings, defs) in loaded.items():
        built = [concept_pairs(strings, max_pairs_per_concept, seed, "synonym", name)]
        if definitions and len(defs):
            built.append(cross_pairs(strings, defs, max_pairs_per_concept, seed, "definition", name))
        if french and name == "hpo":
            built.append(cross_pairs(strings, french_strings(), max_pairs_per_concept, seed, "cross-lingual", "hpo-fr"))
        pairs = pd.concat(built, ignore_index=True)
        c = {"concepts": int(strings.concept.nunique()), "strings": len(strings), "pairs_built": len(pairs),
             "concepts_with_pairs_built": int(pairs.concept.nunique())}
        for what, strs in forbidden.items():
            looser = _looser_drops(pairs, strs)
            pairs, n = drop_strings(pairs, strs)
            c[f"pairs_dropped_{what}"] = n
            c[f"pairs_dropped_{what}_by_stricter_key"] = n - looser  # punctuation / hyphen / spacing variants
        pairs["concept"] = pairs.concept.map(label).fillna(pairs.concept)
        c["pairs"] = len(pairs)
        parts[name], per_corpus[name] = pairs, c
    parts, share_report = _share_sample(parts, corpus, shares, seed)
    for name in corpus:
        per_corpus[name].update(share_report[name], pairs_used=len(parts[name]),
                                labels_used=int(parts[name].concept.nunique()),
                                pairs_by_kind=parts[name].kind.value_counts().sort_index().to_dict())
    pairs = pd.concat([parts[c] for c in corpus], ignore_index=True)
    first = per_corpus.get("hpo", {})
    counts = {"corpus": corpus, "concepts": len(hpo.terms), "names": int(hpo_s.is_name.sum()),
              "nonlay_synonyms": int((~hpo_s.is_name).sum()), "lay_terms": len(lay),
              "dev_concepts": int(dev.concept.nunique()), "dev_queries": len(dev),
              "dev_definitions": len(dev_definitions), "dev_synonyms_held_out": int(held.sum()),
              "pairs_built": sum(c["pairs_built"] for c in per_corpus.values()),
              "pairs_dropped_lay": sum(c["pairs_dropped_lay"] for c in per_corpus.values()),
              "pairs_dropped_dev": sum(c["pairs_dropped_dev"] + c["pairs_dropped_dev_definitions"]
                                       for c in per_corpus.values()),
              "pairs_dropped_by_stricter_key": sum(c[k] for c in per_corpus.values() for k in c
                                                   if k.endswith("_by_stricter_key")),
              "pairs": len(pairs), "pairs_by_kind": pairs.kind.value_counts().sort_index().to_dict(),
              "concepts_with_pairs": int(pairs.concept.nunique()), "per_corpus": per_corpus, "merge": merge}
    if first:
        counts["hpo_pairs"] = first["pairs_used"]
    log.info("training set %s: %s", corpus, {k: v for k, v in counts.items() if k not in ("per_corpus", "merge")})
    log.info("cross-ontology merge: %s", merge)
    return TrainingSet(pairs, dev, counts, hpo_s[~held].reset_index(drop=True), dev_definitions)


def embedded_training_set(hpo: HpoData, max_pairs_per_concept: int | None = 50, dev_concepts: int = 300,
                          french: bool = False, definitions: bool = True, seed: int = 0) -> TrainingSet:
    """The HPO-only run (names + non-lay synonyms, optional French, definitions) with its dev split:
    :func:`corpus_training_set` over ``["hpo"]``."""
    return corpus_training_set(hpo, ["hpo"], None, max_pairs_per_concept, dev_concepts, french, definitions, seed)


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
    string, always share a fold, so a fold's model never saw a lay term of a
    concept it scores (strings compared by :func:`lib.text.match_key`). Linked groups are shuffled (seeded)
    and dealt to the lightest fold, largest first.
    """
    gold = lexicon["gold_hpos"].map(lambda g: (g,) if isinstance(g, str) else tuple(g))
    norm = lexicon["Terme"].map(match_key)
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
    dev_keys = set(dev.concept + "\t" + dev["query"].map(match_key))
    held = (strings.concept + "\t" + strings.string.map(match_key)).isin(dev_keys) \
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
    """The pairs and dev split of a params file's ``training`` recipe (corpora and shares, OBO file,
    French, caps, merge limits).

    The forbidden strings are every lay term that could be evaluated: the OBO's layperson synonyms and,
    when params name one, the licensed lay lexicon's terms.
    """
    from lib import paths
    from lib.data.hpo import load_hpo
    from lib.data.lexicon import read_lexicon

    T = P.training
    hpo = load_hpo(str(paths.project_path(T.obo)) if T.obo else None)
    extra = read_lexicon(paths.project_path(P.lay_lexicon))["Terme"].tolist() if P.lay_lexicon else []
    if T.corpus == ["mrconso"]:
        from lib.data.umls import read_mrconso
        if not P.umls_mrconso:
            raise ValueError(f"params/{P.name}.yaml: training corpus mrconso needs umls_mrconso")
        mrconso = read_mrconso(paths.project_path(P.umls_mrconso), P.umls_languages, P.umls_sources)
        return mrconso_training_set(mrconso, lay_strings(hpo) + extra, T.max_pairs_per_concept, T.dev_concepts,
                                    P.seed)
    ts = corpus_training_set(hpo, T.corpus, T.corpus_shares, T.max_pairs_per_concept, T.dev_concepts,
                             french=T.french, definitions=T.definitions != "none", seed=P.seed,
                             extra_forbidden=extra, max_group=T.merge_max_group)
    if T.crossfit_folds is not None:  # concept-disjoint supervised: + the lay terms of the other folds
        folds = crossfit_folds(hpo.lexicon, T.crossfit_folds, P.seed)
        before = len(ts.pairs)
        ts.pairs = crossfit_training_pairs(ts.pairs, hpo, folds, T.crossfit_fold)
        ts.counts.update(crossfit_folds=T.crossfit_folds, crossfit_fold=T.crossfit_fold,
                         lay_pairs=len(ts.pairs) - before, pairs=len(ts.pairs),
                         lay_terms_scored=int((folds == T.crossfit_fold).sum()))
    return ts
