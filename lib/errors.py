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


class ResultFileError(ValueError):
    """A result file that exists but cannot be read (cut short by an interrupted run, edited by hand).

    Names the file and the make target that rewrites it, instead of a bare JSON parser error.
    """

    def __init__(self, path: str | Path, params_name: str, notebook: str, reason: str):
        super().__init__(f"{path}: not a readable result file ({reason}); it was probably cut short by an "
                         f"interrupted run: delete it and rerun `make results/{params_name}/{notebook}.json`")
        self.path, self.params_name, self.notebook = Path(path), params_name, notebook
