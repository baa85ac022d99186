"""Benchmark worker in the main environment: builds one engine from lib and serves timing commands.

Usage (by bench/run.py): python bench/worker.py '<engine spec json>' '<artifact path or "">'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

_here = Path(__file__).resolve().parent  # import bench.* and lib.* from the checkout, no bench/ file top-level
sys.path[:] = [str(_here.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _here]

from bench.protocol import serve  # noqa: E402


def build():
    from bench.engines import EngineSpec, build_engine
    from lib import params

    spec = EngineSpec(**json.loads(sys.argv[1]))
    P = params.load(os.environ.get("BENCH_PARAMS", "minilm-l6"))
    engine = build_engine(spec, P, sys.argv[2] or None)
    return engine, {"engine": spec.key}


if __name__ == "__main__":
    serve(build)
