"""The OpenVINO engine: the ``ov-fp32`` / ``ov-int8`` formats, torch-free at run time like the ONNX Runtime
engine (:mod:`lib.engines.ort`): the Rust tokenizer, the same token-budget batching, masked mean pooling
(:func:`lib.engines.encoder.encode_ids`), an OpenVINO CPU model compiled once.

Compile settings (:func:`ov_config`): ``threads`` inference threads, one stream and the LATENCY hint (one
synchronous request per call, as the other engines run), and **FP32 inference precision**. Why the last:
OpenVINO's CPU plugin runs FP32 layers in BF16 by default on CPUs with AVX512_BF16 or AMX (seen here: the
default hint on a Zen 5 EPYC is bf16), so "ov-fp32" would silently be BF16 and the INT8 model's FP32
parts too; vectors would then depend on the CPU. The hint is part of the encoder's fingerprint.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from lib.engines.encoder import Batching, RuntimeEncoder, encoder_fingerprint
from lib.engines.hub import identity, resolve_model_dir
from lib.engines.ort import load_fast_tokenizer, pad_token_id
from lib.fingerprint import file_digest, installed_versions, model_fingerprint, settings_key
from lib.params import Params

log = logging.getLogger("lib.engines.openvino")

DEVICE = "CPU"
INFERENCE_PRECISION = "f32"


@lru_cache(maxsize=1)
def core():
    """One ``openvino.Core`` per process (it holds the plugins; creating one costs ~0.1 s)."""
    import openvino as ov

    return ov.Core()


def ov_config(threads: int | None = None, precision: str = INFERENCE_PRECISION) -> dict[str, object]:
    """CPU plugin properties of every OpenVINO engine here (see the module doc for why FP32 precision)."""
    return {"INFERENCE_NUM_THREADS": int(threads or os.cpu_count() or 1), "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}


def compile_ir(xml: Path, threads: int | None = None, precision: str = INFERENCE_PRECISION):
    """An OpenVINO IR compiled for this CPU with :func:`ov_config`."""
    return core().compile_model(core().read_model(str(xml)), DEVICE, ov_config(threads, precision))


def ov_forward(compiled):
    """Token states from a compiled model: the inputs it declares (int64), zero ``token_type_ids`` if it
    needs them; one infer request, reused (one call at a time, as every engine here runs)."""
    names = [i.get_any_name() for i in compiled.inputs]
    request = compiled.create_infer_request()
    output = compiled.outputs[0]

    def forward(enc: dict) -> np.ndarray:
        feeds = {k: np.ascontiguousarray(enc[k], dtype=np.int64) for k in names if k in enc}
        if "token_type_ids" in names and "token_type_ids" not in enc:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        # copy: the request's output buffer is reused by the next call
        return np.array(request.infer(feeds)[output], copy=True)
    return forward


def ov_batching(P: Params) -> Batching:
    """OpenVINO's batching: the ONNX Runtime engine's knobs (``ort_token_budget``, ``ort_max_rows``), so a
    comparison of the two runtimes has one batching. Measured for ov-int8 (MiniLM, 2,000 HPO strings, 2
    threads, 4 interleaved rounds, a loaded shared Zen 5 EPYC): 256 / 512 / 1,024 / 2,048 padded tokens per
    call gave 423 / 469 / 485 / 482 strings/s: 512 is within ~3% (the noise here) of the best."""
    return Batching(P.ort_token_budget, P.ort_max_rows)


def ir_fingerprint(model_fp: str, fmt: str, batching: Batching, xml: Path,
                   precision: str = INFERENCE_PRECISION) -> str:
    """Content key of an OpenVINO encoder's vectors: :func:`lib.engines.encoder.encoder_fingerprint` over the
    IR's XML, plus the bytes of its weights (``.bin``), the openvino version and the inference precision."""
    xml = Path(xml)
    extra = settings_key(bin=file_digest(xml.with_suffix(".bin"))[:12], precision=precision,
                         **installed_versions(("openvino",)))
    return f"{encoder_fingerprint(model_fp, fmt, batching, xml)}-{extra}"


@dataclass
class OvEncoder(RuntimeEncoder):
    """The OpenVINO engine: compiled IR + Rust tokenizer + :func:`ov_batching`. ``encode`` returns
    L2-normalised float32; ``batch_times`` collects the seconds of each inference call."""

    name: str
    fmt: str
    fingerprint: str
    P: Params
    compiled: object
    tokenizer: object
    pad_id: int = 0
    info: dict = field(default_factory=dict)
    batch_times: list[float] = field(default_factory=list)

    def __post_init__(self):
        self._forward = ov_forward(self.compiled)

    @property
    def batching(self) -> Batching:
        return ov_batching(self.P)


def ov_encoder(P: Params, fmt: str, xml: Path, *, model_dir: Path | None = None, compiled=None) -> OvEncoder:
    """The OpenVINO encoder for params ``P`` over the IR ``xml`` (a registered format or any variant labelled
    ``fmt``). ``compiled``: one already compiled from ``xml`` (lib.formats compiles it to heal a bad
    artifact). ``model_dir``: the model folder (tokenizer, fingerprint); pass it where torch must not be
    imported (resolving it from params may import torch)."""
    if model_dir is None:
        model_dir = resolve_model_dir(P)
    model_dir, xml = Path(model_dir), Path(xml)
    fp = model_fingerprint(model_dir)
    tok = load_fast_tokenizer(model_dir, P.max_length)
    compiled = compiled if compiled is not None else compile_ir(xml, P.threads)
    return OvEncoder(P.name, fmt, ir_fingerprint(fp, fmt, ov_batching(P), xml), P, compiled, tok,
                     pad_token_id(model_dir, tok),
                     {"model_dir": str(model_dir), "ir": str(xml), "model_fingerprint": fp,
                      "runtime": "openvino", "inference_precision": INFERENCE_PRECISION,
                      "identity": identity(P, model_dir, fp)})
