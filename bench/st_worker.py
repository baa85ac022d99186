"""Benchmark worker in a sentence-transformers side venv (requirements/st-onnx.txt, st-openvino.txt).

Runs the peer engine as a user would: ``SentenceTransformer(folder, backend="onnx" | "openvino",
model_kwargs={"file_name": ...})`` and ``.encode(texts, batch_size=32)`` (ST sorts by length and pads
per batch itself). Per-batch latency: the module's forward is wrapped with a timer. The OpenVINO backend
gets our engine's CPU settings (``ov_config``: FP32 inference precision, not the plugin's BF16 default on
AVX512_BF16 / AMX CPUs; ``threads`` threads, one stream, LATENCY hint), so it differs from
lib.engines.openvino only in the runtime path around the model.
Usage: python bench/st_worker.py <model folder with onnx/ or openvino/ exports> <file name> <threads> [backend]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

_here = Path(__file__).resolve().parent  # bench.protocol from the checkout (it needs lib.perf.memory)
sys.path[:] = [str(_here.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _here]

from bench.protocol import serve  # noqa: E402


def model_kwargs(backend: str, file_name: str, threads: int) -> dict:
    """``SentenceTransformer(..., model_kwargs=...)`` for the backend: the file, and the runtime settings."""
    if backend == "openvino":
        return {"file_name": f"openvino/{file_name}",
                "ov_config": {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads,
                              "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}}
    return {"file_name": f"onnx/{file_name}", "provider": "CPUExecutionProvider"}


class StEngine:
    def __init__(self, folder: str, file_name: str, threads: int, batch_size: int = 32, backend: str = "onnx"):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(folder, backend=backend, device="cpu",
                                         model_kwargs=model_kwargs(backend, file_name, threads),
                                         local_files_only=True)
        self.batch_size = batch_size
        self.batch_times: list[float] = []
        inner = self.model.forward

        def timed(*a, **kw):
            t0 = time.perf_counter()
            out = inner(*a, **kw)
            self.batch_times.append(time.perf_counter() - t0)
            return out
        self.model.forward = timed

    def encode(self, texts, progress: bool = False):
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


def build():
    folder, file_name, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    backend = sys.argv[4] if len(sys.argv) > 4 else "onnx"
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import sentence_transformers
    eng = StEngine(folder, file_name, threads, backend=backend)
    f = Path(folder) / ("openvino" if backend == "openvino" else "onnx") / file_name
    return eng, {"model_bytes": f.stat().st_size, "sentence_transformers": sentence_transformers.__version__,
                 "backend": backend}


if __name__ == "__main__":
    serve(build)
