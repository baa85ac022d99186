"""lib.machine: the CPU model and ISA flags recorded in every result (INT8 speed depends on them)."""

from __future__ import annotations

from lib import machine, params, results

XEON = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse avx avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16
processor\t: 1
flags\t\t: fpu
"""
EPYC_AVX2 = "vendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel name\t: AMD EPYC 7B12\nflags\t: sse avx avx2 fma\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp i8mm bf16 sve\nCPU implementer\t: 0x41\n"


def test_parse_cpuinfo_names_model_isa_and_the_int8_path():
    x = machine.parse_cpuinfo(XEON)
    assert x["model"] == "Intel(R) Xeon(R) Platinum 8480+" and x["vendor"] == "GenuineIntel" and x["family"] == "6"
    assert {"avx512_vnni", "amx_int8", "avx512_bf16"} <= set(x["isa"]) and "fpu" not in x["isa"]
    assert x["int8_isa"] == "AMX-INT8"                          # the first processor's flags, not the last's
    e = machine.parse_cpuinfo(EPYC_AVX2)
    assert e["int8_isa"] == "AVX2" and e["isa"] == ["avx", "avx2", "fma"]
    g = machine.parse_cpuinfo(GRAVITON)
    assert g["int8_isa"] == "NEON i8mm" and "sve" in g["isa"] and g["vendor"] == "0x41"
    assert machine.int8_isa({"avx512f", "avx512bw"}) == "AVX-512BW" and machine.int8_isa(set()) == "none"
    assert machine.int8_isa({"avx2", "avx_vnni"}) == "AVX-VNNI"


def test_every_result_records_this_cpu(results_dir):
    info = machine.cpu_info()
    assert {"model", "vendor", "isa", "int8_isa", "logical_cpus", "machine", "source"} <= set(info)
    assert results.machine_info()["cpu"] == info
    P = params.load("tiny")
    results.write_result(P, "04-align", identity={}, metrics={"formats": {}}, data={"tier": "test"})
    assert results.read_result("tiny", "04-align").machine.cpu == info
