"""JupyterLab in a real browser (tools/labcheck.py, the check `make lab-check` runs), plus the Lab side of
the environment: the widget extension that draws tqdm's bars, and `make lab`'s root and URL.

The browser check needs Debian's ``chromium`` and ``chromium-driver``: it is skipped, saying so, where
they are absent, except in CI (``CI`` set), whose .ci/run installs them, where their absence fails.
Its screenshots go to ``build/lab-check/`` for a person to look at.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "lab-check"


def _has_image(path: Path) -> bool:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return any("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))


@pytest.fixture
def executed_notebook(session_dirs, run_notebook) -> Path:
    """An executed smoke run on the tiny model that draws a figure: this session's, else 01-preprocess."""
    for name in ("04-align-tiny.ipynb", "01-preprocess-tiny.ipynb"):
        path = session_dirs["build"] / name
        if path.exists() and _has_image(path):
            return path
    return run_notebook("01-preprocess")


def test_lab_in_headless_chromium(executed_notebook, tool):
    lc = tool("labcheck")
    if lc.find_browser() is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have Chromium and chromedriver (.ci/run installs them): {lc.INSTALL_HINT}")
        pytest.skip(f"no Chromium/chromedriver on PATH ({lc.INSTALL_HINT}); `make lab-check` runs the same check")
    report = lc.lab_check(executed_notebook, OUT, timeout=300)
    assert report["kernel"] == "ontoquant" and report["kernel_python"] == str(ROOT / ".venv" / "bin" / "python")
    assert [c["prompt"] for c in report["cells"]][1:] == ["[1]:", "[2]:"]
    assert report["images"] and all(i["natural"] > 0 and i["width"] <= i["pane"] + 1 for i in report["images"])
    assert report["image_viewer"]["natural"] <= report["image_viewer"]["pane"]
    assert all(m["numbers"] and not m["wrapped"] for m in report["markdown"])
    assert [Path(p).name for p in report["screenshots"]] == [
        "01-notebook-04-align.png", "02-executed-figure.png", "03-image-viewer.png", "04-markdown-table.png"]
    assert all(Path(p).stat().st_size > 10_000 for p in report["screenshots"])
    # the server and its kernels are gone (stopped by PID)
    with pytest.raises(OSError):
        os.kill(report["server"]["pid"], 0)


def test_widgets_extension_is_installed_for_tqdm_bars():
    """ipywidgets' Lab extension is what turns tqdm.auto's bars into widgets instead of stderr text."""
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "jupyter"), "labextension", "list"], capture_output=True,
                         text=True, timeout=120)
    listing = out.stdout + out.stderr
    line = next((x for x in listing.splitlines() if "@jupyter-widgets/jupyterlab-manager" in x), "")
    assert "enabled" in line and "OK" in line, listing
    import ipywidgets  # noqa: F401  (tqdm.auto falls back to text bars and a TqdmWarning without it)


def test_make_lab_serves_the_root_and_opens_notebooks():
    """`make lab` (dry run): the project root is served (build/, results/, figures/ reachable), Lab opens on
    notebooks/, and nothing but Jupyter's own output (with the real URL) is printed."""
    out = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    out = out.replace("\\\n", " ")  # one command, continued over lines
    cmd = next(line for line in out.splitlines() if "jupyter lab" in line)
    assert f'--ServerApp.root_dir="{ROOT}"' in cmd and "--LabApp.default_url=/lab/tree/notebooks" in cmd
    assert "--ip 127.0.0.1" in cmd and "echo" not in out and "<port>" not in out
