"""Notebooks stay clean whatever a reader does in JupyterLab (lib/nbclean.py, tools/jupyter_server_config.json).

The committed notebooks are in their clean form; the venv's Jupyter server registers the pre-save hook;
and a save through the server of a notebook of ``notebooks/`` that holds what running it in Lab adds
(outputs, execution counts, expanded ``language_info``, view metadata, widget state) writes the committed
file back byte for byte, so ``git status`` stays clean, while an executed copy elsewhere keeps its outputs.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
from pathlib import Path

import nbformat
import pytest

from lib import nbclean, paths

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOK = "notebooks/04-align.ipynb"
VENV_CONFIG = ROOT / ".venv" / "etc" / "jupyter" / "jupyter_server_config.json"
PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_run_in_lab(nb: dict) -> dict:
    """A notebook as JupyterLab sends it to the server after opening it and running every cell."""
    nb = copy.deepcopy(nb)
    nb["metadata"]["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py", "mimetype": "text/x-python",
        "name": "python", "nbconvert_exporter": "python", "pygments_lexer": "ipython3", "version": "3.11.7"}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                               "version_minor": 0}}
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["metadata"].update({"scrolled": True, "trusted": True, "jupyter": {"outputs_hidden": False},
                                 "execution": {"iopub.execute_input": "2026-12-01T10:00:00.000Z"}})
        cell["outputs"] = [
            {"output_type": "stream", "name": "stdout", "text": "params=tiny | model=tiny\n"},
            {"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG_1PX, "text/plain": "<Image>"}},
            {"output_type": "execute_result", "execution_count": n + 1, "metadata": {},
             "data": {"text/plain": "{'sampled': False}"}}]
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_are_clean(path):
    """Each notebook is exactly what the pre-save hook writes (else Lab's first save changes it):
    `make sync-notebooks` (or `python tools/nbtools.py clean`) fixes a notebook that fails here."""
    text = path.read_text(encoding="utf-8")
    assert text == _tool("nbtools").committed_text(nbformat.reads(text, as_version=nbformat.NO_CONVERT)), \
        f"{path.name} is not in its committed form: run `make sync-notebooks`"


def test_clean_keeps_sources_ids_and_tags_and_drops_the_rest():
    nb = json.loads((ROOT / NOTEBOOK).read_text(encoding="utf-8"))
    ran = as_run_in_lab(nb)
    ran["cells"][1]["metadata"]["tags"] = ["parameters"]
    cleaned = nbclean.clean(copy.deepcopy(ran))
    assert cleaned == nb
    assert [c["source"] for c in cleaned["cells"]] == [c["source"] for c in ran["cells"]]
    code = [c for c in cleaned["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert cleaned["metadata"] == {"kernelspec": nbclean.KERNELSPEC, "language_info": {"name": "python"}}


def test_hook_cleans_only_the_project_notebooks(tmp_path):
    nb = as_run_in_lab(json.loads((ROOT / NOTEBOOK).read_text(encoding="utf-8")))

    class Manager:
        root_dir = str(ROOT)
    for path, cleaned in [(NOTEBOOK, True), ("build/tiny/04-align.ipynb", False), ("notebooks/sub/x.ipynb", False),
                          ("results/notebooks/x.ipynb", False)]:
        model = {"type": "notebook", "content": copy.deepcopy(nb)}
        nbclean.pre_save_hook(model=model, path=path, contents_manager=Manager())
        assert (model["content"]["cells"][2]["outputs"] == []) is cleaned, path
    model = {"type": "file", "format": "text", "content": "x"}
    nbclean.pre_save_hook(model=model, path="notebooks/notes.txt", contents_manager=Manager())
    assert model["content"] == "x"
    assert nbclean.is_committed_notebook(paths.NOTEBOOKS / "04-align.ipynb")


def test_the_venv_server_config_registers_the_hook():
    """`make setup` installs tools/jupyter_server_config.json into the venv (every `jupyter lab` of it)."""
    if not VENV_CONFIG.exists():
        pytest.fail(f"{VENV_CONFIG} missing: run `make setup`")
    tracked = ROOT / "tools" / "jupyter_server_config.json"
    assert json.loads(VENV_CONFIG.read_text()) == json.loads(tracked.read_text())
    assert json.loads(VENV_CONFIG.read_text())["ContentsManager"]["pre_save_hook"] == "lib.nbclean.pre_save_hook"


def _git_status(path: str) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", path], cwd=ROOT, capture_output=True,
                          text=True).stdout


def test_saving_a_notebook_run_in_lab_leaves_git_status_clean(tmp_path):
    """Through the real Jupyter server of the venv (its own config, its contents API, as Lab saves):
    the run notebook goes back byte for byte as it was, and `git status` does not change; an executed copy
    saved under build/ keeps its outputs."""
    labcheck = _tool("labcheck")
    target = ROOT / NOTEBOOK
    before, status = target.read_bytes(), _git_status(NOTEBOOK)
    executed = f"build/test-nbclean-{tmp_path.name}.ipynb"
    (ROOT / "build").mkdir(exist_ok=True)
    try:
        with labcheck.Server(app="server", log_path=tmp_path / "jupyter.log") as server:
            model = server.api("GET", f"/api/contents/{NOTEBOOK}?content=1")
            ran = as_run_in_lab(model["content"])
            server.api("PUT", f"/api/contents/{NOTEBOOK}", {"type": "notebook", "format": "json", "content": ran})
            server.api("PUT", f"/api/contents/{executed}", {"type": "notebook", "format": "json", "content": ran})
        assert target.read_bytes() == before, "saving from Lab changed the committed notebook"
        assert _git_status(NOTEBOOK) == status
        kept = nbformat.read(ROOT / executed, as_version=4)
        assert any(c.get("outputs") for c in kept.cells) and kept.metadata["language_info"].get("version")
    finally:
        target.write_bytes(before)  # whatever happened, the checkout is left as it was
        (ROOT / executed).unlink(missing_ok=True)
