"""Write notebook sources, and keep their parameters cells in step with the params schema.

Usage inside a small script: ``write("notebooks/04-align.ipynb", [md("..."), params("..."), code("...")])``.
Notebooks are committed clean (no outputs); papermill executes copies into build/.

``python tools/nbtools.py sync-parameters`` (``make sync-notebooks``) rewrites each notebook's cell
tagged ``parameters`` from :func:`lib.params.parameters_cell_source`, so that cell declares every
schema field (papermill then knows every key ``-f params/<name>.yaml`` injects); ``--check`` only
lists the notebooks that drifted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def md(src: str):
    return nbformat.v4.new_markdown_cell(src.strip())


def code(src: str):
    return nbformat.v4.new_code_cell(src.strip())


def params(src: str):
    cell = nbformat.v4.new_code_cell(src.strip())
    cell.metadata["tags"] = ["parameters"]
    return cell


def write(path: str, cells: list) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "ontoquant", "display_name": "ontoquant (.venv)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)


def parameters_cell(nb) -> "nbformat.NotebookNode":
    """The first cell tagged ``parameters`` (the one papermill injects after)."""
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    raise ValueError("no cell tagged 'parameters'")


def expected_parameters_source(source: str) -> str:
    """What the parameters cell should hold: the schema block regenerated, the notebook's own lines kept."""
    from lib import params as schema
    return schema.parameters_cell_source(schema.own_parameter_lines(source))


def sync_parameters(paths: list[Path], check: bool = False) -> list[Path]:
    """Rewrite (or, with ``check``, only find) the notebooks whose parameters cell is not the generated one.

    Only that cell's source changes: its id, tags and metadata and every other cell stay as they are.
    """
    stale = []
    for path in paths:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        cell = parameters_cell(nb)
        want = expected_parameters_source(cell.source)
        if cell.source != want:
            stale.append(path)
            if not check:
                cell.source = want
                nbformat.write(nb, path)
    return stale


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "sync-parameters":
        print("usage: python tools/nbtools.py sync-parameters [--check] [NOTEBOOK ...]", file=sys.stderr)
        return 2
    check = "--check" in argv[1:]
    paths = [Path(a) for a in argv[1:] if a != "--check"] or sorted(NOTEBOOKS.glob("*.ipynb"))
    stale = sync_parameters(paths, check=check)
    for path in stale:
        print(f"{'stale' if check else 'synced'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
