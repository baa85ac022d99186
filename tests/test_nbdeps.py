"""tools/nbdeps.py: a notebook's results depend on the lib files it imports (transitively), not all of lib."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("nbdeps", ROOT / "tools" / "nbdeps.py")
nbdeps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nbdeps)


def test_align_depends_on_search_and_engines_not_on_plots_benchmark_or_paper_tables():
    deps = set(nbdeps.notebook_dependencies("04-align"))
    assert {"lib/search/topk.py", "lib/search/align.py", "lib/formats.py", "lib/engines/ort.py",
            "lib/params.py", "lib/__init__.py"} <= deps
    assert not any(d.startswith(("lib/plots/", "lib/bench")) for d in deps)
    assert "lib/report/paper.py" not in deps and "lib/analysis/ratings.py" not in deps


def test_deferred_imports_count(tmp_path, monkeypatch):
    code = "def f():\n    from lib.search.topk import topk\n"
    assert nbdeps.imported_modules(code) == {"lib.search.topk"}
    assert "lib.search" in nbdeps.closure({"lib.search.topk"})


def test_the_makefile_uses_it():
    out = subprocess.run(["make", "-p", "-n", "-f", "Makefile", "help"], cwd=ROOT, capture_output=True,
                         text=True).stdout
    rule = next(line for line in out.splitlines() if line.startswith("results/tiny/04-align.json:"))
    assert "lib/search/topk.py" in rule and "lib/plots" not in rule and "lib/bench" not in rule
