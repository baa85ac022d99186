"""Atomic writes and the one "load, else rebuild" (lib.atomic)."""

from __future__ import annotations

import json
import logging

import pytest

from lib import atomic


def test_load_or_remove_removes_what_fails_to_load(tmp_path, caplog):
    p = tmp_path / "r.json"
    assert atomic.load_or_remove(p, json.loads) is None                     # missing
    p.write_text("{torn")
    with caplog.at_level(logging.WARNING):
        assert atomic.load_or_remove(p, lambda q: json.loads(q.read_text()), "record") is None
    assert not p.exists() and "record" in caplog.text and str(p) in caplog.text


def test_cached_json_computes_once_and_rebuilds_a_stale_object(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"v": len(calls)}
    p = tmp_path / "c.json"
    assert atomic.cached_json(p, compute) == {"v": 1}
    assert atomic.cached_json(p, compute) == {"v": 1} and len(calls) == 1

    def must_be_2(obj):
        if obj["v"] != 2:
            raise ValueError("stale")
    assert atomic.cached_json(p, compute, check=must_be_2) == {"v": 2}      # rejected, recomputed


def test_a_build_that_fails_to_load_is_raised_not_looped(tmp_path):
    p = tmp_path / "x.json"
    with pytest.raises(RuntimeError, match="freshly built"):
        atomic.load_or_rebuild(p, lambda q: json.loads(q.read_text()), lambda q: q.write_text("{"), "x")


def test_an_interrupted_write_leaves_nothing(tmp_path):
    p = tmp_path / "a.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_path(p) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
