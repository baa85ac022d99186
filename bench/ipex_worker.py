"""The paper's IPEX route, in the IPEX side venv (requirements/ipex.txt; built by bench/side_env.sh ipex).

Two steps, each its own process (bench/run.py starts them), so that the serving process's peak memory is
the engine's own, as for the other engines whose artifacts are built before their worker starts:

``build``: make the engine and save it as a frozen TorchScript file (``torch.jit.save``):
- mode ``bf16``: ``ipex.optimize(model, dtype=torch.bfloat16)``, then ``torch.jit.trace`` +
  ``torch.jit.freeze`` under CPU autocast (BF16);
- mode ``int8-sq``: IPEX static INT8 SmoothQuant (``get_smooth_quant_qconfig_mapping(alpha)``,
  ``prepare``), calibrated on fixed-length batches of the calibration sentences lib.compress uses (the
  coordinator computes them and passes a JSON file, with lib.compress's batch size and padding length),
  ``convert``, then trace + freeze.
``serve``: ``torch.jit.load`` the file and answer bench/protocol.py's commands. Encoding is lib.engines's:
strings sorted by token length and cut into batches of at most ``token_budget`` padded tokens (dynamic
padding), masked mean pooling, L2-normalised; per-batch latency is the model call alone.

Runs with torch 2.8 + IPEX 2.8 + transformers 4.51 (never the main venv: IPEX aborts beside torch 2.13),
so it imports only torch, intel_extension_for_pytorch, transformers, numpy, bench/protocol.py and the
standard-library or numpy-only lib modules (lib.engines.batching, lib.perf.memory).
Usage: python bench/ipex_worker.py build|serve '<json config>'  (keys: see bench.engines.ipex_config)
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

_here = Path(__file__).resolve().parent  # bench.protocol, lib.engines.batching (numpy only) from the checkout
sys.path[:] = [str(_here.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _here]

from bench.protocol import serve  # noqa: E402

from lib.engines.batching import (  # noqa: E402
    DYNAMIC_PADDING_POOLINGS,
    pad_batch,
    pool,
    token_budget_batches,
)

MODES = ("bf16", "int8-sq")
EXAMPLE_TEXT = "the patient has a small head and long fingers"


def _setup(cfg: dict):
    """Threads, then IPEX (its import registers the custom ops a saved IPEX module needs)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(cfg["threads"]))
    import torch
    torch.set_num_threads(int(cfg["threads"]))
    import intel_extension_for_pytorch as ipex
    if cfg["mode"] not in MODES:
        raise ValueError(f"unknown IPEX mode {cfg['mode']!r} (known: {', '.join(MODES)})")
    return torch, ipex


def _feeds(tokenizer, texts: list[str], seq_len: int) -> tuple:
    import torch
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=seq_len, return_tensors="pt")
    ids = enc["input_ids"].long()
    return ids, enc["attention_mask"].long(), torch.zeros_like(ids)


def calibration_batches(tokenizer, texts: list[str], batch_size: int, seq_len: int) -> list[tuple]:
    """Fixed-shape feeds as lib.compress.calibration.text_feeds: the last batch is completed with the first
    sentences again, every batch padded to ``seq_len``."""
    n_batches = max(1, -(-len(texts) // batch_size))
    padded = (texts * (1 + n_batches * batch_size // max(len(texts), 1)))[:n_batches * batch_size]
    return [_feeds(tokenizer, padded[i * batch_size:(i + 1) * batch_size], seq_len) for i in range(n_batches)]


def build(cfg: dict) -> dict:
    """Make the engine (mode bf16 or int8-sq) and save it to ``cfg['artifact']``; returns what was done."""
    torch, ipex = _setup(cfg)
    from transformers import AutoModel, AutoTokenizer

    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(cfg["model_dir"])
    base = AutoModel.from_pretrained(cfg["model_dir"], attn_implementation="eager").eval()

    class Hidden(torch.nn.Module):
        """Positional (input_ids, attention_mask, token_type_ids) -> last hidden state (traceable)."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids, return_dict=False)[0]

    model = Hidden(base).eval()
    info: dict = {"mode": cfg["mode"], "ipex": ipex.__version__, "torch": torch.__version__}
    if cfg["mode"] == "int8-sq":
        from intel_extension_for_pytorch.quantization import convert, prepare

        texts = json.loads(Path(cfg["calibration"]).read_text(encoding="utf-8"))
        calib = calibration_batches(tokenizer, texts, int(cfg["calibration_batch_size"]),
                                    int(cfg["calibration_seq_len"]))
        example = calib[0]
        alpha = float(cfg["alpha"])
        qconfig = ipex.quantization.get_smooth_quant_qconfig_mapping(alpha=alpha)
        prepared = prepare(model, qconfig, example_inputs=example, inplace=False)
        with torch.no_grad():
            for b in calib:
                prepared(*b)
        qmodel = convert(prepared)
        with torch.no_grad():
            traced = torch.jit.freeze(torch.jit.trace(qmodel, example, check_trace=False, strict=False))
            traced(*example)
        info.update(alpha=alpha, calibration_sentences=len(texts), calibration_batches=len(calib),
                    calibration_shape=list(example[0].shape))
    else:
        example = _feeds(tokenizer, [EXAMPLE_TEXT] * 8, 32)
        model = ipex.optimize(model, dtype=torch.bfloat16)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            traced = torch.jit.freeze(torch.jit.trace(model, example, check_trace=False, strict=False))
            traced(*example)
    out = Path(cfg["artifact"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.jit.save(traced, str(tmp))
    tmp.replace(out)  # a file that exists is complete (the coordinator reuses it)
    info.update(artifact=str(out), model_bytes=out.stat().st_size, build_s=time.perf_counter() - t0)
    return info


class IpexEngine:
    """A saved IPEX module with ``encode(texts)`` and ``batch_times`` (seconds per model call)."""

    def __init__(self, cfg: dict):
        torch, _ = _setup(cfg)
        from transformers import AutoTokenizer

        self.torch = torch
        self.max_length = int(cfg["max_length"])
        self.token_budget = int(cfg["token_budget"])
        self.pooling = cfg.get("pooling", "mean")
        if self.pooling not in DYNAMIC_PADDING_POOLINGS:
            raise ValueError(f"pooling {self.pooling!r} is not run by the IPEX worker (dynamic padding only)")
        self.autocast = cfg["mode"] == "bf16"
        self.batch_times: list[float] = []
        self.tokenizer = AutoTokenizer.from_pretrained(cfg["model_dir"])
        self.pad_id = self.tokenizer.pad_token_id or 0
        self.model = torch.jit.load(cfg["artifact"]).eval()
        example = _feeds(self.tokenizer, [EXAMPLE_TEXT] * 8, 32)
        for _ in range(3):  # TorchScript optimises the graph (and IPEX fuses) on the first calls
            self._call(*example)
        gc.collect()

    def _call(self, ids, mask, token_types):
        torch = self.torch
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            return self.model(ids, mask, token_types)

    def forward(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ids = self.torch.from_numpy(input_ids)
        t0 = time.perf_counter()
        out = self._call(ids, self.torch.from_numpy(mask), self.torch.zeros_like(ids)).float().numpy()
        self.batch_times.append(time.perf_counter() - t0)
        return out

    def encode(self, texts, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        out = None
        for idx in token_budget_batches(lengths, self.token_budget, self.token_budget):
            input_ids, mask = pad_batch([ids[i] for i in idx], pad_id=self.pad_id)
            vec = pool(self.forward(input_ids, mask), mask, self.pooling)
            if out is None:
                out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
            out[idx] = vec
        return out


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("build", "serve"):
        raise SystemExit("usage: python bench/ipex_worker.py build|serve '<json config>'")
    cfg = json.loads(argv[1])
    if argv[0] == "build":
        info = build(cfg)
        print(json.dumps(info))  # last stdout line: read by bench/run.py
        return

    def make():
        eng = IpexEngine(cfg)
        return eng, {"engine": f"ipex-{cfg['mode']}", "mode": cfg["mode"], "artifact": cfg["artifact"],
                     "threads": eng.torch.get_num_threads()}
    serve(make)


if __name__ == "__main__":
    main(sys.argv[1:])
