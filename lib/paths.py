"""Every folder the compendium reads or writes, in one place (cookiecutter-data-science style).

Environment variables move the writable folders (tests point them at a temporary directory) and name
the optional public-data mirror; nothing else in ``lib`` builds a path from the project root.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params"
NOTEBOOKS = ROOT / "notebooks"


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def results_dir() -> Path:
    """Result JSON/CSV files: ``results/<params-name>/<notebook-stem>.json``."""
    return _env_path("COMPENDIUM_RESULTS", ROOT / "results")


def figures_dir() -> Path:
    """Rendered figures (PNG and PDF)."""
    return _env_path("COMPENDIUM_FIGURES", ROOT / "figures")


def build_dir() -> Path:
    """Executed notebooks, ``build/<params-name>/`` (the Makefile writes there; tests move it)."""
    return _env_path("COMPENDIUM_BUILD", ROOT / "build")


def cache_dir() -> Path:
    """Downloads, assembled models, exported ONNX files and embedding caches (git-ignored)."""
    return _env_path("COMPENDIUM_CACHE", ROOT / ".cache")


def models_dir() -> Path:
    return cache_dir() / "models"


def data_mirror() -> Path | None:
    """Local mirror of the public data tier (``COMPENDIUM_DATA_MIRROR``), or None to download."""
    value = os.environ.get("COMPENDIUM_DATA_MIRROR")
    return Path(value).expanduser().resolve() if value else None


def project_path(path: str | os.PathLike | None) -> Path | None:
    """Resolve a user path from params: absolute as given, relative to the project root otherwise."""
    if path is None or str(path) == "":
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else (ROOT / p)
