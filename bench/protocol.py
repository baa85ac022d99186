"""Worker side of the benchmark protocol: one JSON object per line on stdin/stdout.

Standard library and numpy only, so the side environments (sentence-transformers, IPEX) can use it.
Commands: {"cmd": "time", "texts": file, "limit": n}, {"cmd": "encode", "texts": file, "out": npy},
{"cmd": "rss"}, {"cmd": "quit"}. Answers: one JSON line each; {"error": ...} on failure.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Callable


def _status(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _texts(path: str, limit: int | None) -> list[str]:
    texts = json.loads(Path(path).read_text(encoding="utf-8"))
    return texts[:limit] if limit else texts


def serve(build: Callable[[], tuple[object, dict]]) -> None:
    """Build the engine (timed), answer commands until "quit". Protocol lines go to the real stdout;
    everything else a library prints is sent to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def say(obj: dict) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    try:
        t0 = time.perf_counter()
        engine, info = build()
        say({"ready": True, "load_s": time.perf_counter() - t0, "rss_mb": _status("VmRSS"),
             "peak_rss_mb": _status("VmHWM"), "torch_imported": "torch" in sys.modules, **info})
    except Exception as err:  # report to the coordinator, which names the engine
        traceback.print_exc()
        say({"error": f"{type(err).__name__}: {err}"})
        return
    import numpy as np

    for line in sys.stdin:
        try:
            cmd = json.loads(line)
            if cmd["cmd"] == "quit":
                say({"bye": True})
                return
            if cmd["cmd"] == "rss":
                say({"rss_mb": _status("VmRSS"), "peak_rss_mb": _status("VmHWM"),
                     "torch_imported": "torch" in sys.modules})
                continue
            texts = _texts(cmd["texts"], cmd.get("limit"))
            times = engine.batch_times
            del times[:]
            t0 = time.perf_counter()
            vec = engine.encode(texts, progress=False)
            secs = time.perf_counter() - t0
            if cmd["cmd"] == "encode":
                np.save(cmd["out"], np.asarray(vec, dtype=np.float32))
            say({"seconds": secs, "n": len(texts), "batch_s": list(times)})
        except Exception as err:
            traceback.print_exc()
            say({"error": f"{type(err).__name__}: {err}"})
