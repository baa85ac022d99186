"""Opening user-supplied text one way (lib.data.textio): gzip by magic bytes, BOM stripped, decode errors
naming file, line and byte; directly and through the readers built on it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from lib.data import fixtures, lexicon, medsts, public
from lib.errors import DataFormatError


@pytest.mark.parametrize("reader", [medsts.read_medsts, public.read_sts_csv])
def test_sts_csv_latin1_names_line(tmp_path, reader):
    f = tmp_path / "sts.csv"
    f.write_bytes("a,b,1\nc,d,2\nfièvre,chaud,3\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"sts.csv, line 3: not UTF-8"):
        reader(f)


def _gzip_copy(src: Path, dest: Path) -> Path:
    dest.write_bytes(gzip.compress(src.read_bytes()))
    return dest


def test_gzipped_lexicon_and_medsts_read_transparently(licensed_fixtures, tmp_path):
    lex = lexicon.read_lexicon(_gzip_copy(licensed_fixtures["lay_lexicon"], tmp_path / "lex.csv.gz"))
    assert len(lex) == len(fixtures.CONCEPTS)
    med = medsts.read_medsts(_gzip_copy(licensed_fixtures["medsts"], tmp_path / "medsts.csv"))
    assert len(med) == 5
