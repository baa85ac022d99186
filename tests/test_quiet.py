"""lib/quiet.py silences exactly the known third-party messages, nothing else."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import pytest

from lib import quiet


@pytest.fixture(autouse=True)
def installed():
    quiet.install()  # as `import lib` does; idempotent


def _emitted(logger: str, message: str, level: int = logging.WARNING) -> bool:
    seen = []

    class Catch(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())
    log = logging.getLogger() if logger == "root" else logging.getLogger(logger)
    handler = Catch()
    log.addHandler(handler)
    try:
        log.log(level, message)
    finally:
        log.removeHandler(handler)
    return bool(seen)


@pytest.mark.parametrize("logger, message", [
    ("torchao", "Failed to load /x/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library"),
    ("torchao.kernel.intmm", "Warning: Detected no triton, on systems without Triton certain kernels will not work"),
    ("torch.utils._pytree", "<enum 'KernelPreference'> is an Enum subclass and is now natively supported by "
                            "torch.compile as an opaque value type."),
    ("root", "Please consider to run pre-processing before quantization. Refer to example: https://x"),
    ("root", "Please consider pre-processing before quantization. See https://x"),
    ("fusion_embedlayer", "word_embedding_table (m.embeddings.word_embeddings.weight) size 184 <= "
                          "position_embedding_table (m.embeddings.position_embeddings.weight) size 512"),
    ("transformers.trainer_utils", "mtime may not be reliable on this filesystem, falling back to numerical ordering"),
])
def test_known_noise_is_silenced(logger, message):
    assert not _emitted(logger, message)


@pytest.mark.parametrize("logger, message, level", [
    ("torchao", "some other torchao warning", logging.WARNING),
    ("root", "Please check your input file", logging.WARNING),
    ("fusion_embedlayer", "word_embedding_table (w) size 30522 <= position_embedding_table (p) size 40000",
     logging.WARNING),                                            # a real vocabulary: kept
    ("neural_compressor", "Smooth quant failed", logging.ERROR),  # INC's warnings and errors: kept
    ("lib.report", "Failed to load x.so", logging.WARNING),       # the same text from another logger: kept
])
def test_anything_else_still_shows(logger, message, level):
    assert _emitted(logger, message, level)


def test_neural_compressor_info_lines_are_dropped():
    assert not _emitted("neural_compressor", "Start smooth scales collection.", logging.INFO)


def test_warnings_are_silenced_by_message_and_module_only():
    with warnings.catch_warnings(record=True) as caught:  # restores the process's filters on exit
        warnings.simplefilter("always")
        quiet.install()
        warnings.warn_explicit("Argument ``group`` is an experimental feature.", UserWarning, "x.py", 1,
                               module="optuna._experimental")
        warnings.warn_explicit("Argument ``group`` is an experimental feature.", UserWarning, "x.py", 1,
                               module="mypackage")
        warnings.warn_explicit("pkg_resources is deprecated as an API.", UserWarning, "x.py", 1,
                               module="neural_compressor.utils.utility")
        warnings.warn_explicit("Exporting aten::index operator of advanced indexing in opset 14", UserWarning,
                               "x.py", 1, module="torch.onnx._internal.torchscript_exporter.symbolic_opset11")
    assert [str(w.message) for w in caught] == ["Argument ``group`` is an experimental feature."]
    assert caught[0].filename == "x.py"


def test_every_entry_says_why():
    assert all(len(n.why) > 40 and n.kind in ("log", "warning") for n in quiet.NOISE)


def _bars(env: dict) -> str:
    code = ("import lib\nfrom tqdm.notebook import tqdm as nb\nfrom tqdm import tqdm\n"
            "print(tqdm(range(2), disable=False).disable, nb(range(2)).disable)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=120)
    return out.stdout.strip().splitlines()[-1]  # (a drawn notebook bar prints its text outside a kernel)


def test_tqdm_disable_turns_every_bar_off_notebook_bars_included():
    """TQDM_DISABLE=1 (make's papermill runs) disables bars that tqdm.notebook or callers enable explicitly;
    without it, bars are drawn (in Lab: ipywidgets)."""
    assert _bars({"TQDM_DISABLE": "1"}) == "True True"
    assert _bars({"TQDM_DISABLE": ""}) == "False False"
