"""Pick the data for an alignment run: licensed (UMLS + lay lexicon) when params name them, otherwise
the embedded HPO tier. Both come back as the same tidy tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..params import Params
from .. import paths


@dataclass
class AlignmentData:
    sources: pd.DataFrame   # source_id, source_text, gold_cui / gold_hpo (when known), LEX columns
    targets: pd.DataFrame   # MRCONSO columns
    tier: str
    info: dict = field(default_factory=dict)
    gold_column: str | None = "gold_hpo"   # which source column holds the gold concept
    target_code_column: str = "CODE"       # which target column identifies the concept


def _sample(df: pd.DataFrame, n: int | None, seed: int, keep: pd.Series | None = None) -> pd.DataFrame:
    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    idx = np.sort(np.random.default_rng(seed).choice(len(df), n, replace=False))
    return df.iloc[idx].reset_index(drop=True)


def alignment_data(P: Params) -> AlignmentData:
    """Sources and targets for 04-align; samples (stated in ``info``) when max_sources/max_targets set."""
    tier = P.data_tier
    if tier == "auto":
        tier = "licensed" if (P.umls_mrconso and P.lay_lexicon) else "embedded"
    if tier == "licensed":
        from .lexicon import read_lexicon
        from .umls import read_mrconso
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
        from .hpo import load_hpo
        hpo = load_hpo()
        sources, targets = hpo.lexicon, hpo.targets
        info = {"hpo_version": hpo.version, "hpo_file": hpo.source, "counts": hpo.counts,
                "gold": "HPO term of the layperson synonym (any of its terms when listed under several)"}
        data = AlignmentData(sources, targets, "embedded", info, "gold_hpos", "CODE")
    else:
        raise ValueError(f"alignment needs tier embedded or licensed, not {tier!r}")
    n_s, n_t = len(data.sources), len(data.targets)
    if P.max_targets and P.max_targets < n_t and data.gold_column:
        # keep every gold target of the sampled sources so the task stays answerable
        data.sources = _sample(data.sources, P.max_sources, P.seed)
        golds = set()
        for g in data.sources[data.gold_column]:
            golds.update([g] if isinstance(g, str) else g)
        is_gold = data.targets[data.target_code_column].isin(golds)
        rest = _sample(data.targets[~is_gold], max(P.max_targets - int(is_gold.sum()), 0), P.seed)
        data.targets = pd.concat([data.targets[is_gold], rest], ignore_index=True)
    else:
        data.sources = _sample(data.sources, P.max_sources, P.seed)
        data.targets = _sample(data.targets, P.max_targets, P.seed)
    data.info.update(sources_total=n_s, targets_total=n_t, sources_used=len(data.sources),
                     targets_used=len(data.targets),
                     sampled=(len(data.sources) < n_s or len(data.targets) < n_t))
    return data
