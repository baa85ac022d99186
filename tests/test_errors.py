"""Errors that say where the input is wrong (lib.errors): the exact message of each, its attributes, and the
store error surviving a pickle round trip (Dask sends a worker's exception to the driver pickled)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from lib.errors import (
    DataFormatError,
    ModelNotAvailableError,
    ParamsError,
    ResultFileError,
    ResultRecordError,
    StoreNotWritableError,
    VectorWidthError,
)


def test_data_format_error_names_file_line_element_and_field_in_that_order():
    err = DataFormatError("data/lex.csv", "not a number", line=3, field="score", element="row")
    assert str(err) == "data/lex.csv, line 3, element row, field 'score': not a number"
    assert (err.path, err.line, err.field, err.element) == (Path("data/lex.csv"), 3, "score", "row")
    assert str(DataFormatError(Path("a.xml"), "empty file")) == "a.xml: empty file"
    assert str(DataFormatError("a.csv", "bad", line=0)) == "a.csv, line 0: bad"       # line 0 is a line
    assert isinstance(err, ValueError)


def test_result_file_error_torn_file_and_schema_mismatch():
    torn = ResultFileError("results/tiny/04-align.json", "tiny", "04-align", "JSONDecodeError: x")
    assert str(torn) == ("results/tiny/04-align.json: not a readable result file (JSONDecodeError: x); it was "
                         "probably cut short by an interrupted run: delete it and rerun "
                         "`make results/tiny/04-align.json`")
    assert torn.fields == [] and torn.path == Path("results/tiny/04-align.json")
    old = ResultFileError("r.json", "tiny", "04-align", "schema", fields=("metrics.formats: missing", "data: extra"))
    assert str(old).startswith("r.json: does not match the 04-align result schema (lib.results): "
                               "metrics.formats: missing; data: extra. ")
    assert str(old).endswith("rerun the notebook 04-align (`make results/tiny/04-align.json`)")
    assert old.fields == ["metrics.formats: missing", "data: extra"] and old.params_name == "tiny"


def test_result_record_error_lists_every_field():
    err = ResultRecordError("03-quantize", ["metrics.chosen: required", "metrics.formats: dict expected"])
    assert str(err) == ("notebook 03-quantize: its result record does not match lib.results (metrics.chosen: "
                        "required; metrics.formats: dict expected); nothing was written: fix what it passes to "
                        "results.write_result")
    assert err.fields == ["metrics.chosen: required", "metrics.formats: dict expected"]


def test_store_not_writable_is_a_permission_error_and_survives_pickling():
    err = StoreNotWritableError("/stores/s", "/stores/s/vectors/k", "read-only file system")
    assert isinstance(err, PermissionError)
    assert str(err).startswith("/stores/s: the store folder cannot be written (/stores/s/vectors/k: "
                               "read-only file system). ")
    assert "(/x/v)." in str(StoreNotWritableError("/x", "/x/v"))                  # no cause: no ': '
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is StoreNotWritableError and str(back) == str(err)
    assert (back.store, back.path) == (Path("/stores/s"), Path("/stores/s/vectors/k"))


@pytest.mark.parametrize("cls,base", [(ParamsError, ValueError), (ModelNotAvailableError, RuntimeError),
                                      (VectorWidthError, ValueError)])
def test_plain_errors_keep_their_builtin_base(cls, base):
    """Callers catch the builtin base (ValueError, RuntimeError): the subclasses must stay under it."""
    with pytest.raises(base, match="^why$"):
        raise cls("why")
