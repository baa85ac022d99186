"""Public tier: BIOSSES, STS-benchmark (FR/EN, machine-translated) and HPO French translations.

Each file is fetched from its canonical source and verified against a pinned SHA-256, then cached;
or read from a local mirror folder named by ``COMPENDIUM_DATA_MIRROR`` (same relative paths, same
checksums). Nothing is ever modified in place: the mirror and the cache are read-only inputs.
"""

from __future__ import annotations

import csv
import logging
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lib import atomic, paths
from lib.data.textio import open_text
from lib.data.pinned import pinned_file
from lib.errors import DataFormatError

log = logging.getLogger("lib.data.public")


@dataclass(frozen=True)
class Source:
    url: str
    sha256: str
    licence: str


_STSB = "https://raw.githubusercontent.com/PhilipMay/stsb-multi-mt/main/data/"
_BIOSSES = ("https://raw.githubusercontent.com/kathrinblagec/"
            "neural-sentence-embedding-models-for-biomedical-applications/master/data/")
_HPOFR = "https://raw.githubusercontent.com/obophenotype/hpo-translations/main/babelon/"

SOURCES: dict[str, Source] = {
    "biosses/pairs.txt": Source(_BIOSSES + "biosses_sentence_pairs_test_derived_from_github.txt",
                                "ce176e6039da02e00fbc5361d5afcd9b706fefba340b3370a77a9dd23933ee28", "GPL-3.0"),
    "biosses/scores.txt": Source(_BIOSSES + "annotation_scores_from_github.txt",
                                 "b25befdb42b98404ec40295de2f4cb72577e50675add2968f87aa1276ca2b215", "GPL-3.0"),
    "hpo-fr/hp-fr.babelon.tsv": Source(_HPOFR + "hp-fr.babelon.tsv",
                                       "6a2c28bb381769583ebcdfd6901d1e99d3a3fda29b1ff052e69f965ad72398ad", "HPO"),
    "hpo-fr/hp-fr.synonyms.tsv": Source(_HPOFR + "hp-fr.synonyms.tsv",
                                        "bb94699ec496161cad0813b22d00a3db1394b971605f246dd8d452d9655c5454", "HPO"),
    "stsb-multi-mt/stsb-en-dev.csv": Source(_STSB + "stsb-en-dev.csv",
        "d29586e96558c4eb52cf5ea5d14e9c24d3bf0e44f111b017caba43a5adc33226", "CC BY-SA 4.0"),
    "stsb-multi-mt/stsb-en-train.csv": Source(_STSB + "stsb-en-train.csv",
        "e1e84fec60bbb598735552f54a35f4949904a484750fd2cb11e2720e49f63da6", "CC BY-SA 4.0"),
    "stsb-multi-mt/stsb-fr-dev.csv": Source(_STSB + "stsb-fr-dev.csv",
        "d9f0ed00811dc0d91663f195790bccc4627e0da3575e79e4e06ac777ec38039f", "CC BY-SA 4.0"),
    "stsb-multi-mt/stsb-fr-test.csv": Source(_STSB + "stsb-fr-test.csv",
        "f7da31a1d88557344afcb26430dc1c6cb85e76b564333de1a29f8008205b39b2", "CC BY-SA 4.0"),
    "stsb-multi-mt/stsb-fr-train.csv": Source(_STSB + "stsb-fr-train.csv",
        "29cece1d7e713cbc5c6940d4a0bbba7764da093e6d0b9da8fee26662b8af1d0a", "CC BY-SA 4.0"),
}


def fetch(relpath: str) -> Path:
    """Local, checksum-verified copy of a public file: mirror first, then cache, then download
    (:func:`lib.data.pinned.pinned_file`)."""
    if relpath not in SOURCES:
        raise KeyError(f"unknown public file {relpath!r}; known: {sorted(SOURCES)}")
    src = SOURCES[relpath]

    def download(dest: Path) -> None:
        try:
            with urllib.request.urlopen(src.url, timeout=30) as r:
                data = r.read()
        except Exception as err:
            mirror = paths.data_mirror() or "COMPENDIUM_DATA_MIRROR unset"
            raise FileNotFoundError(
                f"public file {relpath!r} is neither in the mirror ({mirror}) "
                f"nor downloadable from {src.url} ({type(err).__name__}: {err}). Set COMPENDIUM_DATA_MIRROR "
                f"to a folder holding {relpath}.") from None
        atomic.write_bytes(dest, data)
    return pinned_file(relpath, src.sha256, download, src.url)


def _float(value: str, path: Path, line: int, field: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise DataFormatError(path, f"not a number: {value!r}", line=line, field=field) from None
    if not np.isfinite(x):
        raise DataFormatError(path, f"not a finite number: {value!r}", line=line, field=field)
    return x


def read_sts_csv(path: Path, score_max: float = 5.0) -> pd.DataFrame:
    """STS CSV (sentence1, sentence2, score): the STS-b multi-mt and MedSTS layout.

    A first line that is exactly the header ``sentence1,sentence2,score`` is accepted and skipped.
    Plain or gzip'd, UTF-8 with or without BOM (see :mod:`lib.data.textio`); line numbers are physical
    lines. A file with no pair is an error naming the file, never an empty table.
    """
    rows, header, blank = [], False, 0
    with open_text(path) as f:
        reader = csv.reader(f)
        try:
            for rec in reader:
                line = reader.line_num
                if not rec:
                    blank += 1
                    continue
                if line == 1 and [c.strip().lower() for c in rec] == ["sentence1", "sentence2", "score"]:
                    header = True
                    continue
                if len(rec) != 3:
                    raise DataFormatError(path, f"expected 3 fields, got {len(rec)}", line=line)
                score = _float(rec[2], path, line, "score")
                if not 0 <= score <= score_max:
                    raise DataFormatError(path, f"score {score} outside [0, {score_max}]", line=line,
                                          field="score")
                rows.append((rec[0], rec[1], score))
        except csv.Error as err:
            raise DataFormatError(path, f"malformed CSV ({err})", line=reader.line_num) from None
    if not rows:
        raise DataFormatError(path, "header only, no data rows" if header else "empty file")
    df = pd.DataFrame(rows, columns=["sentence1", "sentence2", "score"])
    df.attrs.update(score_max=score_max, source=str(path), skipped={"blank_lines": blank})
    return df


def read_biosses(pairs: Path, scores: Path) -> pd.DataFrame:
    """BIOSSES as mirrored: pairs.txt has two consecutive lines per pair, scores.txt one per pair."""
    lines = pairs.read_text(encoding="utf-8").splitlines()
    score_lines = scores.read_text(encoding="utf-8").splitlines()
    if len(lines) % 2:
        raise DataFormatError(pairs, f"odd number of lines ({len(lines)}): pairs need two lines each")
    if len(lines) // 2 != len(score_lines):
        raise DataFormatError(scores, f"{len(score_lines)} scores for {len(lines) // 2} pairs in {pairs}")
    df = pd.DataFrame({
        "sentence1": [s.strip() for s in lines[0::2]],
        "sentence2": [s.strip() for s in lines[1::2]],
        "score": [_float(s, scores, i, "score") for i, s in enumerate(score_lines, start=1)],
    })
    df.attrs.update(score_max=4.0, source=str(pairs))
    return df


def _split(df: pd.DataFrame, split: str, seed: int = 0, fractions=(0.6, 0.2, 0.2)) -> pd.DataFrame:
    """Deterministic train/dev/test split for data sets published as one block (BIOSSES)."""
    order = np.random.default_rng(seed).permutation(len(df))
    n_train, n_dev = int(fractions[0] * len(df)), int(fractions[1] * len(df))
    parts = {"train": order[:n_train], "dev": order[n_train:n_train + n_dev],
             "test": order[n_train + n_dev:], "all": np.arange(len(df))}
    out = df.iloc[np.sort(parts[split])].reset_index(drop=True)
    out.attrs.update(df.attrs, split=split, split_rule=f"seeded permutation (seed {seed}) 60/20/20")
    return out


STS_SETS = {"biosses": ("train", "dev", "test", "all"), "stsb-fr": ("train", "dev", "test"),
            "stsb-en": ("train", "dev")}


def load_sts(name: str, split: str = "test") -> pd.DataFrame:
    """A public STS set as [sentence1, sentence2, score] with attrs score_max, source, split."""
    if name not in STS_SETS or split not in STS_SETS[name]:
        raise KeyError(f"unknown STS set {name!r}/{split!r}; known: {STS_SETS}")
    if name == "biosses":
        df = read_biosses(fetch("biosses/pairs.txt"), fetch("biosses/scores.txt"))
        df = _split(df, split)
    else:
        lang = name.split("-")[1]
        df = read_sts_csv(fetch(f"stsb-multi-mt/stsb-{lang}-{split}.csv"), 5.0)
        df.attrs["split"] = split
    df.attrs["name"] = name
    return df


def load_hpo_fr() -> pd.DataFrame:
    """French HPO labels and definitions (babelon TSV) as [hpo_id, label_fr, definition_fr, status]."""
    path = fetch("hpo-fr/hp-fr.babelon.tsv")
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
    need = {"subject_id", "predicate_id", "translation_value", "translation_status"}
    if missing := need - set(raw.columns):
        raise DataFormatError(path, f"missing columns {sorted(missing)}", line=1)
    labels = raw[raw.predicate_id == "rdfs:label"].drop_duplicates("subject_id").set_index("subject_id")
    defs = raw[raw.predicate_id == "IAO:0000115"].drop_duplicates("subject_id").set_index("subject_id")
    out = pd.DataFrame({"label_fr": labels.translation_value, "status": labels.translation_status})
    out["definition_fr"] = defs.translation_value.reindex(out.index).fillna("")
    out = out.rename_axis("hpo_id").reset_index()
    out.attrs.update(source=str(path))
    return out


def load_hpo_fr_synonyms() -> pd.DataFrame:
    """French HPO synonyms as [hpo_id, synonym_fr, status] (mostly CANDIDATE status upstream)."""
    path = fetch("hpo-fr/hp-fr.synonyms.tsv")
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
    raw = raw[raw.subject_id.str.startswith("HP:")]
    out = raw.rename(columns={"subject_id": "hpo_id", "translation_value": "synonym_fr",
                              "Status": "status"})[["hpo_id", "synonym_fr", "status"]]
    out.attrs.update(source=str(path))
    return out.reset_index(drop=True)
