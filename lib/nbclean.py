"""What a committed notebook holds, and the Jupyter pre-save hook that keeps it that way.

The notebooks of ``notebooks/`` are committed clean: their sources, the ``parameters`` tag and the
project's kernel; no outputs, no execution counts, no view state (collapsed or scrolled outputs, cell
timings, trust), no ``language_info`` expanded by a kernel, no widget state. JupyterLab rewrites all
of these as soon as a notebook is opened, run or autosaved. :func:`pre_save_hook` runs in the Jupyter
server before every save (``make setup`` registers it in the venv's server config,
``jupyter_server_config.d/ontoquant.json``), so whatever a reader does in Lab, a notebook of
``notebooks/`` is written back in :func:`clean` form: ``git status`` stays clean and a commit made from
Lab (its terminal or a git extension) holds no output. Executed copies (``build/``) and every other
file keep their outputs: the hook only touches the folder :data:`lib.paths.NOTEBOOKS`.

Why a pre-save hook rather than an ``nbstripout`` git filter: the filter only hides outputs from git
(the file on disk keeps them, and ``git diff`` tools disagree with the editor), must be installed per
clone, and leaves ``language_info`` and view metadata unless told; the hook keeps the file itself clean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lib import paths

KERNEL = "ontoquant"
KERNELSPEC = {"display_name": f"{KERNEL} (.venv)", "language": "python", "name": KERNEL}
LANGUAGE_INFO = {"name": "python"}
# Cell metadata a committed notebook keeps (papermill's ``parameters`` tag); anything else is view state
CELL_METADATA_KEPT = ("tags",)
NBFORMAT_MINOR = 5  # cell ids (JupyterLab adds them to older notebooks, so a committed one must have them)


def clean(nb: dict[str, Any]) -> dict[str, Any]:
    """Reduce a notebook (a plain dict or an ``nbformat.NotebookNode``) to its committed form, in place.

    Sources, cell ids, cell types, attachments and non-empty ``tags`` stay; code cells lose their
    outputs and execution counts; the notebook's metadata becomes the project kernel's spec and the
    bare language name.
    """
    nb["metadata"] = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    for cell in nb.get("cells", []):
        cell["metadata"] = {k: v for k, v in (cell.get("metadata") or {}).items() if k in CELL_METADATA_KEPT and v}
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def is_committed_notebook(path: Path) -> bool:
    """A notebook of the project's ``notebooks/`` folder (the ones under version control)."""
    path = Path(path)
    return path.suffix == ".ipynb" and path.resolve().parent == paths.NOTEBOOKS.resolve()


def pre_save_hook(model: dict[str, Any], path: str, contents_manager: Any = None, **_: Any) -> None:
    """Jupyter server ``ContentsManager.pre_save_hook``: clean a notebook of ``notebooks/`` before it is
    written (``model["content"]`` is the notebook as the browser sent it; changed in place)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    root = Path(getattr(contents_manager, "root_dir", None) or ".")
    if is_committed_notebook(root / path.strip("/")):
        clean(model["content"])
