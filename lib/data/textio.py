"""Open user-supplied text inputs one way everywhere.

Licensed files reach us as whatever the user's tools wrote: gzip'd to save space, "CSV UTF-8" from
Excel (a byte-order mark in front of the header), or a legacy encoding. Every reader opens them
through :func:`open_text` / :func:`open_binary` so that gzip is recognised by its magic bytes (not by
the name, which users rename), a BOM never ends up inside the first column name, and a decode error
is a :class:`~lib.errors.DataFormatError` naming the file, the physical line and the byte, instead of
a bare ``UnicodeDecodeError`` from somewhere inside the csv module.
"""

from __future__ import annotations

import gzip
import io
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, TextIO

from lib.errors import DataFormatError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


def is_gzip(path: str | Path) -> bool:
    """True when the file starts with the gzip magic bytes, whatever its name."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_binary(path: str | Path) -> BinaryIO:
    """The file's bytes, decompressed on the fly when it is gzip'd."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # type: ignore[return-value]


def decode_error(path: str | Path, err: Exception | None = None) -> DataFormatError:
    """A DataFormatError for the first line of ``path`` that is not UTF-8 (BOM allowed on line 1).

    Decoders work on blocks, so the caught error does not know the line: re-read the file line by
    line (only up to the bad line) to name it, with the byte offset in the (decompressed) file.
    """
    offset = 0
    with open_binary(path) as f:
        for line_no, raw in enumerate(f, start=1):
            body = raw[len(UTF8_BOM):] if line_no == 1 and raw.startswith(UTF8_BOM) else raw
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as bad:
                at = offset + (len(raw) - len(body)) + bad.start
                return DataFormatError(path, f"not UTF-8 ({bad.reason} at byte {at}); save it as UTF-8",
                                       line=line_no)
            offset += len(raw)
    reason = f" ({err})" if err else ""
    return DataFormatError(path, f"not UTF-8{reason}; save it as UTF-8")


@contextmanager
def open_text(path: str | Path) -> Iterator[TextIO]:
    """UTF-8 text (BOM dropped, gzip undone) for the csv module: ``newline=''`` as csv requires, so
    quoted newlines stay inside their cell and ``reader.line_num`` counts physical lines.

    Decode errors and corrupt gzip streams raised while the caller reads become DataFormatError.
    """
    path = Path(path)
    with open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as f:
        try:
            yield f
        except UnicodeDecodeError as err:
            raise decode_error(path, err) from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as err:
            raise DataFormatError(path, f"corrupt gzip stream ({err})") from None
