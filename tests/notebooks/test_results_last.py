"""A run that fails never looks finished (issue 25): every notebook writes its result record once, as
its last statement, and the Makefile deletes a target whose recipe failed (``.DELETE_ON_ERROR``), so a
notebook that dies after writing leaves nothing a later ``make`` calls up to date."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNEL = os.environ.get("COMPENDIUM_KERNEL", "ontoquant")  # as tests/conftest.py
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _writes_result(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "write_result"
               for n in ast.walk(node))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_writes_its_record_once_as_its_last_statement(path):
    """Before: 04-align wrote its record before the rerank cell (a failed rerank left a record with
    `rerank.enabled: true` and no rerank metrics), and six notebooks computed and showed values after
    writing theirs."""
    cells = _code_cells(path)
    writers = [i for i, src in enumerate(cells) if "write_result" in src]
    assert writers == [len(cells) - 1], f"{path.name}: write_result in code cells {writers} of {len(cells)}"
    last = ast.parse(cells[-1]).body
    assert sum(_writes_result(node) for node in last) == 1 and _writes_result(last[-1]), \
        f"{path.name}: something runs after its result is written"


def _fake_project(tmp_path: Path) -> Path:
    """A project tree for the real Makefile: a params file, a model-assembly stamp, and a notebook that
    writes its result file in one cell and fails in the next (the worst order)."""
    proj = tmp_path / "proj"
    for rel in ("requirements/torch.txt", "requirements/common.txt", "requirements/cpu.txt",
                "requirements/models.txt", "pyproject.toml"):
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        (proj / rel).write_text("# prerequisite of the setup and models rules\n", encoding="utf-8")
    (proj / "stamp").write_text("", encoding="utf-8")
    (proj / "models" / "all-mpnet-base-v2").mkdir(parents=True)
    (proj / "models" / "all-mpnet-base-v2" / "config.json").write_text("{}", encoding="utf-8")
    (proj / "params").mkdir()
    shutil.copy(ROOT / "params" / "tiny.yaml", proj / "params" / "tiny.yaml")
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": ["name = 'tiny'"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["import json, pathlib\n",
                    "out = pathlib.Path('../results/tiny/01-preprocess.json')\n",
                    "out.parent.mkdir(parents=True, exist_ok=True)\n",
                    "out.write_text(json.dumps({'notebook': '01-preprocess'}))"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["raise RuntimeError('the last cell fails')"]}],
        "metadata": {"kernelspec": {"name": KERNEL, "display_name": KERNEL, "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}
    (proj / "notebooks").mkdir()
    (proj / "notebooks" / "01-preprocess.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return proj


def test_a_failing_notebook_leaves_no_result_and_make_says_out_of_date(tmp_path, run_notebook):
    """The project's own Makefile rule (results/<model>/<nb>.json from papermill) on a notebook that writes
    its result and then fails. Before (no .DELETE_ON_ERROR): the file stayed and `make -q` called it up to
    date. ``run_notebook`` is requested only to mark this a notebook test (it starts a kernel)."""
    if shutil.which("make") is None:
        pytest.skip("make not available")
    proj = _fake_project(tmp_path)
    result = proj / "results" / "tiny" / "01-preprocess.json"
    overrides = [f"PY={sys.executable}", f"STAMP={proj / 'stamp'}", f"MODEL_DIR={proj / 'models'}", "MODELS=tiny",
                 "NB_DEPS=", f"KERNEL={KERNEL}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    make = ["make", "-f", str(ROOT / "Makefile"), "-C", str(proj), *overrides]
    run = subprocess.run([*make, "results/tiny/01-preprocess.json"], capture_output=True, text=True, env=env,
                         timeout=600)
    assert run.returncode != 0 and "the last cell fails" in run.stdout + run.stderr, run.stdout + run.stderr
    assert not result.exists(), "the failed run left its result file"
    check = subprocess.run([*make, "-q", "results/tiny/01-preprocess.json"], capture_output=True, text=True, env=env)
    assert check.returncode == 1, "make -q says the failed target is up to date"
