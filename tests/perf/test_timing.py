"""lib.perf.timing: the one interleaved latency harness (gate, Olive's metric, benchmark) and its summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.perf import timing
from lib.perf.energy import Rapl


def _timings(calls: dict[str, list[list[float]]], strings: dict[str, int], energy_j: dict[str, float] | None = None,
             ) -> timing.Timings:
    """Timings of given per-call seconds (engine -> rounds -> calls); each pass lasts the sum of its calls."""
    c = [{"engine": e, "round": r, "call": i, "seconds": s}
         for e, rounds in calls.items() for r, cs in enumerate(rounds) for i, s in enumerate(cs)]
    p = [{"engine": e, "round": r, "strings": strings[e], "seconds": sum(cs),
          "energy_j": (energy_j[e] / len(rounds)) if energy_j else np.nan}
         for e, rounds in calls.items() for r, cs in enumerate(rounds)]
    return timing.Timings(pd.DataFrame(c), pd.DataFrame(p), energy_j is not None, "", list(calls))


def test_latency_summary_hand_computed():
    """The gate's figures: ms per call over every call, strings per second, energy and CO2 per 1,000."""
    t = _timings({"a": [[0.100, 0.300]], "b": [[0.050]]}, {"a": 20, "b": 20})
    s = timing.latency_summary(t, 0.475)
    assert s.loc["a", "latency_avg_ms"] == pytest.approx(200) and s.loc["a", "latency_max_ms"] == pytest.approx(300)
    assert s.loc["a", "sentences_per_s"] == pytest.approx(20 / 0.4)
    assert np.isnan(s.loc["b", "energy_j_per_1k"]) and list(s.index) == ["a", "b"]
    e = timing.latency_summary(_timings({"a": [[0.100, 0.300]], "b": [[0.050]]}, {"a": 20, "b": 20},
                                        {"a": 36.0, "b": 0.0}), 0.5)
    # 36 J for 20 sentences = 1800 J / 1k = 0.0005 kWh -> 0.25 g CO2 at 0.5 kg/kWh
    assert e.loc["a", "energy_j_per_1k"] == pytest.approx(1800) and e.loc["a", "co2_g_per_1k"] == pytest.approx(0.25)
    assert np.isnan(timing.latency_summary(t)["co2_g_per_1k"]).all()


def test_best_round_is_the_mean_call_of_the_fastest_round():
    """Olive's latency: best-of-r (the noise of a shared CPU is additive)."""
    s = timing.latency_summary(_timings({"m": [[0.010, 0.030], [0.020, 0.020]]}, {"m": 40})).loc["m"]
    assert s["latency_best_round_ms"] == pytest.approx(20.0)
    assert (s["latency_max_ms"], s["latency_min_ms"]) == pytest.approx((30.0, 10.0))
    assert s["sentences_per_s"] == pytest.approx(1000.0)
    s = timing.latency_summary(_timings({"m": [[0.030, 0.030], [0.010, 0.030]]}, {"m": 40})).loc["m"]
    assert s["latency_best_round_ms"] == pytest.approx(20.0) and s["latency_avg_ms"] == pytest.approx(25.0)


def test_call_percentiles_and_pass_median():
    """The benchmark's figures: avg / p50 / p95 / max per call; strings per second of the median pass."""
    s = timing.latency_summary(_timings({"e": [[0.001, 0.002], [0.003, 0.010], [0.001]]}, {"e": 10})).loc["e"]
    assert s["latency_avg_ms"] == pytest.approx(3.4) and s["latency_p50_ms"] == pytest.approx(2.0)
    assert s["latency_p95_ms"] == pytest.approx(np.percentile([1, 2, 3, 10, 1], 95)) and s["calls"] == 5
    assert s["median_pass_s"] == pytest.approx(0.003) and s["sentences_per_s"] == pytest.approx(10 / 0.003)
    assert s["rounds_s"] == pytest.approx([0.003, 0.013, 0.001])
    s = timing.latency_summary(_timings({"e": [[0.001, 0.002, 0.003, 0.010]]}, {"e": 4})).loc["e"]
    assert (s["latency_avg_ms"], s["latency_p50_ms"], s["latency_max_ms"]) == pytest.approx((4.0, 2.5, 10))


def test_rounds_rotate_after_a_warm_up(tmp_path):
    log: list[tuple[str, int | None]] = []

    def engine(name: str, own_seconds: float | None = None):
        def run(limit):
            log.append((name, limit))
            return timing.Pass(7, [0.001, 0.002], own_seconds)
        return run
    t = timing.interleaved_rounds({"a": engine("a"), "b": engine("b", 5.0), "c": engine("c")}, rounds=3,
                                  warmup_strings=16, desc=None, rapl=Rapl(str(tmp_path / "none*")))
    assert log[:3] == [("a", 16), ("b", 16), ("c", 16)]
    assert [n for n, _ in log[3:]] == list("abc" "bca" "cab") and {lim for _, lim in log[3:]} == {None}
    assert len(t.calls) == 18 and set(t.passes.strings) == {7} and t.engines == ["a", "b", "c"]
    assert (t.passes[t.passes.engine == "b"].seconds == 5.0).all()        # the engine's own clock when given
    assert (t.passes[t.passes.engine == "a"].seconds < 5.0).all()
    assert not t.energy_available and t.info == {"energy_available": False, "energy_reason": t.energy_reason,
                                                 "rounds": 3}


def test_energy_is_read_around_each_pass(tmp_path):
    """RAPL counters read before and after every pass (here each pass 'uses' 2 J)."""
    d = tmp_path / "intel-rapl:0"
    d.mkdir()
    counter = d / "energy_uj"
    counter.write_text("0\n")

    def engine(limit):
        if limit is None:
            counter.write_text(f"{int(counter.read_text()) + 2_000_000}\n")
        return timing.Pass(10, [0.001])
    t = timing.interleaved_rounds({"x": engine}, rounds=2, desc=None,
                                  rapl=Rapl(str(tmp_path / "intel-rapl:[0-9]*/energy_uj")))
    assert t.energy_available and t.passes.energy_j.tolist() == [2.0, 2.0] and t.info["energy_j"] == {"x": 4.0}
    assert timing.latency_summary(t, 0.5).loc["x", "energy_j_per_1k"] == pytest.approx(200.0)


def test_timed_batches_times_each_call_and_hands_outputs_on():
    seen: list[tuple[int, int]] = []
    engine = timing.timed_batches(lambda b: sum(b), [[1, 2], [3], [4, 5, 6]], then=lambda i, out: seen.append((i, out)))
    p = engine(None)
    assert p.strings == 6 and len(p.calls) == 3 and all(s >= 0 for s in p.calls) and p.seconds is None
    assert seen == [(0, 3), (1, 3), (2, 15)]
    assert engine(3).strings == 3 and engine(1).strings == 2      # warm-up: whole batches until the limit
    assert timing.timed_batches(len, ["ab", "c"], sizes=[5, 5])(None).strings == 10


def test_latency_batches_sort_by_length():
    assert timing.latency_batches(["ccc", "a", "bb", "dddd"], 3) == [["a", "bb", "ccc"], ["dddd"]]
