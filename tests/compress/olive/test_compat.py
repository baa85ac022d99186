"""Olive 0.13 shims (lib.compress.olive.compat): each still needed (the bug is there unpatched) and still working."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lib.compress.olive import compat as olive_compat
from lib.compress.olive import metric as olive_metric

_REPRO = r"""
import json, os, sys
os.environ["OLIVE_DISABLE_TELEMETRY"] = "1"
from olive.engine.footprint import FootprintNode
from olive.evaluator.metric import Metric
from olive.workflows.run.config import RunEngineConfig
from lib.compress.olive import compat as olive_compat

METRIC = {"name": "q", "type": "custom",
          "sub_types": [{"name": "s", "priority": 1, "higher_is_better": True}],
          "user_config": {"user_script": sys.argv[1], "evaluate_func": "olive_evaluate"}}

def alias():  # bug 1
    FootprintNode(model_id="m", model_config={"type": "A"}).update(model_config={"type": "B"})

def backend():  # bug 2
    Metric(**METRIC).to_json()

def sub_metric():  # bug 3
    Metric(**METRIC).sub_types[0].model_dump()

def user_config():  # bug 4
    eng = RunEngineConfig(evaluator={"metrics": [METRIC]}).create_engine(None, "w")
    assert eng.evaluator_config.metrics[0].user_config.evaluate_func == "olive_evaluate", "lost"

CHECKS = {"footprint_model_config_alias": [alias], "metric_serializers_none": [backend, sub_metric],
          "config_dump_as_any": [user_config]}

def run(checks):
    out = []
    for fn in checks:
        try:
            fn()
            out.append("ok")
        except Exception as e:
            out.append(f"{type(e).__name__}: {e}")
    return out

res = {"unpatched": {}, "patched": {}}
# each bug before its own shim, after the earlier ones (bug 2 would otherwise hide bug 4)
for name in olive_compat.SHIMS:  # shims applied in order, so bug 4 is seen past bug 2
    res["unpatched"][name] = run(CHECKS[name])
    olive_compat.apply([name])
for name in olive_compat.SHIMS:
    res["patched"][name] = run(CHECKS[name])
print(json.dumps(res))
"""


@pytest.fixture(scope="module")
def shim_checks(tmp_path_factory) -> dict:
    """Each bug reproduced without its shim, then checked with it, in a fresh interpreter (the shims
    patch Olive's classes process-wide)."""
    env = {**os.environ, "OLIVE_DISABLE_TELEMETRY": "1"}
    proc = subprocess.run([sys.executable, "-c", _REPRO, olive_metric.__file__],
                          cwd=tmp_path_factory.mktemp("shims"), capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not olive_compat.needs_shims(), reason="shims target olive-ai 0.13.* only")
def test_shims_still_needed(shim_checks):
    """Fails when Olive fixes a bug upstream: then delete that shim from lib/olive_compat.py."""
    res = shim_checks["unpatched"]
    fixed = [k for k, v in res.items() if "ok" in v]
    assert not fixed, f"olive-ai {olive_compat.olive_version()} fixed {fixed}: remove those shims"
    assert "has no field" in res["footprint_model_config_alias"][0]
    assert all("model_dump" in r for r in res["metric_serializers_none"])
    assert "lost" in res["config_dump_as_any"][0]


@pytest.mark.skipif(not olive_compat.needs_shims(), reason="shims target olive-ai 0.13.* only")
def test_shims_work(shim_checks):
    assert all(r == ["ok"] * len(r) for r in shim_checks["patched"].values()), shim_checks["patched"]
    assert set(shim_checks["patched"]) == set(olive_compat.SHIMS)


def test_shims_are_version_guarded():
    assert olive_compat.needs_shims("0.13.0") and olive_compat.needs_shims("0.13.2")
    assert not olive_compat.needs_shims("0.14.0") and not olive_compat.needs_shims("0.12.9")
