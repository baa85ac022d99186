"""The lay lexicon reader (lib.data.lexicon): quoted newlines, BOM, empty and header-only files, legacy
encodings named by file, physical line and byte.
"""

from __future__ import annotations

import pytest

from lib.data import lexicon
from lib.errors import DataFormatError

HEADER = ";".join(lexicon.LEX_COLUMNS)


def test_lexicon_quoted_newline_kept_and_lines_are_physical(tmp_path):
    f = tmp_path / "lex.csv"
    f.write_text(HEADER + '\nmal de tête;0.2;1;"douleur\ndans la tête";0.5;x\n'
                 "fièvre;abc;1;chaud;0.5;x\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 4, field 'Taux de complexité'"):
        lexicon.read_lexicon(f)
    f.write_text(HEADER + '\nmal de tête;0.2;1;"douleur\ndans la tête";0.5;x\nfièvre;0.1;1;chaud;0.5;x\n',
                 encoding="utf-8")
    lex = lexicon.read_lexicon(f)
    assert lex["Explication au grand public"][0] == "douleur\ndans la tête"
    assert lex.source_id.tolist() == ["LEX:2", "LEX:4"]


def test_lexicon_with_bom(tmp_path):
    f = tmp_path / "lex.csv"
    f.write_text(HEADER + "\nfièvre;0.1;1;chaud;0.5;x\n", encoding="utf-8-sig")
    assert lexicon.read_lexicon(f).Terme.tolist() == ["fièvre"]


@pytest.mark.parametrize("content,match", [
    ("", "empty file"),
    (HEADER + "\n", "header only, no data rows"),
    (HEADER + "\n;;;;;\n\n", r"no data rows.*'empty_lines': 2"),
])
def test_lexicon_empty_or_header_only(tmp_path, content, match):
    f = tmp_path / "lex.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"lex.csv.*" + match):
        lexicon.read_lexicon(f)


def test_lexicon_latin1_names_line(tmp_path):
    f = tmp_path / "lex.csv"
    f.write_bytes((HEADER + "\nmal;0.1;1;x;0.5;y\nfièvre;0.1;1;chaud;0.5;x\n").encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"lex.csv, line 1: not UTF-8 .* at byte 23"):  # 'é' of complexité
        lexicon.read_lexicon(f)
    f.write_bytes((HEADER + "\nmal;0.1;1;x;0.5;y\n").encode() + "fièvre;0.1;1;chaud;0.5;x\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"lex.csv, line 3: not UTF-8"):
        lexicon.read_lexicon(f)
