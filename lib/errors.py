"""Errors that tell the user exactly where their input is wrong."""

from __future__ import annotations

from pathlib import Path


class DataFormatError(ValueError):
    """Bad input data: names the file, the line (or element) and the field."""

    def __init__(self, path: str | Path, message: str, line: int | None = None,
                 field: str | None = None, element: str | None = None):
        where = [str(path)]
        if line is not None:
            where.append(f"line {line}")
        if element is not None:
            where.append(f"element {element}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")
        self.path, self.line, self.field, self.element = Path(path), line, field, element


class ParamsError(ValueError):
    """A params file with an unknown key or a wrong type."""


class ModelNotAvailableError(RuntimeError):
    """A model that cannot be loaded here (offline hub id, missing local folder)."""
