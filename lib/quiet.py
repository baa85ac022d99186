"""Known third-party noise, silenced by its exact message, so that a notebook shows what matters.

Installed once when ``lib`` is imported (``lib/__init__.py``), with :func:`progress_bars_off` where
``TQDM_DISABLE`` asks for no progress bar (``make``'s and the smoke runs' papermill kernels). Each entry
names the library that speaks, its message, and why the message says nothing about this compendium's
runs. Nothing else is silenced: any other warning or log line, from any library or from ``lib``, still
shows, and the notebook smoke runs fail on any warning or stderr output in an executed notebook
(``tests/conftest.py``), so a new one is seen, then either fixed at its source or added here with its
reason. Written by hand: neither ``warnings`` nor ``logging`` keeps a list of "known harmless" messages.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class Noise:
    """One known message: where it comes from (a logger name, or the module a warning is attributed to),
    the start of its text (a regular expression), and why it is harmless here."""

    source: str
    message: str
    why: str
    kind: str = "log"  # "log" (a logging record of logger ``source``) or "warning" (warnings.warn)


NOISE: tuple[Noise, ...] = (
    Noise("torchao", r"Failed to load .*\.so",
          "torchao's wheel carries CUDA kernels (mxfp8, cutlass sm90a) that this CPU build cannot load; "
          "its CPU INT8 path (format torch-int8) does not use them"),
    Noise("torchao.kernel.intmm", r"Warning: Detected no triton",
          "Triton kernels are GPU-only; torchao's CPU INT8 matmul does not use them"),
    Noise("torch.utils._pytree", r"<enum '\w+'> is an Enum subclass and is now natively supported by torch.compile",
          "torchao registers its enums with torch's pytree as older torch needed; torch 2.13 only deprecates it"),
    Noise("root", r"Please consider (to run )?pre-processing before quantization",
          "ONNX Runtime's quantize_static asks for its pre-processing metadata; the static INT8 recipe "
          "quantizes the exported graph as the study does (quantize_static infers shapes on load) and 03's "
          "gate measures the result"),
    Noise("fusion_embedlayer", r"word_embedding_table \(.*\) size (?P<vocab>\d+) <= position_embedding_table",
          "ONNX Runtime's guess that the two tables were swapped, made when the vocabulary is not larger "
          "than the positions: only the 184-word random test model (silenced below 1,000 words only)"),
    Noise("transformers.trainer_utils", r"mtime may not be reliable on this filesystem",
          "the Trainer orders checkpoint-<step> folders by step when their times tie (saved within a second "
          "of each other, as the test model's are): the step order is the right one"),
    Noise("neural_compressor", r"",
          "Intel Neural Compressor's INFO progress lines (\"Start smooth scales collection.\"); its warnings "
          "and errors still show"),
    Noise("optuna", r"Argument ``group`` is an experimental feature",
          "Olive's TPE sampler asks Optuna for grouped sampling, as Olive intends", kind="warning"),
    Noise("neural_compressor", r"pkg_resources is deprecated as an API",
          "Neural Compressor 3.7.1 still imports pkg_resources, present with the pinned setuptools < 81",
          kind="warning"),
    Noise(r"transformers\.", r"Converting a tensor to a Python boolean might cause the trace to be incorrect",
          "transformers' mask code branches on sizes while torch.onnx traces it; every exported encoder is "
          "checked against PyTorch's vectors (03's gate, tests/engines)", kind="warning"),
    Noise("nncf", r"Dataset contains only \d+ samples, smaller than the requested subset size",
          "Olive 0.13's OpenVINOQuantization pass has no subset_size to pass on: NNCF then calibrates on every "
          "sample it is given (fewer than its default 300), which is the intent; lib's own ov-int8 passes "
          "subset_size = the calibration batches"),
    Noise(r"torch\.onnx", r"Exporting aten::index operator of advanced indexing",
          "BERT's embedding look-ups; their indices are never negative (the case the warning is about)",
          kind="warning"),
)

TINY_VOCAB = 1000  # below this a vocabulary is a test model's (fusion_embedlayer entry)


class _Filter(logging.Filter):
    """Drops the records of one logger that match one entry of :data:`NOISE`."""

    def __init__(self, noise: Noise):
        super().__init__()
        self.noise, self.pattern = noise, re.compile(noise.message)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.noise.source == "neural_compressor":
            return record.levelno >= logging.WARNING
        m = self.pattern.match(record.getMessage())
        if m is None:
            return True
        vocab = m.groupdict().get("vocab")
        return vocab is not None and int(vocab) >= TINY_VOCAB


def progress_bars_off() -> None:
    """Every tqdm bar of this process disabled (idempotent): what ``TQDM_DISABLE=1`` asks for.

    Why a wrapper: tqdm reads ``TQDM_DISABLE`` as a default only, and in a Jupyter kernel ``tqdm.auto`` is
    ``tqdm.notebook``, which passes ``disable=False`` itself (tqdm 4.70), as do lib's and transformers'
    calls that pass ``disable=`` explicitly: the variable alone turns off no bar in a notebook. An
    executed notebook read later would keep each bar as drawn (a widget whose saved text says ``0%``).
    """
    import tqdm.std

    _force_disabled(tqdm.std.tqdm)
    _rich_progress_off()


def _force_disabled(cls: type) -> None:
    """Wrap ``cls.__init__`` so every instance is created with ``disable=True`` (idempotent): one wrapper for
    tqdm's and rich's progress classes."""
    init = cls.__init__
    if getattr(init, "_compendium_off", False):
        return

    @functools.wraps(init)
    def disabled(self, *args, **kwargs):
        kwargs["disable"] = True
        init(self, *args, **kwargs)
    disabled._compendium_off = True
    cls.__init__ = disabled


def _rich_progress_off() -> None:
    """The same for rich's progress displays (NNCF's ``track``, in ov-int8 builds and Olive's OpenVINO pass):
    in a Jupyter kernel rich draws them in a widget that an executed notebook keeps as drawn."""
    try:
        import rich.progress
    except ImportError:
        return
    _force_disabled(rich.progress.Progress)


def install() -> None:
    """Add each entry's logging filter and ``warnings`` filter (idempotent); turn progress bars off where
    ``TQDM_DISABLE`` is set to a true value."""
    if os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes"):
        progress_bars_off()
    for noise in NOISE:
        if noise.kind == "warning":
            warnings.filterwarnings("ignore", message=noise.message, module=noise.source)
            continue
        logger = logging.getLogger() if noise.source == "root" else logging.getLogger(noise.source)
        if not any(isinstance(f, _Filter) and f.noise == noise for f in logger.filters):
            logger.addFilter(_Filter(noise))
