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
    """A notebook passed ``results.write_result`` a record its schema (``lib.results.schema``) rejects.

    Raised before anything is written, naming the notebook and each field at fault, so a malformed
    record fails the run that made it instead of the later stage that reads it.
    """

    def __init__(self, notebook: str, fields: Sequence[str]):
        super().__init__(f"notebook {notebook}: its result record does not match lib.results "
                         f"({'; '.join(fields)}); nothing was written: fix what it passes to "
                         f"results.write_result")
        self.notebook, self.fields = notebook, list(fields)


class StoreNotWritableError(PermissionError):
    """A target store folder (or its vectors folder) that this process may not write to.

    Raised instead of a bare ``PermissionError`` on a ``vectors/<key>`` path: it names the store, what
    was being written and the two fixes (make it writable, or copy the store to a writable folder).
    A ``PermissionError`` still, so callers that catch that keep working.
    """

    def __init__(self, store: str | Path, path: str | Path, cause: str = ""):
        msg = (f"{store}: the store folder cannot be written ({path}{': ' + cause if cause else ''}). "
               f"Vectors are computed into the store itself: make the folder writable, or copy the store "
               f"to a writable folder and point --targets (or the caller) at the copy")
        super().__init__(msg)
        self.store, self.path = Path(store), Path(path)

    def __reduce__(self):  # Dask sends a worker's exception to the driver pickled
        return (_rebuild_store_error, (str(self.store), str(self.path), str(self)))


def _rebuild_store_error(store: str, path: str, message: str) -> StoreNotWritableError:
    err = StoreNotWritableError(store, path)
    err.args = (message,)
    return err


class VectorWidthError(ValueError):
    """Queries whose width differs from the vectors stored under a key (another encoder's queries)."""
