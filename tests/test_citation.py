"""What a reader looks for at a compendium's root: the licence and how to cite it (and the paper).

``CITATION.cff`` is validated against the official CFF 1.2.0 schema as ``cffconvert --validate`` does
(tests/fixtures/cff/README.md says why the schema is vendored rather than cffconvert installed).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from lib.data import paper

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "fixtures" / "cff" / "schema-1.2.0.json"
SCHEMA_SHA256 = "0b8d22140da702d766df318dcff3a91af2f39521298dcf36d76315fd99cc169b"  # cffconvert 2.0.0's copy
ARXIV = "2507.13742"


class _CffLoader(yaml.SafeLoader):
    """YAML as cffconvert reads it: dates stay text (the schema wants ``date-released`` as a string)."""


_CffLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def load_cff(text: str) -> dict:
    return yaml.load(text, Loader=_CffLoader)


def validate_cff(data: dict) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(instance=data, schema=schema, cls=jsonschema.Draft7Validator,
                        format_checker=jsonschema.FormatChecker())


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_vendored_schema_is_the_official_one():
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert json.loads(SCHEMA.read_text())["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"


def test_citation_cff_is_valid_cff_1_2_0():
    validate_cff(load_cff((ROOT / "CITATION.cff").read_text(encoding="utf-8")))


@pytest.mark.parametrize("broken", [
    lambda d: d.pop("authors"),                                   # required
    lambda d: d.update(version=[1, 2]),                           # wrong type
    lambda d: d["references"][0].update(doi="arXiv:2507.13742"),  # not a DOI
    lambda d: d.update(license="MIT License"),                    # not an SPDX id
    lambda d: d.update(**{"date-released": "2026-13-45"}),        # not a date
])
def test_schema_check_rejects_a_broken_citation(broken):
    data = load_cff((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    broken(data)
    with pytest.raises(jsonschema.ValidationError):
        validate_cff(data)


def test_citation_matches_the_package_and_the_paper():
    cff = load_cff((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["version"] == pyproject()["version"] and cff["license"] == pyproject()["license"] == "MIT"
    ref, = [r for r in cff["references"] if ARXIV in r.get("url", "")]
    assert ref["doi"] == f"10.48550/arXiv.{ARXIV}" and ref["year"] == 2025
    assert [a["family-names"] for a in ref["authors"]] == ["Bouaggad", "Grabar"]
    # the same paper as the one the tables cite (lib/data/paper_reported.yaml)
    citation = paper.reported()["citation"]
    assert f"arXiv:{ARXIV}" in citation and ref["title"] in " ".join(citation.split())


def test_licence_is_the_mit_text_the_project_names():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n") and "Permission is hereby granted, free of charge" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
    assert pyproject()["license"] == "MIT"
    assert "Code: MIT" in (ROOT / "README.md").read_text(encoding="utf-8")
