"""Opening user-supplied text one way (lib.data.textio): gzip by magic bytes, BOM stripped, decode errors
naming file, line and byte; directly and through the readers built on it.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from lib.data import fixtures, lexicon, medsts, public, textio
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


# ------------------------------------------------------------------------------------------------
# lib.data.textio directly


def test_gzip_is_recognised_by_magic_bytes_not_name(tmp_path):
    packed, plain = tmp_path / "terms.txt", tmp_path / "terms.csv.gz"
    packed.write_bytes(gzip.compress(b"a,b\n"))
    plain.write_bytes(b"a,b\n")
    assert textio.is_gzip(packed) and not textio.is_gzip(plain)
    assert textio.open_binary(packed).read() == b"a,b\n" == textio.open_binary(plain).read()


def test_open_text_drops_the_bom_undoes_gzip_and_keeps_quoted_newlines(tmp_path):
    f = tmp_path / "x.csv"
    f.write_bytes(gzip.compress('\ufeffname,note\r\nfièvre,"two\r\nlines"\r\n'.encode("utf-8")))
    with textio.open_text(f) as fh:
        rows = list(csv.reader(fh))
    assert rows == [["name", "note"], ["fièvre", "two\r\nlines"]]          # no '\ufeff' in the first name


@pytest.mark.parametrize("data,line,byte", [
    (b"ab\nc\xe9d\n", 2, 4),                     # 3 bytes of line 1, then 'c': the bad byte is byte 4
    (textio.UTF8_BOM + b"ab\nc\xe9d\n", 2, 7),    # the BOM's 3 bytes count in the offset
    (textio.UTF8_BOM + b"x\xff\n", 1, 4),         # a BOM on line 1 is allowed, the byte after 'x' is not
])
def test_decode_error_names_line_and_byte_offset(tmp_path, data, line, byte):
    f = tmp_path / "x.csv"
    f.write_bytes(data)
    with pytest.raises(DataFormatError, match=rf"x.csv, line {line}: not UTF-8 \(.* at byte {byte}\)"):
        with textio.open_text(f) as fh:
            fh.read()


def test_corrupt_gzip_stream_is_a_data_format_error(tmp_path):
    f = tmp_path / "x.csv"
    f.write_bytes(gzip.compress(b"a,b\n" * 10_000)[:60])                  # magic bytes, stream cut short
    with pytest.raises(DataFormatError, match=r"x.csv: corrupt gzip stream"):
        with textio.open_text(f) as fh:
            fh.read()
