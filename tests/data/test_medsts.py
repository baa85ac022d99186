"""The MedSTS reader (lib.data.medsts): a BOM before the header, empty and header-only files."""

from __future__ import annotations

import pytest

from lib.data import medsts
from lib.errors import DataFormatError


def test_medsts_with_bom_and_header(tmp_path):
    f = tmp_path / "medsts.csv"
    f.write_text("sentence1,sentence2,score\na,b,3\n", encoding="utf-8-sig")
    assert medsts.read_medsts(f).score.tolist() == [3.0]


@pytest.mark.parametrize("content,match", [
    ("", "empty file"),
    ("\n", "empty file"),
    ("sentence1,sentence2,score\n", "header only, no data rows"),
])
def test_medsts_empty_or_header_only(tmp_path, content, match):
    f = tmp_path / "medsts.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"medsts.csv.*" + match):
        medsts.read_medsts(f)
