"""Pick the data for an alignment run: licensed (UMLS + lay lexicon) when params name them, otherwise
the embedded HPO tier. Both come back as the same tidy tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib import paths
from lib.data import mesh as mesh_data
from lib.data.hpo import HpoData, load_hpo
from lib.data.lexicon import read_lexicon
from lib.data.umls import read_mrconso
from lib.errors import ParamsError
from lib.params import Params


@dataclass
class AlignmentData:
    sources: pd.DataFrame   # source_id, source_text, gold_cui / gold_hpo (when known), LEX columns
    targets: pd.DataFrame   # MRCONSO columns
    tier: str
    info: dict = field(default_factory=dict)
    gold_column: str | None = "gold_hpo"   # which source column holds the gold concept
    target_code_column: str = "CODE"       # which target column identifies the concept


def sample_alignment(sources: pd.DataFrame, targets: pd.DataFrame, max_sources: int | None,
                     max_targets: int | None, seed: int = 0, gold_column: str | None = "gold_hpos",
                     code_column: str = "CODE") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Seeded sample of sources and targets that keeps every gold target of the sampled sources.

    Targets are sampled *after* the gold ones are kept, so Acc@1 stays defined; the counts of what
    was left out are returned, never dropped silently. The one sampler of 04-align, the 03 gate and
    the benchmark's quality set.
    """
    rng = np.random.default_rng(seed)
    q = sources
    if max_sources is not None and len(q) > max_sources:
        q = q.iloc[np.sort(rng.choice(len(q), max_sources, replace=False))]
    q = q.reset_index(drop=True)
    gold: set = set()
    for g in (q[gold_column] if gold_column else []):
        gold.update([g] if isinstance(g, str) else g)
    is_gold = targets[code_column].isin(gold).to_numpy()
    keep = is_gold.copy()
    if max_targets is not None and len(targets) > max_targets:
        others = np.flatnonzero(~is_gold)
        n_more = max(0, max_targets - int(is_gold.sum()))
        keep[rng.choice(others, min(n_more, len(others)), replace=False)] = True
    else:
        keep[:] = True
    t = targets[keep].reset_index(drop=True)
    info = {"queries": len(q), "queries_left_out": len(sources) - len(q), "targets": len(t),
            "targets_left_out": len(targets) - len(t), "gold_targets": int(is_gold.sum())}
    return q, t, info


def definition_targets(hpo: HpoData) -> pd.DataFrame:
    """One extra target row per HPO concept with a non-empty definition (``index_definitions``).

    Each row is a copy of the concept's name row (PT: same CUI, CODE, SAB, ...) with STR = the
    definition and TTY = DEF, so a definition ranks as one more string of its concept and a concept
    still scores by its best string. It is marked non-preferred (TS S, STT VO, ISPREF N) and gets
    fresh LUI/SUI/AUI stand-ins after the existing ones, so no two target rows share an atom id.
    """
    defs = hpo.terms.loc[hpo.terms["definition"].fillna("").str.strip() != "", ["hpo_id", "definition"]]
    names = hpo.targets[hpo.targets["TTY"] == "PT"].drop_duplicates("CODE").set_index("CODE", drop=False)
    defs = defs[defs["hpo_id"].isin(names.index)]
    rows = names.loc[defs["hpo_id"].to_numpy()].reset_index(drop=True)
    n = len(hpo.targets) + 1 + pd.RangeIndex(len(rows))  # the stand-in numbering of lib.data.hpo, continued
    rows = rows.assign(STR=defs["definition"].to_numpy(), TTY="DEF", TS="S", STT="VO", ISPREF="N",
                       LUI=[f"L{i:07d}" for i in n], SUI=[f"S{i:07d}" for i in n],
                       AUI=[f"A{i:08d}" for i in n])
    return rows.astype(hpo.targets.dtypes.to_dict())[list(hpo.targets.columns)]


def alignment_data(P: Params) -> AlignmentData:
    """Sources and targets for 04-align; samples (stated in ``info``) when max_sources/max_targets set.

    With ``index_definitions`` the embedded tier's targets also hold each concept's definition
    (:func:`definition_targets`), added before sampling; the licensed tier refuses it (MRDEF is not read).
    """
    tier = P.data_tier
    if tier == "auto":
        tier = "licensed" if (P.umls_mrconso and P.lay_lexicon) else "embedded"
    if tier == "licensed":
        if P.index_definitions:
            raise ParamsError(f"params/{P.name}.yaml: index_definitions needs HPO definitions (embedded tier); "
                              "the licensed tier does not read UMLS definitions (MRDEF.RRF): set "
                              "index_definitions: false or data_tier: embedded")
        if not (P.umls_mrconso and P.lay_lexicon):
            raise ValueError(f"data_tier licensed needs umls_mrconso and lay_lexicon in params/{P.name}.yaml")
        targets = read_mrconso(paths.project_path(P.umls_mrconso), P.umls_languages, P.umls_sources)
        sources = read_lexicon(paths.project_path(P.lay_lexicon))
        gold = "CUI" if "CUI" in sources.columns else None
        if gold:
            sources["gold_cui"] = sources["CUI"]
        info = {"targets_skipped": targets.attrs.get("skipped"), "sources_skipped": sources.attrs.get("skipped"),
                "umls_file": str(P.umls_mrconso), "lexicon_file": str(P.lay_lexicon),
                "gold": "LEX column CUI" if gold else "none (no gold column: ranks not computed)"}
        data = AlignmentData(sources, targets, "licensed", info, "gold_cui" if gold else None, "CUI")
    elif tier == "embedded":
        hpo = load_hpo()
        sources, targets = hpo.lexicon, hpo.targets
        info = {"hpo_version": hpo.version, "hpo_file": hpo.source, "counts": hpo.counts,
                "gold": "HPO term of the layperson synonym (any of its terms when listed under several)"}
        if P.index_definitions:
            extra = definition_targets(hpo)
            targets = pd.concat([targets, extra], ignore_index=True)
            info["definition_targets"] = len(extra)
        data = AlignmentData(sources, targets, "embedded", info, "gold_hpos", "CODE")
    else:
        raise ValueError(f"alignment needs tier embedded or licensed, not {tier!r}")
    n_s, n_t = len(data.sources), len(data.targets)
    if not (n_s and n_t):  # the loaders refuse empty files; this catches anything else before encoding
        raise ValueError(f"{tier} tier: {n_s} sources and {n_t} targets, nothing to align ({data.info})")
    data.sources, data.targets, _ = sample_alignment(data.sources, data.targets, P.max_sources, P.max_targets,
                                                     P.seed, data.gold_column, data.target_code_column)
    data.info.update(sources_total=n_s, targets_total=n_t, sources_used=len(data.sources),
                     targets_used=len(data.targets),
                     sampled=(len(data.sources) < n_s or len(data.targets) < n_t))
    return data


def say_sampled(data: AlignmentData, what: str = "sources") -> str | None:
    """Print (and return) what :func:`alignment_data` sampled, or None when it used every row: a sampled
    run says so where its numbers are read."""
    i = data.info
    if not i.get("sampled"):
        return None
    note = (f"SAMPLED: {i['sources_used']} of {i['sources_total']} {what}, {i['targets_used']} of "
            f"{i['targets_total']} targets (max_sources/max_targets in params)")
    print(note)
    return note


# ---------------------------------------------------------------------------------------------
# Notebook 10's data: the HPO lay terms against HPO, and against HPO + MeSH


SCALE_COLUMNS = ["STR", "CODE", "CUI", "SAB"]


@dataclass
class ScaleData:
    """Lay terms (sampled as params say), the HPO target rows and the MeSH distractor rows in one layout."""

    sources: pd.DataFrame
    hpo_rows: pd.DataFrame
    mesh_rows: pd.DataFrame
    sampled: dict
    source: dict          # what the store records as its source (HPO release, MeSH package)


def scale_data(P, mesh_csv: str | None = None, max_mesh: int | None = None) -> ScaleData:
    """The HPO lay terms and targets (sampled by ``max_sources`` / ``max_targets``, gold targets kept) and the
    MeSH subjects (``mesh_csv``, else the pinned package; the first ``max_mesh`` of them when set) as target
    rows ``STR, CODE, CUI, SAB``: MeSH strings have no CUI, so they only ever distract."""
    hpo = load_hpo()
    sources, hpo_targets, sampled = sample_alignment(hpo.lexicon, hpo.targets, P.max_sources, P.max_targets,
                                                     P.seed, "gold_hpos", "CODE")
    mesh_all = mesh_data.read_mesh_csv(mesh_csv) if mesh_csv else mesh_data.load_mesh()
    mesh = mesh_all.iloc[:max_mesh] if max_mesh else mesh_all
    mesh_rows = pd.DataFrame({"STR": mesh["STR"], "CODE": mesh["CODE"], "CUI": "", "SAB": "MSH"})[SCALE_COLUMNS]
    sampled = {**sampled, "mesh_left_out": len(mesh_all) - len(mesh)}
    return ScaleData(sources, hpo_targets[SCALE_COLUMNS].astype(str), mesh_rows, sampled,
                     {"hpo": hpo.version, "mesh": mesh_all.attrs.get("version", str(mesh_csv))})
