"""Per-layer sensitivity and the FP32-fallback search (lib.compress.fallback); a torn search record (and the
static calibration cache it rests on) logged, removed and rebuilt."""

from __future__ import annotations

import json
import logging

import pytest

from lib import params
from lib.compress import fallback, graph


@pytest.mark.parametrize("n,answer", [(73, 18), (73, 0), (73, 1), (73, 73), (36, 5), (1, 1), (0, 0)])
def test_first_passing_finds_the_smallest_k_in_log_steps(n, answer):
    calls = []
    k, seen = fallback.first_passing(n, lambda k: calls.append(k) or k >= answer)
    assert k == answer and seen == calls and len(set(calls)) == len(calls)
    assert len(calls) <= 2 * answer.bit_length() + 2      # 11 builds for k = 18, not 19


def test_first_passing_none_when_nothing_passes_and_never_returns_a_failure():
    assert fallback.first_passing(10, lambda k: False) == (None, [0, 1, 2, 4, 8, 10])
    # not monotone: 3 passes, 4 fails, 5.. pass; the answer passes and its predecessor fails
    def ok(k: int) -> bool:
        return k == 3 or k >= 5
    k, _ = fallback.first_passing(12, ok)
    assert ok(k) and not ok(k - 1)


def test_probe_search_reaches_its_target(P, cal):
    found, sens = fallback.fallback_for(P, cal, P.smoothquant_alpha, "QOperator")
    assert len(sens) == len(graph.linear_matmuls(cal.unfused)) == 12   # 2 layers x 6 linears
    assert found.reached and found.steps[-1]["mean_cosine"] >= found.target_cosine
    again, _ = fallback.fallback_for(P, cal, P.smoothquant_alpha, "QOperator")   # cached record
    assert again == found


def test_qdq_debug_sensitivity_ranks_every_matmul_and_drives_the_search(P, cal):
    fast = fallback.layer_sensitivity_debug(P, cal, P.smoothquant_alpha, n_sentences=8)
    nodes = graph.linear_matmuls(cal.unfused)
    assert sorted(fast.node) == sorted(nodes) and (fast.loss >= 0).all() and fast.loss.notna().all()
    assert fast.loss.is_monotonic_decreasing and (fast.activation_noise > 0).all()
    Pd = params.load("tiny", sensitivity_method="qdq-debug")
    found, sens = fallback.fallback_for(Pd, cal, Pd.smoothquant_alpha, "QDQ")
    assert "activation_noise" in sens and found.keep_fp32 == list(sens.node[:len(found.keep_fp32)])
    assert found.reached


def test_unreadable_search_record_and_calibration_cache_are_rebuilt(tmp_path, caplog, data_mirror):
    """ORT trusts whatever calibration cache it finds; a torn one is logged, removed and recomputed. A torn
    search record is rebuilt the same way (lib.atomic.load_or_rebuild)."""
    from lib import params
    from lib.compress import calibration, fallback, static

    P = params.load("tiny")
    cal = calibration.prepare_calibration(P)
    cache = cal.unfused.with_name(f"{cal.unfused.stem}.calib-{cal.key}.json")
    cache.write_text('{"smooth_quant": fal')
    with caplog.at_level(logging.WARNING):
        static.static_int8(cal.unfused, tmp_path / "x.onnx", cal.feeds)
    assert str(cache) in caplog.text and json.loads(cache.read_text())        # recomputed, readable
    found, _ = fallback.fallback_for(P, cal, None, "QDQ")
    record = fallback._search_record_path(P, None, "QDQ", cal)
    record.write_text(record.read_text()[:50])
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again, _ = fallback.fallback_for(P, cal, None, "QDQ")
    assert again == found and str(record) in caplog.text
