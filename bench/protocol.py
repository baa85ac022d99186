"""The benchmark's worker pipe: one JSON object per line on stdin/stdout; both sides live here.

Worker side (:func:`serve`): standard library, numpy and :mod:`lib.perf.memory` (standard library only),
so the side environments (sentence-transformers, IPEX) can use it from the checkout. Coordinator side:
:class:`Worker`. Commands: {"cmd": "time", "texts": file, "limit": n}, {"cmd": "encode", "texts": file,
"out": npy}, {"cmd": "rss"}, {"cmd": "quit"}. Answers: one JSON line each; {"error": ...} on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from lib.perf.memory import peak_rss_mb, rss_mb


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
        say({"ready": True, "load_s": time.perf_counter() - t0, "rss_mb": rss_mb(),
             "peak_rss_mb": peak_rss_mb(), "torch_imported": "torch" in sys.modules, **info})
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
                say({"rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(),
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


class Worker:
    """Coordinator side: a worker process for one engine ``spec`` (an ``EngineSpec``: its key names the
    engine in errors), speaking one JSON object per line on stdin/stdout."""

    def __init__(self, spec, argv: list[str], env: dict | None = None, timeout: float = 900):
        self.spec, self.timeout = spec, timeout
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=None, text=True, env=env, bufsize=1)
        self.ready: dict = {}

    def wait_ready(self) -> dict:
        """Block until the engine is built (workers load in parallel; loading is not timed)."""
        if not self.ready:
            self.ready = self._read()
        return self.ready

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"engine {self.spec.key}: worker exited (code {self.proc.poll()}) "
                               f"before answering; see its stderr above")
        msg = json.loads(line)
        if "error" in msg:
            raise RuntimeError(f"engine {self.spec.key}: {msg['error']}")
        return msg

    def call(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call(cmd="quit")
            except (RuntimeError, BrokenPipeError, ValueError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
