"""Write a notebook source from a list of cells: used by contributors to create notebooks.

Usage inside a small script: ``write("notebooks/04-align.ipynb", [md("..."), params("..."), code("...")])``.
Notebooks are committed clean (no outputs); papermill executes copies into build/.
"""

from __future__ import annotations

import nbformat


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
