"""Result files (lib.results.io): what a record says about the machine that produced it."""

from __future__ import annotations

from lib.results import io

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B45
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni
processor\t: 1
model name\t: AMD EPYC 9B45
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni
"""


def test_cpu_info_reads_model_and_int8_flags():
    info = io.cpu_info(CPUINFO)
    assert info == {"cpu_model": "AMD EPYC 9B45",
                    "isa": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni"]}
    amx = io.cpu_info("model name : Xeon\nflags : avx2 avx512f avx512_vnni amx_tile amx_int8 amx_bf16\n")
    assert {"amx_tile", "amx_int8"} <= set(amx["isa"])
    arm = io.cpu_info("Features\t: fp asimd evtstrm sve\nCPU implementer\t: 0x41\n")
    assert arm["isa"] == ["asimd", "sve"]
    assert io.cpu_info("")["isa"] is None                       # unknown, never guessed


def test_every_record_says_which_cpu_and_isa_ran_it():
    m = io.machine_info()
    assert {"python", "platform", "cpus", "cpu_model", "isa"} <= set(m) and m["cpu_model"]
