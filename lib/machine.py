"""The CPU a run measured on: model name and the instruction-set flags that decide INT8 speed.

Why in every result: INT8 kernels differ by ISA (AMX, AVX-512 VNNI, AVX-VNNI, AVX2, NEON), so the
fastest engine, and even INT8 vectors, differ between machines (ONNX Runtime's dynamic INT8 against
OpenVINO's static INT8 went one way on an AVX-512 VNNI Xeon and the other on an AVX2-only EPYC). A reader
who sees another choice in 03's gate, or other ratios in the benchmark, can tell why from this record.

Standard library only (layer 0): ``/proc/cpuinfo`` on Linux; elsewhere ``py-cpuinfo`` when it is
installed, else ``platform`` (model only, no flags: said in ``source``).
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

# Flags that change which INT8 / BF16 / FP32 kernels an engine can use (x86 names as Linux spells them;
# ARM ``Features``: asimd = NEON, asimddp = dot product, i8mm, bf16, sve).
ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "bf16", "sve")

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """Feature flags of the first processor in ``/proc/cpuinfo`` text (x86 ``flags``, ARM ``Features``)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def _field(cpuinfo: str, *keys: str) -> str | None:
    """The first processor's value of the first of ``keys`` present in ``/proc/cpuinfo`` text."""
    for key in keys:
        for line in cpuinfo.splitlines():
            k, _, value = line.partition(":")
            if k.strip() == key and value.strip():
                return value.strip()
    return None


def int8_isa(flags: Iterable[str]) -> str:
    """The widest INT8 matrix path the flags allow, as a reader would name it: ``AMX-INT8``,
    ``AVX-512 VNNI``, ``AVX-VNNI``, ``AVX-512BW``, ``AVX2``, ``NEON i8mm``, ``NEON dot``, ``NEON``, else
    ``none``."""
    f = set(flags)
    for flag, name in (("amx_int8", "AMX-INT8"), ("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI"),
                       ("avx512bw", "AVX-512BW"), ("avx2", "AVX2"), ("i8mm", "NEON i8mm"), ("asimddp", "NEON dot"),
                       ("asimd", "NEON")):
        if flag in f:
            return name
    return "none"


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """CPU model, vendor, family and the ISA flags of :data:`ISA_FLAGS` present, from ``/proc/cpuinfo`` text."""
    flags = cpu_flags(text)
    return {"model": _field(text, "model name", "Model", "Hardware", "cpu model") or platform.processor() or None,
            "vendor": _field(text, "vendor_id", "CPU implementer"),
            "family": _field(text, "cpu family", "CPU architecture"),
            "isa": [f for f in ISA_FLAGS if f in flags], "int8_isa": int8_isa(flags)}


def _from_py_cpuinfo() -> dict[str, Any] | None:
    try:
        import cpuinfo  # py-cpuinfo, optional: it reads CPUID where there is no /proc/cpuinfo
    except ImportError:
        return None
    info = cpuinfo.get_cpu_info()
    flags = frozenset(info.get("flags", []))
    return {"model": info.get("brand_raw"), "vendor": info.get("vendor_id_raw"),
            "family": str(info["family"]) if info.get("family") is not None else None,
            "isa": [f for f in ISA_FLAGS if f in flags], "int8_isa": int8_isa(flags)}


@lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """This machine's CPU: ``model``, ``vendor``, ``family``, ``isa`` (the :data:`ISA_FLAGS` it has),
    ``int8_isa`` (:func:`int8_isa`), ``logical_cpus``, ``machine`` (x86_64, aarch64...) and ``source``
    (where the facts come from). Goes into every result's ``machine`` block."""
    info: dict[str, Any] | None = None
    source = "platform"
    try:
        info, source = parse_cpuinfo(CPUINFO.read_text(encoding="utf-8", errors="replace")), str(CPUINFO)
    except OSError:
        info = _from_py_cpuinfo()
        source = "py-cpuinfo" if info is not None else source
    if info is None:
        info = {"model": platform.processor() or None, "vendor": None, "family": None, "isa": [],
                "int8_isa": "unknown"}
    return {**info, "logical_cpus": os.cpu_count(), "machine": platform.machine(), "source": source}
