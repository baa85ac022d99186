"""The benchmark's engines: the list, how a worker builds each one, the IPEX route's build configs and the
sentence-transformers peer's INT8 export recipe for this CPU.

Artifacts are resolved in the coordinator (building them may import torch); a worker only loads files
(:func:`build_engine`), so its peak memory is the engine's own.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from lib import atomic, machine, paths
from lib.engines.batching import DYNAMIC_PADDING_POOLINGS
from lib.params import Params

BENCH = Path(__file__).resolve().parent


@dataclass
class EngineSpec:
    """One engine of the benchmark: how a worker builds it, and what it is compared as."""

    key: str
    label: str
    kind: str                     # "lib" (lib.formats), "fast" (lib.engines.ort), "ov" (lib.engines.openvino),
                                  # "torch-bf16", "st" / "st-ov" (sentence-transformers ONNX / OpenVINO), "ipex"
    fmt: str                      # lib format, the ST file name for kinds "st" / "st-ov" ("" if none), IPEX mode
    precision: str                # fp32 / int8 / bf16: which GEMM ceiling it is compared with
    overrides: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    subset: int | None = None     # time on the first N timing strings only (the slow paper pipeline)
    quality: bool = True


PAPER_OVERRIDES = {"pooling": "mean_unmasked_padded", "max_length": 512, "batch_size": 10}
# Engine kinds that run in a side venv: kind -> venv name (bench/side_env.sh NAME, requirements/NAME.txt)
SIDE_ENV_OF_KIND = {"st": "st-onnx", "ipex": "ipex", "st-ov": "st-openvino"}
# Lean engines: lib's deployment engines built from prebuilt files, no torch import; our best INT8 is one of them
LEAN_KINDS = ("fast", "ov")
# The sentence-transformers OpenVINO peer's INT8 file: our ov-int8 IR copied into its openvino/ folder, so the
# peer and our engine run the same INT8 model and differ only in the runtime path around it.
ST_OV_INT8_FILE = "openvino_model_qint8_ours.xml"
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
    # registered ONNX INT8 formats in their default variant (what lib.formats.load_encoder builds)
    passed = [r["format"] for r in fmts.values() if isinstance(r, dict) and r.get("passed")
              and r.get("variant", "default") == "default" and str(r.get("format")).startswith("onnx-int8")]
    return {"source": str(path), "passed": sorted(set(passed)), "chosen": m.get("chosen")}


def default_engines(P: Params, paper_strings: int = 200, int8_formats: Sequence[str] | None = None,
                    side_envs: Sequence[str] = SIDE_ENVS, st_recipe: str | None = "detect") -> list[EngineSpec]:
    """The issue's engine list; INT8 formats default to the gate-passing ones (else both).

    ``side_envs`` names the side venvs whose engines are listed: "st-onnx" (the sentence-transformers
    peer) and "ipex" (the paper's IPEX route: BF16, and static INT8 SmoothQuant at params alpha).
    ``st_recipe``: the peer's INT8 export recipe (default: this CPU's, :func:`this_cpu_st_recipe`); None
    lists the peer's INT8 engine with no file, which the runner reports as skipped.
    """
    if int8_formats is None:
        gate = gated_formats(P.name)
        int8_formats = gate["passed"] if gate["passed"] is not None else \
            ["onnx-int8-dynamic", "onnx-int8-smoothquant"]
    # OpenVINO formats are the `ov-*` engines below (their IR is no ONNX file for the ORT engines): an `ov-int8`
    # in --int8-formats gave a duplicate key and a `fast-ov-int8` that ORT could not load
    int8_formats = [f for f in int8_formats if not str(f).startswith("ov-")]
    eng = [
        EngineSpec("paper", "paper: PyTorch FP32, pad 512, batch 10, unmasked mean", "lib", "fp32-torch",
                   "fp32", PAPER_OVERRIDES, subset=paper_strings, quality=False),
        EngineSpec("torch-fp32", "PyTorch FP32, dynamic padding", "lib", "fp32-torch", "fp32"),
        EngineSpec("torch-bf16", "PyTorch BF16 autocast", "torch-bf16", "fp32-torch", "bf16"),
        EngineSpec("torch-int8", "PyTorch INT8 (torchao)", "lib", "torch-int8", "int8"),
        EngineSpec("onnx-fp32", "ORT FP32 fused (lib.formats)", "lib", "onnx-fp32", "fp32"),
    ]
    for f in int8_formats:
        eng.append(EngineSpec(f, f"ORT {f} (lib.formats)", "lib", f, "int8"))
    eng.append(EngineSpec("fast-fp32", "ours: ORT FP32 fused, fast path", "fast", "onnx-fp32", "fp32"))
    for f in int8_formats:
        eng.append(EngineSpec(f"fast-{f}", f"ours: ORT {f}, fast path", "fast", f, "int8"))
    if "st-onnx" in side_envs:
        recipe = this_cpu_st_recipe()[0] if st_recipe == "detect" else st_recipe
        eng.append(EngineSpec("st-onnx-fp32", "sentence-transformers ONNX FP32", "st", "model.onnx", "fp32"))
        eng.append(EngineSpec("st-onnx-int8", f"sentence-transformers ONNX INT8 ({recipe or 'no recipe'})", "st",
                              ST_INT8_FILES.get(recipe or "", ""), "int8", options={"recipe": recipe}))
    # OpenVINO (lib.engines.openvino over lib.compress.openvino's IR), lean like the fast ORT engines
    eng.append(EngineSpec("ov-fp32", "OpenVINO FP32 (IR from the ONNX export)", "ov", "ov-fp32", "fp32"))
    eng.append(EngineSpec("ov-int8", f"ours: OpenVINO static INT8 (NNCF, SmoothQuant alpha "
                          f"{P.ov_smoothquant_alpha:g})", "ov", "ov-int8", "int8"))
    if "st-openvino" in side_envs:
        eng.append(EngineSpec("st-ov-fp32", "sentence-transformers OpenVINO FP32 (its export)", "st-ov",
                              "openvino_model.xml", "fp32"))
        eng.append(EngineSpec("st-ov-int8", "sentence-transformers OpenVINO, our ov-int8 IR", "st-ov",
                              ST_OV_INT8_FILE, "int8"))
    if "ipex" in side_envs:
        eng.append(EngineSpec("ipex-bf16", "paper: IPEX BF16 (optimize + jit trace/freeze), dynamic padding",
                              "ipex", "bf16", "bf16"))
        eng.append(EngineSpec("ipex-int8-sq", f"paper: IPEX static INT8 SmoothQuant (alpha "
                              f"{P.smoothquant_alpha:g}), dynamic padding", "ipex", "int8-sq", "int8"))
    return eng


# ---------------------------------------------------------------------------------------------
# The sentence-transformers peer: its INT8 export recipe for this CPU (bench/st_export.py exports it)

# export_dynamic_quantized_onnx_model(model, quantization_config=<recipe>, ...) writes
# onnx/model_<weights dtype>_<recipe>.onnx: optimum's avx2 recipe quantizes weights to uint8, the others to int8
# (the file names of the sentence-transformers models' onnx/ folders on the Hugging Face Hub).
ST_INT8_FILES = {"arm64": "model_qint8_arm64.onnx", "avx2": "model_quint8_avx2.onnx",
                 "avx512": "model_qint8_avx512.onnx", "avx512_vnni": "model_qint8_avx512_vnni.onnx"}


cpu_flags = machine.cpu_flags  # /proc/cpuinfo's flags of the first processor (lib.machine: in every result too)


def st_quantization_config(flags: frozenset[str] | set[str], machine: str) -> str | None:
    """sentence-transformers' dynamic INT8 recipe for a CPU, as its docs say to pick one: ``arm64`` on ARM;
    on x86 the widest the flags allow: ``avx512_vnni`` (AVX-512 VNNI), ``avx512`` (AVX-512 F + BW, what the
    u8 x s8 kernels use), ``avx2``; None when none applies (an x86 CPU without AVX2)."""
    if machine.lower() in ("arm64", "aarch64") or machine.lower().startswith("armv8"):
        return "arm64"
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if {"avx512f", "avx512bw"} <= set(flags):
        return "avx512"
    if "avx2" in flags:
        return "avx2"
    return None


def this_cpu_st_recipe() -> tuple[str | None, str]:
    """(recipe, why) for this machine: /proc/cpuinfo's flags and ``platform.machine()``."""
    try:
        flags = cpu_flags(Path("/proc/cpuinfo").read_text())
    except OSError:
        flags = frozenset()
    machine = platform.machine()
    recipe = st_quantization_config(flags, machine)
    why = (f"{machine} CPU" + (f" with {recipe}" if recipe and recipe != "arm64" else "")
           if recipe else f"no sentence-transformers INT8 recipe for this {machine} CPU (no AVX2 flag)")
    return recipe, why


# ---------------------------------------------------------------------------------------------
# The IPEX side venv (bench/ipex_worker.py): configs and artifact names, built in the coordinator

IPEX_POOLINGS = DYNAMIC_PADDING_POOLINGS  # the IPEX worker pads per batch


def ipex_calibration(P: Params, model_dir: Path, out_json: Path) -> dict[str, Any]:
    """lib.compress's calibration sentences, batch size and padding length, for the IPEX INT8 build.

    The sentences are written to ``out_json`` (a JSON list, as the timed texts are passed); the worker
    pads every batch to ``calibration_seq_len`` as lib.compress.calibration.text_feeds does.
    """
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
    worker = BENCH / "ipex_worker.py"
    h.update(worker.read_bytes() if worker.exists() else b"")
    cfg["artifact"] = str(Path(artifact_dir) / f"{P.name}-{spec.fmt}-{h.hexdigest()[:12]}.pt")
    return cfg


def engine_params(P: Params, spec: EngineSpec) -> Params:
    """The engine's params: the run's, with its overrides (the paper's pipeline) applied."""
    from lib.params import load
    return load(P.name, **spec.overrides) if spec.overrides else P


def build_engine(spec: EngineSpec, P: Params, artifact: str | None):
    """Worker side: an object with ``encode(texts)`` and a ``batch_times`` list (seconds per model call).

    ``fast``: the ONNX Runtime engine on the prebuilt file, model folder from the coordinator (resolving it
    may import torch), ``options`` token_budget / max_rows / profile_prefix. ``ov``: the OpenVINO engine on
    the prebuilt IR, model folder from the coordinator. ``lib``: what a notebook
    loads (ONNX formats: the same engine over the prebuilt file, batched by params; the builders are never
    called here). ``torch-bf16``: the PyTorch FP32 encoder under CPU BF16 autocast.
    """
    from lib.engines.ort import onnx_encoder

    Pe = engine_params(P, spec)
    if spec.kind == "ov":
        from lib.engines.openvino import ov_encoder
        return ov_encoder(Pe, spec.fmt, Path(artifact), model_dir=Path(spec.options["model_dir"]))
    if spec.kind == "fast":
        o = spec.options
        batching = {k: o[v] for k, v in (("ort_token_budget", "token_budget"), ("ort_max_rows", "max_rows"))
                    if o.get(v)}
        profile = ({"enable_profiling": True, "profile_file_prefix": o["profile_prefix"]}
                   if o.get("profile_prefix") else None)
        return onnx_encoder(Pe.model_copy(update=batching), spec.fmt, Path(artifact),
                            model_dir=Path(o["model_dir"]), extra_options=profile)
    if spec.kind in ("lib", "torch-bf16"):
        from lib import formats
        if spec.kind == "lib" and spec.fmt in formats.ONNX_BUILDERS:
            return onnx_encoder(Pe, spec.fmt, Path(artifact))
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


def profile_engine(spec: EngineSpec, P: Params, artifact: str, texts: Sequence[str], workdir: Path) -> dict:
    """ORT's per-op profile (:func:`lib.perf.profile.ort_op_profile`) of a fast engine, built by
    :func:`build_engine` exactly as it was timed, with the profiler on."""
    from lib.perf.profile import ort_op_profile

    if spec.kind != "fast":
        raise ValueError(f"{spec.key}: only fast (ONNX Runtime) engines are profiled, not kind {spec.kind!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    spec = replace(spec, options={**spec.options, "profile_prefix": str(workdir / "ort-profile")})
    return ort_op_profile(build_engine(spec, P, artifact), texts)
