"""Benchmark plumbing for ``make bench``: engines, interleaved timing, memory, GEMM ceiling, search.

Design (why): every engine runs in its own worker process (``bench/worker.py`` in this venv,
``bench/st_worker.py`` in the sentence-transformers side venv, ``bench/ipex_worker.py`` in the IPEX side
venv: the paper's IPEX BF16 / static INT8 SmoothQuant route) so its peak RSS is its own; the
coordinator sends "time one round" commands to one worker at a time, rotating the order each round,
so all engines see the same machine state (interleaved rounds) and the median is reported.
Artifacts are resolved in the coordinator (building them may import torch); workers only load files.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from lib import atomic, paths
from lib.engines.batching import DYNAMIC_PADDING_POOLINGS
from lib.params import Params

log = logging.getLogger("lib.bench")

GB = 1024 ** 3
MB = 1024 ** 2

# ---------------------------------------------------------------------------------------------
# Process memory


def peak_rss_mb() -> float:
    """Peak resident set of this process (VmHWM; ru_maxrss where /proc is missing), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``echo 5 > /proc/self/clear_refs``) so a phase is measured alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Texts


@dataclass
class BenchTexts:
    """The same strings for every engine: a timing sample and the quality set (sampled, see info)."""

    timing: list[str]
    targets: list[str]
    target_codes: list[str]
    sources: list[str]
    gold: list[tuple[str, ...]]
    info: dict = field(default_factory=dict)


def bench_texts(n_timing: int = 5000, seed: int = 0, max_targets: int | None = None,
                max_sources: int | None = None) -> BenchTexts:
    """HPO target strings (timing sample) and the quality set: lay terms with gold HPO ids against
    targets, sampled by :func:`lib.data.tiers.sample_alignment` (gold targets always kept, counts in info)."""
    from lib.data.hpo import load_hpo
    from lib.data.tiers import sample_alignment

    hpo = load_hpo()
    rng = np.random.default_rng(seed)
    all_targets = hpo.targets["STR"].astype(str).tolist()
    pick = rng.choice(len(all_targets), min(n_timing, len(all_targets)), replace=False)
    timing = [all_targets[i] for i in pick]
    lex, tg, sample = sample_alignment(hpo.lexicon, hpo.targets, max_sources or None, max_targets or None, seed)
    info = {"hpo_version": hpo.version, "n_timing": len(timing), "n_targets": len(tg),
            "n_sources": len(lex), "seed": seed, "quality_sample": sample}
    return BenchTexts(timing, tg["STR"].astype(str).tolist(), tg["CODE"].astype(str).tolist(),
                      lex["source_text"].astype(str).tolist(), [tuple(g) for g in lex["gold_hpos"]], info)


def token_lengths(tokenizer_dir: Path, texts: Sequence[str], max_length: int) -> np.ndarray:
    """Real (unpadded) token counts per string, special tokens included."""
    from lib.engines.ort import load_fast_tokenizer

    tok = load_fast_tokenizer(tokenizer_dir, max_length)
    return np.array([len(e.ids) for e in tok.encode_batch(list(texts))], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# MatMul operation counting


def linear_macs_per_token(onnx_path: Path) -> dict[str, Any]:
    """Multiply-accumulates per token of the weight MatMuls (2-D initializer as the B input).

    Read from the graph so the count is the model's own; works on unfused graphs (MatMul/Gemm) and
    on quantized ones (MatMulInteger, QLinearMatMul: the weight is then input 1 or 3).
    """
    import onnx
    from onnx import numpy_helper  # noqa: F401  (shapes from dims only)

    m = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name: tuple(i.dims) for i in m.graph.initializer}
    total, shapes = 0, []
    for node in m.graph.node:
        if node.op_type in ("MatMul", "MatMulInteger", "Gemm"):
            w = node.input[1] if len(node.input) > 1 else ""
        elif node.op_type == "QLinearMatMul":
            w = node.input[3]
        else:
            continue
        dims = inits.get(w)
        if dims is None or len(dims) != 2:
            continue
        k, n = dims
        if node.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in node.attribute):
            n, k = dims
        total += k * n
        shapes.append((int(k), int(n)))
    return {"macs_per_token": int(total), "n_matmuls": len(shapes), "shapes": shapes}


def attention_macs(lengths: np.ndarray, layers: int, hidden: int) -> int:
    """Q.K^T and A.V per sequence: 2 * L^2 * hidden MACs per layer (sequence-dependent part)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return int(2 * layers * hidden * np.sum(lengths ** 2))


def model_ops(lengths: np.ndarray, macs_per_token: int, layers: int, hidden: int) -> dict[str, int]:
    """Operations (2 per MAC) on real tokens: the linear MatMuls and the attention products."""
    linear = 2 * macs_per_token * int(np.sum(lengths))
    attn = 2 * attention_macs(lengths, layers, hidden)
    return {"linear_ops": linear, "attention_ops": attn, "total_ops": linear + attn,
            "tokens": int(np.sum(lengths))}


# ---------------------------------------------------------------------------------------------
# GEMM ceiling


def _time_call(fn: Callable[[], Any], min_time: float = 0.2, repeats: int = 5) -> float:
    """Median seconds per call, each sample long enough to dwarf timer overhead."""
    fn()
    n, t0 = 1, time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-6)
    n = max(1, int(min_time / one))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def _ort_gemm_session(M: int, K: int, N: int, int8: bool, threads: int):
    """One-node ONNX graph: MatMul (FP32) or MatMulInteger u8 x s8 (what dynamic INT8 runs)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if int8:
        w = numpy_helper.from_array(rng.integers(-127, 128, (K, N), dtype=np.int8), "B")
        azp = numpy_helper.from_array(np.array(128, np.uint8), "azp")
        bzp = numpy_helper.from_array(np.array(0, np.int8), "bzp")
        node = helper.make_node("MatMulInteger", ["A", "B", "azp", "bzp"], ["Y"])
        a_type, y_type, inits = TensorProto.UINT8, TensorProto.INT32, [w, azp, bzp]
    else:
        w = numpy_helper.from_array(rng.standard_normal((K, N), dtype=np.float32), "B")
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        a_type, y_type, inits = TensorProto.FLOAT, TensorProto.FLOAT, [w]
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("A", a_type, [M, K])],
                              [helper.make_tensor_value_info("Y", y_type, [M, N])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    a = (rng.integers(0, 256, (M, K), dtype=np.uint8) if int8
         else rng.standard_normal((M, K), dtype=np.float32))
    return lambda: sess.run(None, {"A": a})


def gemm_ceiling(shapes: Sequence[tuple[int, int]], rows: Sequence[int] = (256, 2048),
                 threads: int | None = None, backends: Sequence[str] = ("ort", "torch", "numpy")
                 ) -> dict[str, Any]:
    """Throughput of FP32 / INT8 (/ BF16) GEMMs on the model's weight shapes, ops per second.

    For each backend, dtype and row count M, times one pass over the distinct (K, N) weight shapes
    (as many times as the model has them) and reports 2*M*K*N / seconds; the ceiling is the best.
    """
    threads = threads or os.cpu_count() or 1
    counts: dict[tuple[int, int], int] = {}
    for s in shapes:
        counts[tuple(s)] = counts.get(tuple(s), 0) + 1
    runs: list[dict] = []

    def measure(backend: str, dtype: str, M: int, make: Callable[[int, int, int], Callable[[], Any]]):
        secs, ops = 0.0, 0
        for (K, N), c in counts.items():
            secs += c * _time_call(make(M, K, N))
            ops += c * 2 * M * K * N
        runs.append({"backend": backend, "dtype": dtype, "rows": M, "ops_per_s": ops / secs})

    for M in rows:
        if "ort" in backends:
            measure("onnxruntime-mlas", "fp32", M, lambda m, k, n: _ort_gemm_session(m, k, n, False, threads))
            measure("onnxruntime-mlas", "int8", M, lambda m, k, n: _ort_gemm_session(m, k, n, True, threads))
        if "torch" in backends:
            import torch
            torch.set_num_threads(threads)

            def t_mm(dt):
                def make(m, k, n):
                    a = torch.randn(m, k).to(dt)
                    b = torch.randn(k, n).to(dt)
                    return lambda: torch.mm(a, b)
                return make

            def t_int(m, k, n):
                a = torch.randint(-127, 127, (m, k), dtype=torch.int8)
                b = torch.randint(-127, 127, (k, n), dtype=torch.int8)
                return lambda: torch._int_mm(a, b)

            measure("torch", "fp32", M, t_mm(torch.float32))
            measure("torch", "bf16", M, t_mm(torch.bfloat16))
            try:
                measure("torch", "int8", M, t_int)
            except RuntimeError as err:  # _int_mm shape/CPU support varies by build
                log.warning("torch._int_mm unavailable: %s", err)
        if "numpy" in backends:
            def np_mm(m, k, n):
                a = np.random.default_rng(0).standard_normal((m, k), dtype=np.float32)
                b = np.random.default_rng(1).standard_normal((k, n), dtype=np.float32)
                return lambda: a @ b
            measure("numpy", "fp32", M, np_mm)
    best = {}
    for dt in ("fp32", "int8", "bf16"):
        cands = [r for r in runs if r["dtype"] == dt]
        if cands:
            b = max(cands, key=lambda r: r["ops_per_s"])
            best[dt] = {"ops_per_s": b["ops_per_s"], "backend": b["backend"], "rows": b["rows"]}
    return {"threads": threads, "shapes": [list(k) + [c] for k, c in counts.items()], "runs": runs,
            "ceiling": best}


# ---------------------------------------------------------------------------------------------
# Engines


@dataclass
class EngineSpec:
    """One engine of the benchmark: how a worker builds it, and what it is compared as."""

    key: str
    label: str
    kind: str                     # "lib" (lib.encode), "fast" (lib.fastencode), "torch-bf16", "st", "ipex"
    fmt: str                      # lib format, the ST file name for kind "st", the IPEX mode for "ipex"
    precision: str                # fp32 / int8 / bf16: which GEMM ceiling it is compared with
    overrides: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    subset: int | None = None     # time on the first N timing strings only (the slow paper pipeline)
    quality: bool = True


PAPER_OVERRIDES = {"pooling": "mean_unmasked_padded", "max_length": 512, "batch_size": 10}
# Engine kinds that run in a side venv: kind -> venv name (bench/side_env.sh NAME, requirements/NAME.txt)
SIDE_ENV_OF_KIND = {"st": "st-onnx", "ipex": "ipex"}
SIDE_ENVS = tuple(SIDE_ENV_OF_KIND.values())


def skipped(reason: str) -> str:
    """The report's note for an engine that did not run: ``skipped: <reason>``."""
    return reason if reason.startswith("skipped: ") else f"skipped: {reason}"


def gated_formats(params_name: str) -> dict[str, Any]:
    """INT8 formats that passed the quality gate (``results/<name>/03-quantize.json``), if present."""
    path = paths.results_dir() / params_name / "03-quantize.json"
    if not path.exists():
        return {"source": None, "passed": None}
    rec = json.loads(path.read_text(encoding="utf-8"))
    m = rec.get("metrics", {})
    fmts = m.get("formats") or {}
    # registered ONNX INT8 formats in their default variant (what lib.encode.load_encoder builds)
    passed = [r["format"] for r in fmts.values() if isinstance(r, dict) and r.get("passed")
              and r.get("variant", "default") == "default" and str(r.get("format")).startswith("onnx-int8")]
    return {"source": str(path), "passed": sorted(set(passed)), "chosen": m.get("chosen")}


def default_engines(P: Params, paper_strings: int = 200, int8_formats: Sequence[str] | None = None,
                    side_envs: Sequence[str] = SIDE_ENVS) -> list[EngineSpec]:
    """The issue's engine list; INT8 formats default to the gate-passing ones (else both).

    ``side_envs`` names the side venvs whose engines are listed: "st-onnx" (the sentence-transformers
    peer) and "ipex" (the paper's IPEX route: BF16, and static INT8 SmoothQuant at params alpha).
    """
    if int8_formats is None:
        gate = gated_formats(P.name)
        int8_formats = gate["passed"] if gate["passed"] is not None else \
            ["onnx-int8-dynamic", "onnx-int8-smoothquant"]
    eng = [
        EngineSpec("paper", "paper: PyTorch FP32, pad 512, batch 10, unmasked mean", "lib", "fp32-torch",
                   "fp32", PAPER_OVERRIDES, subset=paper_strings, quality=False),
        EngineSpec("torch-fp32", "PyTorch FP32, dynamic padding", "lib", "fp32-torch", "fp32"),
        EngineSpec("torch-bf16", "PyTorch BF16 autocast", "torch-bf16", "fp32-torch", "bf16"),
        EngineSpec("torch-int8", "PyTorch INT8 (torchao)", "lib", "torch-int8", "int8"),
        EngineSpec("onnx-fp32", "ORT FP32 fused (lib.encode)", "lib", "onnx-fp32", "fp32"),
    ]
    for f in int8_formats:
        eng.append(EngineSpec(f, f"ORT {f} (lib.encode)", "lib", f, "int8"))
    eng.append(EngineSpec("fast-fp32", "ours: ORT FP32 fused, fast path", "fast", "onnx-fp32", "fp32"))
    for f in int8_formats:
        eng.append(EngineSpec(f"fast-{f}", f"ours: ORT {f}, fast path", "fast", f, "int8"))
    if "st-onnx" in side_envs:
        eng.append(EngineSpec("st-onnx-fp32", "sentence-transformers ONNX FP32", "st", "model.onnx", "fp32"))
        eng.append(EngineSpec("st-onnx-int8", "sentence-transformers ONNX INT8 (avx512_vnni)", "st",
                              "model_qint8_avx512_vnni.onnx", "int8"))
    if "ipex" in side_envs:
        eng.append(EngineSpec("ipex-bf16", "paper: IPEX BF16 (optimize + jit trace/freeze), dynamic padding",
                              "ipex", "bf16", "bf16"))
        eng.append(EngineSpec("ipex-int8-sq", f"paper: IPEX static INT8 SmoothQuant (alpha "
                              f"{P.smoothquant_alpha:g}), dynamic padding", "ipex", "int8-sq", "int8"))
    return eng


# ---------------------------------------------------------------------------------------------
# The IPEX side venv (bench/ipex_worker.py): configs and artifact names, built in the coordinator

IPEX_POOLINGS = DYNAMIC_PADDING_POOLINGS  # the IPEX worker pads per batch


def ipex_calibration(P: Params, model_dir: Path, out_json: Path) -> dict[str, Any]:
    """lib.quantize's calibration sentences, batch size and padding length, for the IPEX INT8 build.

    The sentences are written to ``out_json`` (a JSON list, as the timed texts are passed); the worker
    pads every batch to ``calibration_seq_len`` as lib.quantize.fixed_shape_batches does.
    """
    import hashlib

    from lib.compress.calibration import calibration_seq_len, calibration_split
    from lib.engines.hub import load_tokenizer

    calib, _, source = calibration_split(P)
    seq_len = calibration_seq_len(load_tokenizer(model_dir), calib, P.max_length)
    out_json = Path(out_json)
    atomic.write_text(out_json, json.dumps(calib, ensure_ascii=False))
    key = hashlib.sha256(json.dumps(calib, ensure_ascii=False).encode()).hexdigest()[:10]
    return {"calibration": str(out_json), "calibration_batch_size": min(P.batch_size, len(calib)),
            "calibration_seq_len": seq_len, "calibration_source": source, "calibration_key": key}


def ipex_config(spec: EngineSpec, P: Params, model_dir: Path, threads: int, artifact_dir: Path,
                calibration: dict | None = None) -> dict[str, Any]:
    """The JSON config of ``bench/ipex_worker.py build|serve`` for one IPEX engine.

    The artifact (frozen TorchScript file) is named by everything that changes it: mode, alpha,
    calibration, model files, the side venv's pins and the worker's code, so a rerun reuses it.
    """
    import hashlib

    from lib.fingerprint import model_fingerprint

    if spec.kind != "ipex":
        raise ValueError(f"engine {spec.key} is not an IPEX engine (kind {spec.kind!r})")
    if P.pooling not in IPEX_POOLINGS:
        raise ValueError(f"pooling {P.pooling!r}: the IPEX route runs dynamic padding only "
                         f"({', '.join(IPEX_POOLINGS)})")
    cfg: dict[str, Any] = {"mode": spec.fmt, "model_dir": str(model_dir), "threads": int(threads),
                           "max_length": P.max_length, "token_budget": P.token_budget, "pooling": P.pooling}
    if spec.fmt == "int8-sq":
        if not calibration:
            raise ValueError(f"engine {spec.key}: INT8 SmoothQuant needs calibration sentences")
        cfg["alpha"] = P.smoothquant_alpha
        cfg.update({k: calibration[k] for k in ("calibration", "calibration_batch_size",
                                                 "calibration_seq_len")})
    built_from = ("mode", "alpha", "calibration_batch_size", "calibration_seq_len")  # not the serving keys
    h = hashlib.sha256(json.dumps({k: cfg.get(k) for k in built_from}, sort_keys=True).encode())
    h.update(model_fingerprint(Path(model_dir)).encode())
    h.update(str((calibration or {}).get("calibration_key", "")).encode())
    req = paths.ROOT / "requirements" / "ipex.txt"  # its pins (comments aside) and the worker's code
    h.update("\n".join(ln.strip() for ln in (req.read_text().splitlines() if req.exists() else [])
                       if ln.strip() and not ln.strip().startswith("#")).encode())
    worker = paths.ROOT / "bench" / "ipex_worker.py"
    h.update(worker.read_bytes() if worker.exists() else b"")
    cfg["artifact"] = str(Path(artifact_dir) / f"{P.name}-{spec.fmt}-{h.hexdigest()[:12]}.pt")
    return cfg


def engine_params(P: Params, spec: EngineSpec) -> Params:
    from lib.params import load
    return load(P.name, **spec.overrides) if spec.overrides else P


def build_engine(spec: EngineSpec, P: Params, artifact: str | None):
    """Worker side: an object with ``encode(texts)`` and a ``batch_times`` list (seconds per forward)."""
    Pe = engine_params(P, spec)
    if spec.kind == "fast":
        from lib.engines.ort import load_fast_encoder
        return load_fast_encoder(Pe, Path(artifact), Path(spec.options["model_dir"]),
                                 **{k: v for k, v in spec.options.items()
                                    if k in ("token_budget", "max_rows", "profile_prefix")})
    if spec.kind in ("lib", "torch-bf16"):
        from lib import formats
        if spec.kind == "lib" and spec.fmt in formats.ONNX_BUILDERS:
            # load the prebuilt file directly: onnx_artifact() may import torch to (re)build
            enc = _lib_onnx_encoder(Pe, spec.fmt, Path(artifact))
        else:
            enc = formats.load_encoder(Pe, spec.fmt)
        inner = enc.forward
        if spec.kind == "torch-bf16":
            import torch

            def inner_bf16(batch, _f=inner):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return _f(batch)
            inner = inner_bf16
        times: list[float] = []

        def timed(batch, _f=inner):
            t0 = time.perf_counter()
            out = _f(batch)
            times.append(time.perf_counter() - t0)
            return out
        enc.forward = timed
        enc.batch_times = times  # type: ignore[attr-defined]
        return enc
    if spec.kind in SIDE_ENV_OF_KIND:
        raise ValueError(f"engine kind {spec.kind!r} runs in the side venv {SIDE_ENV_OF_KIND[spec.kind]!r} "
                         f"(bench/run.py starts its worker), not in this one")
    raise ValueError(f"unknown engine kind {spec.kind!r}")


def _lib_onnx_encoder(P: Params, fmt: str, path: Path):
    from lib.engines import encoder, hub
    from lib.engines import ort as ort_engine
    model_dir = hub.resolve_model_dir(P)
    return encoder.BatchEncoder(P.name, fmt, f"bench-{fmt}", hub.load_tokenizer(model_dir), P,
                               ort_engine.onnx_forward(ort_engine.ort_session(path, P)), {"onnx": str(path)})


def model_bytes(files: Sequence[Path]) -> int:
    """Size on disk of a model's weight files (ONNX file plus any external data beside it)."""
    total = 0
    for f in files:
        f = Path(f)
        if f.is_file():
            total += f.stat().st_size
            data = f.with_suffix(f.suffix + ".data")
            if data.exists():
                total += data.stat().st_size
    return total


# ---------------------------------------------------------------------------------------------
# Coordinator side: worker processes


class Worker:
    """A child process speaking one JSON object per line on stdin/stdout."""

    def __init__(self, spec: EngineSpec, argv: list[str], env: dict | None = None, timeout: float = 900):
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


def latency_stats(batch_seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(batch_seconds, dtype=np.float64) * 1000
    if ms.size == 0:
        return {"avg": float("nan"), "p50": float("nan"), "p95": float("nan"), "max": float("nan"), "n": 0}
    return {"avg": float(ms.mean()), "p50": float(np.percentile(ms, 50)),
            "p95": float(np.percentile(ms, 95)), "max": float(ms.max()), "n": int(ms.size)}


def interleaved_rounds(workers: Sequence[Worker], texts_file: Path, rounds: int, warmup: int = 1
                       ) -> dict[str, dict]:
    """Time every engine on the same strings, one at a time, rotating the order each round."""
    out: dict[str, dict] = {w.spec.key: {"seconds": [], "batch_s": []} for w in workers}
    for w in workers:
        for _ in range(warmup):
            w.call(cmd="time", texts=str(texts_file), limit=min(w.spec.subset or 256, 256))
    total = rounds * len(workers)
    with tqdm(total=total, desc="timing rounds", mininterval=5.0) as bar:
        for r in range(rounds):
            order = list(workers[r % len(workers):]) + list(workers[:r % len(workers)])
            for w in order:
                res = w.call(cmd="time", texts=str(texts_file), limit=w.spec.subset)
                out[w.spec.key]["seconds"].append(res["seconds"])
                out[w.spec.key]["batch_s"].extend(res["batch_s"])
                out[w.spec.key]["n"] = res["n"]
                bar.update(1)
    for k, v in out.items():
        v["median_s"] = statistics.median(v["seconds"]) if v["seconds"] else float("nan")
        v["strings_per_s"] = v["n"] / v["median_s"] if v["seconds"] else float("nan")
        v["latency_ms"] = latency_stats(v.pop("batch_s"))
    return out


# ---------------------------------------------------------------------------------------------
# Quality


def mean_cosine(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Row-wise cosine of two sets of (normalised) vectors of the same strings."""
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    c = np.sum(a * b, axis=1)
    return {"mean": float(c.mean()), "min": float(c.min())}


def hits_at_1(source_vecs: np.ndarray, target_vecs: np.ndarray, target_codes: Sequence[str],
              gold: Sequence[Sequence[str]]) -> np.ndarray:
    """Per lay term: is the top-1 target's HPO id among its gold ids (kept per term for paired tests)."""
    from lib.evaluate.retrieval import gold_ranks
    from lib.search.topk import topk

    _, idx = topk(source_vecs, target_vecs, 1)
    codes = np.asarray(target_codes, dtype=object)[idx]
    return gold_ranks(codes, gold) == 1


def acc_at_1(source_vecs: np.ndarray, target_vecs: np.ndarray, target_codes: Sequence[str],
             gold: Sequence[Sequence[str]]) -> float:
    """HPO lay-term Acc@1: top-1 target's HPO id among the source's gold ids."""
    return float(hits_at_1(source_vecs, target_vecs, target_codes, gold).mean())


def not_worse(hits: np.ndarray, peer_hits: np.ndarray, level: float = 0.05) -> dict:
    """Acc@1 of ``hits`` against the peer's on the same lay terms: equal or better if it is higher, or
    if the exact McNemar test finds no difference at ``level`` (two INT8 roundings of one FP32 model flip
    a few dozen terms each way, so a strict >= on a sample is a coin toss)."""
    from lib.evaluate.retrieval import paired_mcnemar

    t = paired_mcnemar(hits, peer_hits)
    t["level"] = level
    t["higher"] = t["diff"] >= 0
    t["not_worse"] = bool(t["higher"] or t["p"] >= level)
    return t


def best_int8(engines: dict[str, dict], min_cosine: float) -> str | None:
    """Our fastest quality-gated INT8 engine: cosine to FP32 >= ``min_cosine`` (the 03 gate's) and Acc@1
    not worse than the peer's INT8 (:func:`not_worse`). Only the lean engines (kind ``fast``,
    :mod:`lib.fastencode`) compete: they are what lib offers for deployment. The ``lib`` engines are
    the notebooks' encoders (transformers tokenizer, torch imported), in the table for comparison; on a
    noisy run one could edge ahead on speed within noise, with three times the memory."""
    cands = [k for k, e in engines.items() if e.get("precision") == "int8" and e.get("kind") == "fast"
             and (e.get("cosine_to_fp32") or {}).get("mean", 0) >= min_cosine
             and (e.get("acc1_vs_st_int8") or {}).get("not_worse", True)]
    return max(cands, key=lambda k: engines[k]["strings_per_s"]) if cands else None


# ---------------------------------------------------------------------------------------------
# Where an ORT engine's time goes


# Op types that carry the model's linear-layer GEMMs in our graphs (fused FP32 and quantized).
GEMM_OPS = ("MatMul", "FusedMatMul", "Gemm", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
            "QLinearMatMul", "Attention", "QAttention")


def ort_op_profile(spec: "EngineSpec", P: Params, artifact: str, texts: Sequence[str],
                   workdir: Path) -> dict[str, Any]:
    """ORT's own profiler on a fast engine, built by :func:`build_engine` exactly as it was timed: one
    warm-up pass, then one profiled pass over ``texts``. Returns the pass's wall time, the time inside
    ``session.run``, and kernel time per op type, so the report can say what keeps the engine from the
    GEMM ceiling (kernels vs the ops and Python around them)."""
    from dataclasses import replace

    if spec.kind != "fast":
        raise ValueError(f"{spec.key}: only fast (lib.fastencode) engines are profiled, not kind {spec.kind!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    spec = replace(spec, options={**spec.options, "profile_prefix": str(workdir / "ort-profile")})
    enc = build_engine(spec, P, artifact)
    enc.encode(texts)
    n_warm = len(enc.batch_times)
    t0 = time.perf_counter()
    enc.encode(texts)
    wall = time.perf_counter() - t0
    trace = Path(enc.session.end_profiling())
    events = json.loads(trace.read_text())
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    if len(runs) <= n_warm:
        raise RuntimeError(f"{trace}: {len(runs)} model_run events for {n_warm} warm-up + "
                           f"{len(enc.batch_times) - n_warm} profiled calls")
    cut = runs[n_warm]["ts"]
    by_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("ts", -1) >= cut and str(e.get("name", "")).endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            by_op[op] = by_op.get(op, 0.0) + e["dur"] / 1e6
    session_s = sum(e["dur"] for e in runs[n_warm:]) / 1e6
    trace.unlink()
    return {"texts": len(texts), "ort_calls": len(enc.batch_times) - n_warm, "wall_s": wall,
            "session_run_s": session_s, "outside_ort_s": max(wall - session_s, 0.0),
            "kernel_s": sum(by_op.values()),
            "by_op_s": dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
            "gemm_op_s": sum(v for k, v in by_op.items() if k in GEMM_OPS)}


# ---------------------------------------------------------------------------------------------
# Exact top-k search


def random_unit_vectors(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """float32 unit vectors, generated in chunks (no float64 temporaries at 1M x 768)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, chunk):
        x = rng.standard_normal((min(chunk, n - s), dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s:s + len(x)] = x
    return out


def sklearn_bytes(n_queries: int, n_targets: int, dim: int) -> int:
    """Predicted working memory of the paper's route: normalised copies + full float32 S + int64 argpartition."""
    return 4 * (n_queries + n_targets) * dim + 4 * n_queries * n_targets + 8 * n_queries * n_targets


def search_sklearn(q: np.ndarray, t: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's route: the full cosine matrix from scikit-learn, then top-k per row."""
    from sklearn.metrics.pairwise import cosine_similarity

    S = cosine_similarity(q, t)
    idx = np.argpartition(S, -k, axis=1)[:, -k:]
    sc = np.take_along_axis(S, idx, 1)
    o = np.argsort(-sc, axis=1, kind="stable")
    return np.take_along_axis(sc, o, 1), np.take_along_axis(idx, o, 1)


def search_faiss(q: np.ndarray, t: np.ndarray, k: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatIP(t.shape[1])
    index.add(t)
    return index.search(q, k)


def search_blocked(q: np.ndarray, t: np.ndarray, k: int, block: int | None) -> tuple[np.ndarray, np.ndarray]:
    from lib.search.topk import topk

    return topk(q, t, k, block=block) if block else topk(q, t, k)


def search_blocked_ort(q: np.ndarray, t: np.ndarray, k: int, block: int, threads: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Exact blocked top-k with the GEMM and the selection inside ONNX Runtime (MLAS Gemm + TopK).

    A candidate replacement for ``lib.align.topk``'s torch blocks: MLAS reaches about twice torch's
    FP32 GEMM throughput here (stack notes). Memory: one (n_queries x block) score block.
    """
    sess = _gemm_topk_session(q.shape[1], threads)
    kk = np.array([k], dtype=np.int64)
    best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    for s in range(0, len(t), block):
        tb = t[s:s + block]
        vals, idx = sess.run(None, {"Q": q, "T": tb, "K": np.minimum(kk, len(tb))})
        all_s = np.concatenate([best_s, vals], 1)
        all_i = np.concatenate([best_i, idx + s], 1)
        keep = np.argsort(-all_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(all_s, keep, 1), np.take_along_axis(all_i, keep, 1)
    return best_s, best_i


def _gemm_topk_session(dim: int, threads: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Gemm", ["Q", "T"], ["S"], transB=1),
             helper.make_node("TopK", ["S", "K"], ["V", "I"], axis=1, largest=1, sorted=1)]
    graph = helper.make_graph(nodes, "gemm_topk",
                              [helper.make_tensor_value_info("Q", TensorProto.FLOAT, ["q", dim]),
                               helper.make_tensor_value_info("T", TensorProto.FLOAT, ["n", dim]),
                               helper.make_tensor_value_info("K", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("V", TensorProto.FLOAT, ["q", "k"]),
                               helper.make_tensor_value_info("I", TensorProto.INT64, ["q", "k"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def search_int8_rescore(q: np.ndarray, t: np.ndarray, k: int, candidates: int, block: int,
                        threads: int) -> tuple[np.ndarray, np.ndarray]:
    """INT8 candidate search (ORT MatMulInteger u8 x s8) then exact FP32 re-scoring of the candidates.

    Vectors are unit length, so one symmetric scale (127) quantizes all targets; queries are shifted
    to uint8 with zero point 128 (u8 x s8 is the fast path here; s8 x s8 is ~20x slower, stack notes).
    """
    sess = _int8_search_session(q.shape[1], threads)
    qa = np.clip(np.rint(q * 127) + 128, 0, 255).astype(np.uint8)
    n = len(t)
    best_s = np.full((len(q), candidates), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), candidates), dtype=np.int64)
    for s in range(0, n, block):
        tb = np.clip(np.rint(t[s:s + block] * 127), -127, 127).astype(np.int8)
        scores = sess.run(None, {"A": qa, "B": np.ascontiguousarray(tb.T)})[0]
        c = min(candidates, scores.shape[1])
        part = np.argpartition(scores, -c, axis=1)[:, -c:]
        sc = np.take_along_axis(scores, part, 1).astype(np.float32)
        all_s = np.concatenate([best_s, sc], 1)
        all_i = np.concatenate([best_i, part + s], 1)
        keep = np.argpartition(all_s, -candidates, axis=1)[:, -candidates:]
        best_s, best_i = np.take_along_axis(all_s, keep, 1), np.take_along_axis(all_i, keep, 1)
    exact = np.einsum("qd,qcd->qc", q, t[best_i])
    o = np.argsort(-exact, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(exact, o, 1), np.take_along_axis(best_i, o, 1)


def _int8_search_session(dim: int, threads: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    zp = numpy_helper.from_array(np.array(128, np.uint8), "azp")
    node = helper.make_node("MatMulInteger", ["A", "B", "azp"], ["Y"])
    graph = helper.make_graph([node], "int8search",
                              [helper.make_tensor_value_info("A", TensorProto.UINT8, ["q", dim]),
                               helper.make_tensor_value_info("B", TensorProto.INT8, [dim, "n"])],
                              [helper.make_tensor_value_info("Y", TensorProto.INT32, ["q", "n"])], [zp])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _search_method(method: str, k: int, block: int | None, threads: int, candidates: int
                   ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(targets, queries) -> (scores, indices) for one method, threads fixed."""
    if method == "sklearn":
        def run(t, q):
            from threadpoolctl import threadpool_limits
            with threadpool_limits(threads):
                return search_sklearn(q, t, k)
        return run
    if method == "faiss":
        return lambda t, q: search_faiss(q, t, k, threads)
    if method == "blocked":
        return lambda t, q: search_blocked(q, t, k, block)
    if method == "blocked-ort":
        return lambda t, q: search_blocked_ort(q, t, k, block or 16384, threads)
    if method == "int8-rescore":
        return lambda t, q: search_int8_rescore(q, t, k, candidates, block or 65536, threads)
    raise ValueError(f"unknown search method {method!r}")


def search_child(method: str, n: int, dim: int, n_queries: int, k: int, block: int | None,
                 threads: int, seed: int, out_npy: str | None = None, candidates: int = 50,
                 targets_npy: str | None = None) -> dict:
    """One (method, N, dim) search measurement, meant to run in its own process (peak memory).
    ``targets_npy``: the same targets saved once by :func:`run_search` (generating 1M x 768 takes ~18 s,
    reading it ~1.3 s); loaded fully into memory, as generated ones would be."""
    run = _search_method(method, k, block, threads, candidates)
    run(random_unit_vectors(max(k, 64), dim, seed + 2), random_unit_vectors(8, dim, seed + 3))  # imports, pools
    t = np.load(targets_npy) if targets_npy else random_unit_vectors(n, dim, seed)
    if t.shape != (n, dim) or t.dtype != np.float32:
        raise ValueError(f"{targets_npy}: targets {t.shape} {t.dtype}, expected ({n}, {dim}) float32")
    q = random_unit_vectors(n_queries, dim, seed + 1)
    base = rss_mb()
    reset_ok = reset_peak_rss()
    t0 = time.perf_counter()
    scores, idx = run(t, q)
    secs = time.perf_counter() - t0
    peak = peak_rss_mb()
    if out_npy:
        atomic.save_npy(out_npy, np.asarray(idx, dtype=np.int64))
    return {"method": method, "n": n, "dim": dim, "queries": n_queries, "k": k, "seconds": secs,
            "gflops": 2.0 * n_queries * n * dim / secs / 1e9, "rss_inputs_mb": base,
            "peak_extra_mb": (peak - base) if reset_ok else None, "peak_rss_mb": peak,
            "peak_reset": reset_ok}


def topk_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of queries whose top-k index *sets* are identical."""
    return float(np.mean([set(x) == set(y) for x, y in zip(a.tolist(), b.tolist())]))


def run_search(ns: Sequence[int], dims: Sequence[int], n_queries: int = 2000, k: int = 10,
               block: int | None = None, threads: int | None = None, seed: int = 0,
               methods: Sequence[str] = ("sklearn", "blocked", "blocked-ort", "faiss", "int8-rescore"),
               sklearn_max_bytes: int | None = None, workdir: Path | None = None) -> list[dict]:
    """Every (N, dim, method) in its own child process; the paper's route is skipped past its memory."""
    import psutil

    threads = threads or os.cpu_count() or 1
    workdir = workdir or paths.cache_dir() / "bench" / "search"
    workdir.mkdir(parents=True, exist_ok=True)
    total_ram = psutil.virtual_memory().total
    limit = sklearn_max_bytes or int(0.6 * psutil.virtual_memory().available)
    rows = []
    combos = [(n, d, m) for d in dims for n in ns for m in methods]
    targets_file: Path | None = None  # the current (N, dim)'s targets, shared by its methods' children
    for n, d, m in tqdm(combos, desc="search", mininterval=5.0):
        rec: dict[str, Any] = {"method": m, "n": n, "dim": d, "queries": n_queries, "k": k}
        if m == "sklearn":
            need = sklearn_bytes(n_queries, n, d) + 4 * n * d  # + the targets themselves
            rec.update(predicted_bytes=need, machine_ram_bytes=total_ram, limit_bytes=limit)
            if need > limit:
                rec["skipped"] = (f"predicted {need / GB:.1f} GiB working set > limit {limit / GB:.1f} GiB "
                                  f"(machine RAM {total_ram / GB:.1f} GiB)")
                rows.append(rec)
                continue
        out_npy = workdir / f"{m}-{n}-{d}.npy"
        wanted = workdir / f"targets-{n}-{d}-seed{seed}.npy"
        if wanted != targets_file:  # combos run (N, dim) by (N, dim): keep one file at a time
            if targets_file:
                targets_file.unlink(missing_ok=True)
            atomic.save_npy(wanted, random_unit_vectors(n, d, seed))
            targets_file = wanted
        argv = [sys.executable, "-m", "lib.bench", "search-child", json.dumps(
            {"method": m, "n": n, "dim": d, "n_queries": n_queries, "k": k, "block": block,
             "threads": threads, "seed": seed, "out_npy": str(out_npy),
             "targets_npy": str(targets_file)})]
        res = subprocess.run(argv, capture_output=True, text=True)
        if res.returncode != 0:
            rec["error"] = (res.stderr.strip().splitlines() or ["?"])[-1]
            rows.append(rec)
            continue
        rec.update(json.loads(res.stdout.strip().splitlines()[-1]))
        rec["idx_file"] = str(out_npy)
        rows.append(rec)
    if targets_file:  # up to 3 GB: not left in the cache
        targets_file.unlink(missing_ok=True)
    _agreements(rows)
    return rows


def _agreements(rows: list[dict]) -> None:
    """Top-k set agreement of every method with FAISS (the reference exact search) per (N, dim)."""
    ref = {(r["n"], r["dim"]): r["idx_file"] for r in rows if r["method"] == "faiss" and "idx_file" in r}
    for r in rows:
        f = ref.get((r["n"], r["dim"]))
        if f and "idx_file" in r:
            r["agreement_with_faiss"] = topk_agreement(np.load(r["idx_file"]), np.load(f))


# ---------------------------------------------------------------------------------------------
# Ratios and targets


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or b == 0:
        return None
    return float(a) / float(b)


def main(argv: list[str] | None = None) -> None:
    """``python -m lib.bench search-child '<json>'``: one search measurement (child process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "search-child":
        print(json.dumps(search_child(**json.loads(argv[1]))))
        return
    raise SystemExit("usage: python -m lib.bench search-child '<json>' (the benchmark is bench/run.py)")


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------------------------------------
# Report: the Markdown table and the figures, generated from the result dict (bench.json)


def _f(x, fmt: str = ".0f", none: str = "–") -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return none
    return format(x, fmt)


def markdown(result: dict) -> str:
    """bench.md: engines, GEMM ceiling, search and targets tables (the README includes this file)."""
    m = result.get("machine", {})
    lines = [f"<!-- generated by bench/run.py on {result.get('created')}; do not edit -->",
             f"Machine: {m.get('processor')}, {m.get('cpus')} CPUs; load average at end "
             f"{', '.join(_f(x, '.1f') for x in result.get('load_average_at_end', []))}. "
             f"Strings: {result['texts'].get('n_timing')} HPO target strings "
             f"(mean {result['model'].get('mean_tokens', 0):.1f} tokens), "
             f"{result['args'].get('rounds')} interleaved rounds, median. Quality (cos to FP32, Acc@1): "
             f"{result['texts'].get('n_sources')} lay terms against {result['texts'].get('n_targets')} HPO targets "
             f"(seeded sample, gold targets kept). Command: `{result.get('command')}`.", "",
             "| engine | strings/s | x paper | x ST INT8 | strings/batch | latency ms avg / p50 / p95 / max "
             "| peak RSS MB | RSS / paper | model MB | cos to FP32 | Acc@1 | % GEMM ceiling |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for k, e in result["engines"].items():
        lat = e["latency_ms"]
        cos = (e.get("cosine_to_fp32") or {}).get("mean")
        frac = e.get("fraction_of_ceiling")
        lines.append(
            f"| {k}{' *' if k == result.get('ours_best_int8') else ''} | {_f(e['strings_per_s'])} "
            f"| {_f(e.get('speed_vs_paper'), '.1f')} | {_f(e.get('speed_vs_st_int8'), '.2f')} "
            f"| {_f(e['strings'] * len(e['rounds_s']) / lat['n'] if lat.get('n') else None, '.0f')} "
            f"| {_f(lat['avg'], '.1f')} / {_f(lat['p50'], '.1f')} / {_f(lat['p95'], '.1f')} / {_f(lat['max'], '.1f')} "
            f"| {_f(e['peak_rss_mb'])} | {_f(e.get('rss_vs_paper'), '.2f')} | {_f(e.get('model_mb'), '.1f')} "
            f"| {_f(cos, '.4f')} | {_f(e.get('acc1'), '.3f')} "
            f"| {_f(None if frac is None else 100 * frac, '.1f')} ({e['precision']}) |")
    lines.append("")
    lines.append("`*` our best quality-gated INT8 engine (lean `fast-*` engines: cosine to FP32 >= the gate's, "
                 "Acc@1 not worse than the peer's INT8 by a paired exact McNemar test). Latency = one model call per batch. % GEMM ceiling: "
                 "the model's linear MatMul operations on the real (unpadded) tokens per second, over the "
                 "best GEMM throughput of the same precision measured below.")
    for k, why in result.get("notes", {}).items():
        lines.append(f"- {k}: {why}")
    g = result.get("gemm")
    if g:
        lines += ["", "| GEMM backend | dtype | rows | GOP/s |", "|---|---|---:|---:|"]
        for r in g["runs"]:
            lines.append(f"| {r['backend']} | {r['dtype']} | {r['rows']} | {r['ops_per_s'] / 1e9:.0f} |")
    if result.get("search"):
        lines += ["", "| search | N | dim | seconds | GFLOP/s | % FP32 ceiling | extra peak MB | same top-k as FAISS |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in result["search"]:
            if "skipped" in r or "error" in r:
                lines.append(f"| {r['method']} | {r['n']} | {r['dim']} | {r.get('skipped') or r.get('error')} | | | | |")
                continue
            frac = r.get("fraction_of_fp32_ceiling")
            lines.append(f"| {r['method']} | {r['n']} | {r['dim']} | {r['seconds']:.2f} | {r['gflops']:.0f} "
                         f"| {_f(None if frac is None else 100 * frac, '.0f')} | {_f(r.get('peak_extra_mb'))} "
                         f"| {_f(r.get('agreement_with_faiss'), '.3f')} |")
    lines += profile_markdown(result)
    lines += ["", "| target | engine | measured | threshold | met |", "|---|---|---:|---:|---|"]
    for t in result.get("targets", []):
        met = '–' if t['met'] is None else ('yes' if t['met'] else 'no')
        lines.append(f"| {t['target']} | {t.get('engine') or ''} | {_f(t.get('value'), '.3f')} "
                     f"| {_f(t.get('threshold'), '.3f')} | {met}{'; ' + t['note'] if t.get('note') else ''} |")
    en = result.get("energy", {})
    lines += ["", f"Energy: {'measured' if en.get('measurable') else 'not measurable here'} ({en.get('reason', '')})."]
    if result.get("phases_s"):
        lines += ["", f"Run time {result['wall_s'] / 60:.1f} min: "
                  + "; ".join(f"{k} {v:.0f} s" for k, v in result["phases_s"].items()) + "."]
    return "\n".join(lines) + "\n"


def profile_markdown(result: dict) -> list[str]:
    """Where the best INT8 engine's time goes (ORT profiler): op types, and the time outside ORT."""
    p = result.get("profile")
    if not p:
        return []
    wall = p["wall_s"]
    lines = ["", f"Where the time of `{p['engine']}` goes: ORT's profiler on one pass over the {p['texts']} "
             f"timing strings ({p['ort_calls']} calls, {wall:.2f} s wall with the profiler on). "
             f"GEMM-bearing ops ({', '.join(GEMM_OPS)}) take "
             f"{100 * p['gemm_op_s'] / wall:.0f}% of the wall time"
             + (f"; inside them the model's linear operations run at "
                f"{100 * p['gemm_ops_fraction_of_ceiling']:.0f}% of the INT8 GEMM ceiling."
                if p.get("gemm_ops_fraction_of_ceiling") else "."),
             "", "| where | ms | % of wall |", "|---|---:|---:|"]
    for op, sec in p["by_op_s"].items():
        lines.append(f"| {op} | {1e3 * sec:.0f} | {100 * sec / wall:.1f} |")
    lines.append(f"| (ORT outside kernels) | {1e3 * max(p['session_run_s'] - p['kernel_s'], 0):.0f} "
                 f"| {100 * max(p['session_run_s'] - p['kernel_s'], 0) / wall:.1f} |")
    lines.append(f"| outside ORT: tokenizer, batching, padding, pooling | {1e3 * p['outside_ort_s']:.0f} "
                 f"| {100 * p['outside_ort_s'] / wall:.1f} |")
    return lines


def figures(result: dict) -> list[Path]:
    """bench-engines (throughput, latency, memory, quality) and bench-search, via lib.plots."""
    import matplotlib.pyplot as plt

    from lib.plots import PAPER_WIDTH_IN, save_figure

    out: list[Path] = []
    eng = result["engines"]
    keys = list(eng)
    y = np.arange(len(keys))
    fig, ax = plt.subplots(2, 2, figsize=(PAPER_WIDTH_IN * 1.4, PAPER_WIDTH_IN), sharey=True)
    ax[0, 0].barh(y, [eng[k]["strings_per_s"] for k in keys], color="#4C72B0")
    ax[0, 0].set_xscale("log")
    ax[0, 0].set_xlabel("strings/s (log)")
    for i, k in enumerate(keys):
        lat = eng[k]["latency_ms"]
        ax[0, 1].plot([lat["p50"], lat["p95"], lat["max"]], [i] * 3, "|-", color="#888888")
        ax[0, 1].plot(lat["avg"], i, "o", color="#DD8452")
    ax[0, 1].set_xscale("log")
    ax[0, 1].set_xlabel("ms per batch: avg (dot), p50-p95-max")
    ax[1, 0].barh(y - 0.2, [eng[k]["peak_rss_mb"] for k in keys], 0.4, label="peak RSS", color="#55A868")
    ax[1, 0].barh(y + 0.2, [eng[k].get("model_mb") or 0 for k in keys], 0.4, label="model file", color="#8172B3")
    ax[1, 0].set_xlabel("MB")
    ax[1, 0].legend(loc="lower right")
    ax[1, 1].barh(y - 0.2, [(eng[k].get("cosine_to_fp32") or {}).get("mean", np.nan) for k in keys], 0.4,
                  label="mean cosine to FP32", color="#C44E52")
    ax[1, 1].barh(y + 0.2, [eng[k].get("acc1") if eng[k].get("acc1") is not None else np.nan for k in keys],
                  0.4, label="HPO Acc@1", color="#937860")
    ax[1, 1].set_xlim(0, 1.9)  # room right of 1.0 for the legend, clear of the bars
    ax[1, 1].set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax[1, 1].legend(loc="center right", fontsize=7)
    for a_ in ax[:, 0]:
        a_.set_yticks(y, keys)
    fig.suptitle(f"Engines on {result['texts'].get('n_timing')} HPO strings "
                 f"({result['params']['name']}, {result['machine'].get('cpus')} CPUs)")
    out += save_figure(fig, "bench-engines", "bench")
    plt.close(fig)
    rows = [r for r in (result.get("search") or []) if "seconds" in r]
    if rows:
        dims = sorted({r["dim"] for r in rows})
        fig, ax = plt.subplots(1, len(dims), figsize=(PAPER_WIDTH_IN, PAPER_WIDTH_IN / 2.2), squeeze=False)
        skipped = {(r["method"], r["dim"]): r["n"] for r in result["search"] if "skipped" in r}
        for j, d in enumerate(dims):
            for m in sorted({r["method"] for r in rows}):
                rr = sorted((r for r in rows if r["dim"] == d and r["method"] == m), key=lambda r: r["n"])
                over = skipped.get((m, d))
                label = f"{m} (N={over:,}: over RAM)" if over else m
                ax[0, j].plot([r["n"] for r in rr], [r["seconds"] for r in rr], "o-", label=label)
            ax[0, j].set_xscale("log")
            ax[0, j].set_yscale("log")
            ax[0, j].set_xlabel("targets N")
            ax[0, j].set_title(f"dim {d}, {rows[0]['queries']} queries, top-{rows[0]['k']}")
        ax[0, 0].set_ylabel("seconds")
        for a_ in ax[0]:
            a_.legend(fontsize=6)
        out += save_figure(fig, "bench-search", "bench")
        plt.close(fig)
    return out
