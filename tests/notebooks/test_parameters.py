"""Every notebook's parameters cell declares every params field, generated from the schema.

Why: papermill warns "Passed unknown parameter" for each injected key the cell does not declare, and
`-f params/<name>.yaml` injects every key of the file. The cells are generated (`make sync-notebooks`),
so a schema change without a resync fails here; from_globals must not take the cell's defaults for
overrides. Inspection only: no notebook is executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
import yaml

from lib import params, paths

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PARAMS_FILES = sorted(paths.PARAMS.glob("*.yaml"))


@pytest.fixture(scope="module")
def nbtools(tool):
    return tool("nbtools")


def _cell_source(nbtools, path: Path) -> str:
    return nbtools.parameters_cell(nbformat.read(path, as_version=nbformat.NO_CONVERT)).source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_the_generated_one(path, nbtools):
    assert _cell_source(nbtools, path) == nbtools.expected_parameters_source(_cell_source(nbtools, path)), \
        f"{path.name}: parameters cell differs from the schema; run `make sync-notebooks`"


def test_changing_a_schema_default_without_resync_is_caught(monkeypatch, nbtools):
    """The drift test above has teeth: a changed default makes every notebook stale."""
    monkeypatch.setattr(params.Params.model_fields["top_k"], "default", 11)
    assert nbtools.sync_parameters(NOTEBOOKS, check=True) == NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_knows_every_params_key_and_every_cell_variable(path, nbtools):
    """What papermill's own inspection declares (its "unknown parameter" check) covers every key of
    every params file and every name the cell assigns (a second '=' on a line hides it)."""
    import papermill

    declared = set(papermill.inspect_notebook(str(path)))
    assigned = {t.id for node in ast.parse(_cell_source(nbtools, path)).body if isinstance(node, ast.Assign)
                for t in node.targets}
    assert assigned <= declared, f"{path.name}: papermill cannot parse {sorted(assigned - declared)}"
    for f in PARAMS_FILES:
        unknown = set(yaml.safe_load(f.read_text(encoding="utf-8"))) - declared
        assert not unknown, f"{path.name} -f {f.name}: papermill would warn about {sorted(unknown)}"


def test_generated_defaults_are_the_schema_defaults():
    values = {}
    exec(params.parameters_cell_source("knob = 1  # kept"), {}, values)
    assert values.pop("knob") == 1
    assert values == params.cell_defaults() and list(values) == list(params.Params.model_fields)
    assert values["name"] == params.DEFAULT_NAME and values["model"] is None


def test_sync_keeps_the_notebooks_own_settings_and_is_idempotent():
    own = 'second_model = ""   # params name of the second model\nmodels = [\n    "a",\n]  # multi-line'
    src = params.parameters_cell_source(own)
    assert params.own_parameter_lines(src) == own
    assert params.own_parameter_lines('name = "x"  # old cell\n' + own) == own  # the pre-generator cells
    assert params.parameters_cell_source(params.own_parameter_lines(src)) == src


def test_from_globals_does_not_take_cell_defaults_for_overrides():
    """A namespace holding the cell's defaults plus name='tiny' is exactly params/tiny.yaml."""
    ns = {**params.cell_defaults(), "name": "tiny"}
    assert params.from_globals(ns) == params.load("tiny")
    ns["max_sources"] = 7  # a value that differs from default and file is an override
    assert params.from_globals(ns) == params.load("tiny", max_sources=7)


def test_from_globals_reads_papermills_injected_cell():
    """Run the cell, then papermill's injected cell, as the kernel would: exactly the injected keys count,
    including one set back to the schema default (tiny.yaml samples 60 sources; -p max_sources None)."""
    from papermill.translators import translate_parameters

    cell = params.parameters_cell_source()
    only_name = translate_parameters("ontoquant", "python", {"name": "tiny"}, "Parameters")
    ns: dict = {}
    for src in (cell, only_name):
        exec(src, ns)
    ns["In"] = ["", cell, only_name, "P = params.from_globals(globals())"]
    assert params.from_globals(ns) == params.load("tiny")

    injected = translate_parameters("ontoquant", "python", {**yaml.safe_load(
        (paths.PARAMS / "tiny.yaml").read_text(encoding="utf-8")), "max_sources": None}, "Parameters")
    exec(injected, ns)
    ns["In"] = ["", cell, injected, "P = params.from_globals(globals())"]
    assert params.load("tiny").max_sources == 60
    assert params.from_globals(ns) == params.load("tiny", max_sources=None)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_import_shadows_a_params_key(path):
    """``from lib.compress import alpha_sweep`` in a notebook replaced the injected ``alpha_sweep`` list by a
    module before ``from_globals`` read it (a real run with params/minilm-l6.yaml failed; tiny.yaml, which
    does not set the key, passed): no notebook may import a name that is a params key."""
    import ast

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    bound = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    shadowed = sorted(bound & set(params.Params.model_fields))
    assert not shadowed, f"{path.name} imports {shadowed}, params keys: import them under other names"
