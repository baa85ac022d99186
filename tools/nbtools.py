"""Write notebook sources, and keep their parameters cells in step with the params schema.

Usage inside a small script: ``write("notebooks/04-align.ipynb", [md("..."), params("..."), code("...")])``.
Notebooks are committed clean (no outputs); papermill executes copies into build/.

``python tools/nbtools.py sync-parameters`` (``make sync-notebooks``) rewrites each notebook's cell
tagged ``parameters`` from :func:`lib.params.parameters_cell_source`, so that cell declares every
schema field (papermill then knows every key ``-f params/<name>.yaml`` injects); ``--check`` only
lists the notebooks that drifted. ``python tools/nbtools.py clean`` (also run by ``make
sync-notebooks``) writes each notebook in its committed form (:func:`lib.nbclean.clean`: no outputs,
the project kernel, no view metadata), the form JupyterLab's saves keep it in.

:func:`executed_problems` says what a reader would see wrong in an executed copy (the notebook smoke
runs check every run with it).
"""

from __future__ import annotations

import base64
import io
import re
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
    from lib import nbclean
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nbclean.clean(nb), path)


def committed_text(nb) -> str:
    """The exact text of a notebook in its committed form, as Jupyter's server writes it on save."""
    from lib import nbclean
    nb = nbclean.clean(nbformat.from_dict(nb))
    nb.nbformat_minor = max(nb.nbformat_minor, nbclean.NBFORMAT_MINOR)
    for cell in nb.cells:  # cell ids for a pre-4.5 notebook (Lab would invent them on open)
        cell.setdefault("id", nbformat.corpus.words.generate_corpus_id())
    buf = io.StringIO()
    nbformat.write(nb, buf, version=nbformat.NO_CONVERT)
    return buf.getvalue()


def clean_notebooks(paths: list[Path], check: bool = False) -> list[Path]:
    """Rewrite (or, with ``check``, only find) the notebooks that are not in their committed form."""
    unclean = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        want = committed_text(nbformat.reads(text, as_version=nbformat.NO_CONVERT))
        if text != want:
            unclean.append(path)
            if not check:
                path.write_text(want, encoding="utf-8")
    return unclean


# An executed notebook as a reader sees it: errors, anything on stderr (warnings, log lines, text progress
# bars), widgets (a progress bar keeps the text it had when drawn, "0%") and saved figures that are not
# shown inline are problems.
_WARNING = re.compile(r"\b\w*(Warning|WARNING)\b|^W\d{4} ", re.MULTILINE)


def executed_problems(path: Path, saved_pngs: list[Path] = ()) -> list[str]:
    """What is wrong in an executed notebook: an error output, a stderr stream or any text that reads as
    a warning, a widget output (batch runs draw no progress bar: ``TQDM_DISABLE``), and each figure saved
    during the run (``saved_pngs``) that is not one of its image outputs (compared byte for byte:
    :func:`lib.plots.save_figure` shows the file it wrote)."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    problems, images = [], set()
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                problems.append(f"cell {i}: error {out.get('ename')}: {out.get('evalue', '')[:200]}")
            elif kind == "stream" and out.get("name") == "stderr" and "".join(out.get("text", "")).strip():
                problems.append(f"cell {i}: stderr: {''.join(out['text']).strip()[:300]!r}")
            elif kind == "stream" and _WARNING.search("".join(out.get("text", ""))):
                problems.append(f"cell {i}: a warning on stdout: {''.join(out['text']).strip()[:300]!r}")
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                shown = "".join(data.get("text/plain", ""))[:120]
                problems.append(f"cell {i}: a widget kept as drawn (a progress bar?): {shown!r}")
            png = data.get("image/png")
            if png:
                images.add(base64.b64decode("".join(png) if isinstance(png, list) else png))
    for png in saved_pngs:
        if Path(png).read_bytes() not in images:
            problems.append(f"figure {Path(png).name} was saved but is not shown inline")
    return problems


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
    if not argv or argv[0] not in ("sync-parameters", "clean"):
        print("usage: python tools/nbtools.py {sync-parameters,clean} [--check] [NOTEBOOK ...]", file=sys.stderr)
        return 2
    check = "--check" in argv[1:]
    paths = [Path(a) for a in argv[1:] if a != "--check"] or sorted(NOTEBOOKS.glob("*.ipynb"))
    if argv[0] == "clean":
        changed, done = clean_notebooks(paths, check=check), "cleaned"
    else:
        changed, done = sync_parameters(paths, check=check), "synced"
    for path in changed:
        print(f"{'stale' if check else done}: {path}")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
