"""MeSH disease entry terms (lib.data.mesh_diseases): the pickle read only after its hash matches, plain data only."""

from __future__ import annotations

import bz2
import hashlib
import pickle
from pathlib import Path

import pytest

from lib.data import mesh_diseases as md
from lib.errors import DataFormatError

# The package's exact layout (disease_variant_to_variant_data is empty in 0.4)
DOC = {"disease_variant_to_canonical": {
           "abdomen, acute": ["abdomen, acute"], "acute abdomen": ["abdomen, acute"],
           "acute abdomens": ["abdomen, acute"], "abdomens, acute": ["abdomen, acute"],
           "myocardial infarction": ["myocardial infarction"], "heart attack": ["myocardial infarction"],
           "heart attacks": ["myocardial infarction"], "infarction, myocardial": ["myocardial infarction"]},
       "disease_canonical_to_data": {
           "abdomen, acute": {"mesh_id": "D000006", "mesh_tree": ["C23.888.592.612.054.200"], "name": "Abdomen, Acute"},
           "myocardial infarction": {"mesh_id": "D009203", "mesh_tree": ["C14.280.647.500"],
                                     "name": "Myocardial Infarction"}},
       "disease_variant_to_variant_data": {}}


def write_pickle(path: Path, doc) -> tuple[Path, str]:
    path.write_bytes(bz2.compress(pickle.dumps(doc)))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_descriptors_and_their_variants(tmp_path):
    path, digest = write_pickle(tmp_path / "d.pkl.bz2", DOC)
    data = md.read_mesh_diseases(path, digest)
    mi = data.terms.set_index("mesh_id").loc["D009203"]
    assert mi["name"] == "Myocardial Infarction" and mi.variants == sorted(
        ["myocardial infarction", "heart attack", "heart attacks", "infarction, myocardial"])
    assert data.counts == {"descriptors": 2, "variant_strings": 8}


class Boom:
    def __reduce__(self):  # unpickling this would run code
        return (exec, ("raise SystemExit('unpickled!')",))


def test_the_pickle_is_not_unpickled_unless_its_hash_matches(tmp_path):
    path, digest = write_pickle(tmp_path / "evil.pkl.bz2", {"x": Boom()})
    with pytest.raises(DataFormatError, match="checksum mismatch.*not unpickled"):
        md.read_mesh_diseases(path)  # the real pin: refused before any byte is unpickled
    with pytest.raises(DataFormatError, match="refused to load builtins.exec"):
        md.read_mesh_diseases(path, digest)  # pinned, yet a class reference is still refused


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("disease_canonical_to_data"), "disease_canonical_to_data"),
    (lambda d: d["disease_variant_to_canonical"].update({"x": ["no such descriptor"]}), "disease_variant_to_canonical"),
    (lambda d: d["disease_variant_to_canonical"].update({"x": "abdomen, acute"}), "disease_variant_to_canonical"),
    (lambda d: d["disease_canonical_to_data"]["abdomen, acute"].pop("mesh_id"), "mesh_id"),
    (lambda d: d["disease_canonical_to_data"]["abdomen, acute"].update(name=""), "name"),
    (lambda d: d["disease_canonical_to_data"]["abdomen, acute"].update(mesh_tree="C23"), "mesh_tree"),
])
def test_a_bad_entry_is_an_error_naming_the_field(tmp_path, change, field):
    doc = pickle.loads(pickle.dumps(DOC))
    change(doc)
    path, digest = write_pickle(tmp_path / "d.pkl.bz2", doc)
    with pytest.raises(DataFormatError) as err:
        md.read_mesh_diseases(path, digest)
    assert err.value.field == field and "d.pkl.bz2" in str(err.value)


def test_not_bz2_is_named(tmp_path):
    path = tmp_path / "x.pkl.bz2"
    path.write_bytes(b"plain bytes")
    with pytest.raises(DataFormatError, match="not a bz2 pickle"):
        md.read_mesh_diseases(path, hashlib.sha256(b"plain bytes").hexdigest())


def test_real_mesh_disease_counts(pinned_or_skip):
    path = pinned_or_skip(md.mesh_diseases_file, "MeSH disease file",
                          "python -c 'from lib.data import mesh_diseases as m; m.mesh_diseases_file()'")
    assert md.read_mesh_diseases(path).counts == {"descriptors": 6_083, "variant_strings": 72_297}
