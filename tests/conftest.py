"""Shared test fixtures: isolated output folders and a papermill runner for notebook smoke runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KERNEL = os.environ.get("COMPENDIUM_KERNEL", "ontoquant")


@pytest.fixture(scope="session")
def session_dirs(tmp_path_factory) -> dict[str, Path]:
    """One results/figures/cache tree for the whole session (the tiny model is built once)."""
    base = tmp_path_factory.mktemp("compendium")
    dirs = {k: base / k for k in ("results", "figures", "cache", "build", "fixtures")}
    for d in dirs.values():
        d.mkdir()
    return dirs


@pytest.fixture(scope="session")
def tiny_dir(session_dirs) -> Path:
    """The tiny random encoder's folder (seed 0), built once in the session's cache."""
    from lib.engines.hub import build_tiny_model
    return build_tiny_model(session_dirs["cache"] / "models" / "tiny-seed0", seed=0)


@pytest.fixture(autouse=True)
def isolated_outputs(session_dirs, monkeypatch):
    """Never write into the real results/figures/cache folders from a test."""
    monkeypatch.setenv("COMPENDIUM_RESULTS", str(session_dirs["results"]))
    monkeypatch.setenv("COMPENDIUM_FIGURES", str(session_dirs["figures"]))
    monkeypatch.setenv("COMPENDIUM_CACHE", str(session_dirs["cache"]))
    monkeypatch.setenv("COMPENDIUM_BUILD", str(session_dirs["build"]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OLIVE_DISABLE_TELEMETRY", "1")
    yield


@pytest.fixture
def results_dir(tmp_path, monkeypatch) -> Path:
    """A results (and build) folder of this test alone: the session one is shared with notebook smoke
    runs, whose records a test of result files must not see."""
    out = tmp_path / "results"
    monkeypatch.setenv("COMPENDIUM_RESULTS", str(out))
    monkeypatch.setenv("COMPENDIUM_BUILD", str(tmp_path / "build"))
    return out


def mirror_beside_checkout() -> Path | None:
    """The public-data mirror that CI and sessions lay beside the checkout (``../shared/data``)."""
    mirror = ROOT.parent / "shared" / "data"
    return mirror if (mirror / "SHA256SUMS").exists() else None


@pytest.fixture
def data_mirror(monkeypatch) -> Path:
    """The public data (STS-b, BIOSSES, HPO French) without internet: ``COMPENDIUM_DATA_MIRROR`` when
    set, else the mirror beside the checkout; a test that needs it is skipped when there is none.
    The one place tests discover the mirror."""
    configured = os.environ.get("COMPENDIUM_DATA_MIRROR")
    if configured:
        return Path(configured)
    mirror = mirror_beside_checkout()
    if mirror is None:
        pytest.skip("no public-data mirror: set COMPENDIUM_DATA_MIRROR (e.g. to ../shared/data)")
    monkeypatch.setenv("COMPENDIUM_DATA_MIRROR", str(mirror))
    return mirror


@pytest.fixture(scope="session")
def licensed_fixtures(session_dirs) -> dict[str, Path]:
    """Synthetic files in the exact licensed formats (MRCONSO, LEX, DEFT XML, MedSTS)."""
    from lib.data import fixtures
    return fixtures.write_all(session_dirs["fixtures"])


def load_tool(name: str):
    """tools/<name>.py (scripts outside the lib package: nbtools, labcheck, ...), loaded once per session."""
    import importlib.util
    import sys
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


@pytest.fixture(scope="session")
def tool():
    """:func:`load_tool` for tests: ``tool("labcheck")``."""
    return load_tool


@pytest.fixture
def pinned_or_skip(monkeypatch):
    """A pinned public file as this machine holds it (the project's own cache; the data mirror too when
    ``mirror``), never downloaded: the real-data tests run where the file was fetched and skip, naming the
    command that fetches it, where it was not."""
    def get(fetch: Callable[..., Path], what: str, command: str, mirror: bool = False) -> Path:
        monkeypatch.setenv("COMPENDIUM_CACHE", str(ROOT / ".cache"))
        if not mirror:
            monkeypatch.delenv("COMPENDIUM_DATA_MIRROR", raising=False)
        try:
            return fetch(download=False)
        except FileNotFoundError:
            pytest.skip(f"{what} not fetched ({command})")
    return get


def _pngs() -> dict[Path, int]:
    from lib import paths
    return {p: p.stat().st_mtime_ns for p in paths.figures_dir().rglob("*.png")}


@pytest.fixture
def run_notebook(session_dirs, monkeypatch):
    """Execute notebooks/<stem>.ipynb with papermill on params/tiny.yaml (plus overrides), as `make` does
    (no progress bars: TQDM_DISABLE), then check the executed copy as a reader sees it: no error, nothing
    on stderr, no warning, and every figure the run saved shown inline (``nbtools.executed_problems``)."""
    import papermill as pm

    def run(stem: str, params_name: str = "tiny", **parameters) -> Path:
        out = session_dirs["build"] / f"{stem}-{params_name}.ipynb"
        params = {"name": params_name, **parameters}
        monkeypatch.setenv("TQDM_DISABLE", "1")
        before = _pngs()
        pm.execute_notebook(str(ROOT / "notebooks" / f"{stem}.ipynb"), str(out),
                            parameters=params, kernel_name=KERNEL, cwd=str(ROOT / "notebooks"),
                            progress_bar=False)
        saved = [p for p, mtime in _pngs().items() if before.get(p) != mtime]
        problems = load_tool("nbtools").executed_problems(out, saved)
        assert not problems, f"executed {out.name}:\n" + "\n".join(problems)
        return out
    return run


def pytest_collection_modifyitems(config, items):
    """Every test that executes a notebook (through ``run_notebook``) is marked ``notebook``, so
    ``make test-fast`` (``-m "not notebook"``) runs the unit tests alone without a list to maintain."""
    for item in items:
        if "run_notebook" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.notebook)
