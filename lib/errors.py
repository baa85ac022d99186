"""Errors that tell the user exactly where their input is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


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
    """A result file that exists but cannot be used: cut short by an interrupted run, edited by hand, or
    written by an older run whose record no longer matches the notebook's schema (``lib.results``).

    Names the file, the fields at fault and the make target that rewrites it, instead of a bare JSON
    parser or validation error.
    """

    def __init__(self, path: str | Path, params_name: str, notebook: str, reason: str,
                 fields: Sequence[str] = ()):
        target = f"make results/{params_name}/{notebook}.json"
        if fields:
            msg = (f"{path}: does not match the {notebook} result schema (lib.results): {'; '.join(fields)}. "
                   f"It was written by an older run (or edited by hand): rerun the notebook {notebook} "
                   f"(`{target}`)")
        else:
            msg = (f"{path}: not a readable result file ({reason}); it was probably cut short by an "
                   f"interrupted run: delete it and rerun `{target}`")
        super().__init__(msg)
        self.path, self.params_name, self.notebook, self.fields = Path(path), params_name, notebook, list(fields)


class ResultRecordError(ValueError):
    """A notebook passed ``report.write_result`` a record its schema (``lib.results``) rejects.

    Raised before anything is written, naming the notebook and each field at fault, so a malformed
    record fails the run that made it instead of the later stage that reads it.
    """

    def __init__(self, notebook: str, fields: Sequence[str]):
        super().__init__(f"notebook {notebook}: its result record does not match lib.results "
                         f"({'; '.join(fields)}); nothing was written: fix what it passes to "
                         f"report.write_result")
        self.notebook, self.fields = notebook, list(fields)
