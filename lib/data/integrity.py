"""Integrity statistics of any loaded table: sizes, missing values, duplicates, length outliers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib import paths
from lib.data import deft, hpo, public
from lib.data.lexicon import read_lexicon
from lib.data.medsts import read_medsts
from lib.data.umls import read_mrconso


def length_outliers(lengths: np.ndarray, k: float = 1.5) -> tuple[int, float, float]:
    """Tukey's fences on lengths: (count outside, low fence, high fence)."""
    q1, q3 = np.percentile(lengths, [25, 75])
    lo, hi = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    return int(((lengths < lo) | (lengths > hi)).sum()), float(lo), float(hi)


def integrity(df: pd.DataFrame, text_columns: list[str]) -> dict:
    """One table's integrity summary (JSON-ready)."""
    out: dict = {"rows": int(len(df)), "columns": list(map(str, df.columns)), "missing": {}, "text": {}}
    for col in df.columns:
        s = df[col]
        if s.dtype == object:
            missing = int(s.isna().sum() + (s.astype(str).str.strip() == "").sum())
        else:
            missing = int(s.isna().sum())
        out["missing"][str(col)] = missing
    for col in text_columns:
        s = df[col].fillna("").astype(str)
        chars = s.str.len().to_numpy()
        tokens = s.str.split().str.len().to_numpy()
        n_out, lo, hi = length_outliers(tokens) if len(tokens) else (0, 0.0, 0.0)
        out["text"][col] = {
            "duplicates": int(s.duplicated().sum()), "empty": int((chars == 0).sum()),
            "chars_mean": float(chars.mean()) if len(chars) else 0.0,
            "chars_max": int(chars.max()) if len(chars) else 0,
            "tokens_median": float(np.median(tokens)) if len(tokens) else 0.0,
            "tokens_p95": float(np.percentile(tokens, 95)) if len(tokens) else 0.0,
            "tokens_max": int(tokens.max()) if len(tokens) else 0,
            "length_outliers": n_out, "outlier_fences_tokens": [lo, hi],
        }
    return out


def available_tables(P) -> dict[str, tuple[pd.DataFrame, str, list[str]]]:
    """Every table this machine can load for params ``P``: name -> (frame, tier, text columns).
    Public files that cannot be found are reported by the caller, not silently ignored."""

    tables: dict[str, tuple[pd.DataFrame, str, list[str]]] = {}
    h = hpo.load_hpo()
    tables["hpo_lay_lexicon"] = (h.lexicon, "embedded", ["source_text"])
    tables["hpo_targets"] = (h.targets, "embedded", ["STR"])
    for name, splits in public.STS_SETS.items():
        for split in splits:
            if split == "all":
                continue
            tables[f"{name}_{split}"] = (public.load_sts(name, split), "public", ["sentence1", "sentence2"])
    tables["hpo_fr_labels"] = (public.load_hpo_fr(), "public", ["label_fr", "definition_fr"])
    if P.umls_mrconso:
        tables["umls_mrconso"] = (read_mrconso(paths.project_path(P.umls_mrconso), P.umls_languages,
                                               P.umls_sources), "licensed", ["STR"])
    if P.lay_lexicon:
        tables["lay_lexicon"] = (read_lexicon(paths.project_path(P.lay_lexicon)), "licensed", ["source_text"])
    if P.medsts:
        tables["medsts"] = (read_medsts(paths.project_path(P.medsts)), "licensed", ["sentence1", "sentence2"])
    if P.deft_dir:
        folder = paths.project_path(P.deft_dir)
        for stem, reader, cols in (("t1-train", deft.read_t1, ["source", "cible"]),
                                   ("t1-test", deft.read_t1, ["source", "cible"]),
                                   ("t2-train", deft.read_t2, ["source", "cible_1"]),
                                   ("t2-test", deft.read_t2, ["source", "cible_1"])):
            f = folder / f"{stem}.xml"
            if f.exists():
                df = reader(f)
                tables[f"deft_{stem}"] = (df, "licensed", [c for c in cols if c in df.columns])
    return tables
