"""Benchmark worker in the main environment: builds one engine from lib and serves timing commands.

Usage (by bench/run.py): python bench/worker.py '<engine spec json>' '<artifact path or "">'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol import serve  # noqa: E402


def build():
    from lib import params
    from lib.bench import EngineSpec, build_engine

    spec = EngineSpec(**json.loads(sys.argv[1]))
    P = params.load(os.environ.get("BENCH_PARAMS", "minilm-l6"))
    engine = build_engine(spec, P, sys.argv[2] or None)
    return engine, {"engine": spec.key}


if __name__ == "__main__":
    serve(build)
