"""OpenVINO IR artifacts: FP32 converted from the ONNX FP32 export, and static INT8 by NNCF post-training
quantization on the project's calibration set.

Why OpenVINO beside ONNX Runtime: on CPUs with AVX-512 VNNI or AMX its static INT8 kernels ran 1.6x the ORT
dynamic INT8 engine (MiniLM, same tokenizer and batching); on an AVX2-only CPU they ran slower. So both are
formats, and 03's gate picks the fastest passing one per machine. Static INT8 also depends far less on a
string's batch-mates (its activation scales are calibrated, not computed per call): on MiniLM a string's
vector moved by at most 3.4e-3 between batches (ORT dynamic INT8: 3.3e-2); not 0, as OpenVINO picks other
kernels for other batch shapes.

- ``ov-fp32``: ``openvino.convert_model`` of the plain ONNX export (:func:`lib.compress.export.unfused_onnx`:
  standard ONNX ops, so OpenVINO applies its own fusions), weights kept FP32 (``compress_to_fp16=False``).
- ``ov-int8``: ``nncf.quantize`` of that model with ``model_type=ModelType.TRANSFORMER`` (NNCF's transformer
  scheme: which ops stay FP32, SmoothQuant on MatMuls, fast bias correction), calibrated on the same
  ``calibration_size`` sentences, padded to the same fixed length, as SmoothQuant
  (:func:`lib.compress.calibration.prepare_calibration`). SmoothQuant alpha: params ``ov_smoothquant_alpha``
  (NNCF's default 0.95; negative = off); 03 gates the paper's alpha and no SmoothQuant as variants.

Artifacts are content-keyed like every other format: :func:`lib.compress.export.artifact_dir` (model bytes,
opset, max_length, engine versions) plus the openvino / nncf versions, the calibration key and the alpha.
Each IR (``model.xml`` + ``model.bin``) lives in its own folder, written whole (:func:`lib.atomic.atomic_dir`),
so an interrupted build never leaves an XML whose weights are missing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lib import atomic
from lib.compress.calibration import Calibration, prepare_calibration
from lib.compress.export import artifact_dir, unfused_onnx
from lib.fingerprint import installed_versions, settings_key
from lib.params import Params

log = logging.getLogger("lib.compress.openvino")

OV_PACKAGES = ("openvino", "nncf")
IR_NAME = "model.xml"
# Alphas of 03's gate variants besides params' (labels of `ov-int8:<label>`): NNCF's "off" and the paper's.
NO_SMOOTHQUANT = -1.0


def ov_versions() -> dict[str, str]:
    """Versions of the libraries that shape an IR and its INT8 weights (part of every OpenVINO artifact key)."""
    return installed_versions(OV_PACKAGES)


def valid_ir(folder: Path) -> Path:
    """``folder/model.xml`` if OpenVINO reads it with its weights, else raise (a torn or foreign folder)."""
    import openvino as ov

    xml = Path(folder) / IR_NAME
    if not xml.with_suffix(".bin").exists():
        raise FileNotFoundError(f"{xml.with_suffix('.bin')}: the IR's weights are missing")
    ov.Core().read_model(str(xml))
    return xml


def cached_ir(folder: Path, build) -> Path:
    """``folder/model.xml``, built once by ``build(ov_model_folder)`` (which saves an IR named
    :data:`IR_NAME` into the temporary folder it is given); a folder that fails to load is logged, removed
    and rebuilt once (:func:`lib.atomic.load_or_rebuild`)."""
    def make(dest: Path) -> None:
        with atomic.atomic_dir(dest) as tmp:
            build(tmp)
    return atomic.load_or_rebuild(folder, valid_ir, make, what="OpenVINO IR")


def save_ir(model, folder: Path) -> Path:
    """Save an ``openvino.Model`` as FP32 IR (weights not compressed to FP16: FP32 means FP32)."""
    import openvino as ov

    xml = Path(folder) / IR_NAME
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return xml


def ov_fp32(P: Params) -> Path:
    """The ``ov-fp32`` format: the plain ONNX FP32 export converted by ``openvino.convert_model``."""
    src = unfused_onnx(P)
    folder = artifact_dir(P, "ov-fp32") / f"ir-{settings_key(**ov_versions())}"

    def build(tmp: Path) -> None:
        import openvino as ov

        save_ir(ov.convert_model(str(src)), tmp)
        log.info("converted %s to OpenVINO IR %s", src, folder)
    return cached_ir(folder, build)


def calibration_dataset(cal: Calibration):
    """NNCF's dataset over the calibration feeds (dicts of int64 arrays keyed by input name: what the
    converted model's inputs are called)."""
    import nncf

    return nncf.Dataset(cal.feeds)


def quantize_settings(P: Params, alpha: float, cal: Calibration) -> dict:
    """Everything an INT8 IR depends on besides the model: its folder name is their digest."""
    return {"alpha": float(alpha), "calibration": cal.key, "samples": len(cal.feeds), "preset": "transformer",
            **ov_versions()}


def ov_int8_to(P: Params, alpha: float | None = None) -> Path:
    """Static INT8 IR by NNCF post-training quantization of :func:`ov_fp32`'s model, SmoothQuant alpha on
    MatMuls ``alpha`` (default params ``ov_smoothquant_alpha``; negative: no SmoothQuant), calibrated on
    every calibration batch (``subset_size`` = their number: NNCF's default of 300 would be a silent cap)."""
    alpha = P.ov_smoothquant_alpha if alpha is None else float(alpha)
    cal = prepare_calibration(P)
    src = ov_fp32(P)
    settings = quantize_settings(P, alpha, cal)
    folder = artifact_dir(P, "ov-int8") / f"ir-{settings_key(**settings)}"

    def build(tmp: Path) -> None:
        import nncf
        import openvino as ov

        advanced = nncf.AdvancedQuantizationParameters(
            smooth_quant_alphas=nncf.AdvancedSmoothQuantParameters(matmul=alpha))
        q = nncf.quantize(ov.Core().read_model(str(src)), calibration_dataset(cal),
                          model_type=nncf.ModelType.TRANSFORMER, subset_size=len(cal.feeds),
                          advanced_parameters=advanced)
        save_ir(q, tmp)
        atomic.write_json(tmp / "quantization.json",
                          {**settings, "calibration_source": cal.source, "calibration_sentences": cal.n_sentences,
                           "calibration_seq_len": cal.seq_len, "source_ir": str(src)}, indent=1)
        log.info("NNCF INT8 (alpha %s) of %s: %s", alpha, src, folder)
    return cached_ir(folder, build)


def ov_int8(P: Params) -> Path:
    """The ``ov-int8`` format: NNCF static INT8 with params ``ov_smoothquant_alpha``."""
    return ov_int8_to(P)


def gate_variants(P: Params) -> dict[str, float]:
    """The ``ov-int8`` variants 03 gates beside the default (label -> SmoothQuant alpha): no SmoothQuant and
    the paper's alpha (params ``smoothquant_alpha``), whichever differ from params ``ov_smoothquant_alpha``."""
    out = {"no-smoothquant": NO_SMOOTHQUANT, f"alpha-{P.smoothquant_alpha:g}": float(P.smoothquant_alpha)}
    return {k: a for k, a in out.items() if a != P.ov_smoothquant_alpha
            and not (a < 0 and P.ov_smoothquant_alpha < 0)}
