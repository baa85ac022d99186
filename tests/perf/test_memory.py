"""lib.perf.memory: resident set and its peak, read the same way by every benchmark worker."""

from __future__ import annotations

import ast
import math
from pathlib import Path

from lib.perf import memory

STATUS = "Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t4\n"


def test_rss_and_peak_from_a_status_file(tmp_path):
    f = tmp_path / "status"
    f.write_text(STATUS)
    assert memory.rss_mb(f) == 100.0 and memory.peak_rss_mb(f) == 200.0


def test_without_proc_rss_is_nan_and_peak_falls_back_to_getrusage(tmp_path):
    missing = tmp_path / "no-status"
    assert math.isnan(memory.rss_mb(missing))
    assert memory.peak_rss_mb(missing) > 0            # ru_maxrss of this very process
    assert memory.reset_peak_rss(tmp_path / "no-dir" / "clear_refs") is False


def test_this_process():
    """Both read (the kernel updates VmHWM lazily, so the peak may briefly lag the current RSS)."""
    assert memory.peak_rss_mb() > 0 and memory.rss_mb() > 0


def test_standard_library_only():
    """bench/protocol.py imports it in the side venvs (sentence-transformers, IPEX) from the checkout."""
    src = Path(memory.__file__).read_text()
    mods = {n.module if isinstance(n, ast.ImportFrom) else a.name
            for n in ast.walk(ast.parse(src)) if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in (n.names if isinstance(n, ast.Import) else [None])}
    assert mods <= {"__future__", "resource", "pathlib"}, mods
