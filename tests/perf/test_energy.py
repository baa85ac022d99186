"""RAPL energy counters (lib.perf.energy)."""

from __future__ import annotations

import pytest

from lib.perf import energy


def test_rapl_reads_counters_and_wraps(tmp_path):
    d = tmp_path / "intel-rapl:0"
    d.mkdir()
    (d / "energy_uj").write_text("900\n")
    (d / "max_energy_range_uj").write_text("1000\n")
    r = energy.Rapl(str(tmp_path / "intel-rapl:[0-9]*" / "energy_uj"))
    assert r.available and r.read() == [900]
    assert r.joules([900], [100]) == pytest.approx(200 / 1e6)   # wrapped once
    missing = energy.Rapl(str(tmp_path / "nothing" / "energy_uj"))
    assert not missing.available and "no RAPL" in missing.reason and missing.read() is None
