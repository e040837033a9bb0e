"""facedge bench: what it records about the machine (CPU, Pi board, temperature, throttling)."""

import os
import stat

import pytest

from facedge.bench import machine


def test_throttle_flags_decode_the_firmware_word():
    assert machine.decode_throttled(0) == []
    assert machine.decode_throttled(0x50005) == ["under-voltage", "throttled", "under-voltage has occurred",
                                                 "throttling has occurred"]
    assert machine.decode_throttled(0x80000) == ["soft temperature limit has occurred"]


def test_temperature_and_throttling_from_sysfs(tmp_path, monkeypatch):
    (tmp_path / "temp").write_text("48312\n")
    (tmp_path / "get_throttled").write_text("50000\n")  # the firmware file holds hex without 0x
    monkeypatch.setattr(machine, "THERMAL_ZONE", tmp_path / "temp")
    monkeypatch.setattr(machine, "FIRMWARE_THROTTLED", tmp_path / "get_throttled")
    assert machine.thermal() == {"temp_c": 48.3, "throttled": 0x50000,
                                 "throttle_flags": ["under-voltage has occurred", "throttling has occurred"]}


def test_throttling_from_vcgencmd_when_sysfs_lacks_it(tmp_path, monkeypatch):
    tool = tmp_path / "bin" / "vcgencmd"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n[ \"$1\" = get_throttled ] && echo throttled=0x4\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(machine, "THERMAL_ZONE", tmp_path / "absent")
    monkeypatch.setattr(machine, "FIRMWARE_THROTTLED", tmp_path / "absent")
    assert machine.thermal() == {"temp_c": None, "throttled": 4, "throttle_flags": ["throttled"]}


def test_nothing_readable_means_nothing_claimed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(machine, "THERMAL_ZONE", tmp_path / "absent")
    monkeypatch.setattr(machine, "FIRMWARE_THROTTLED", tmp_path / "absent")
    assert machine.thermal() == {"temp_c": None, "throttled": None, "throttle_flags": []}


def test_cpu_model_names_arm_cores_by_part_number():
    assert machine._cpu_model({"CPU part": "0xd08", "Features": "fp asimd"}) == "Cortex-A72"
    assert machine._cpu_model({"CPU part": "0xd0b"}) == "Cortex-A76"
    assert machine._cpu_model({"model name": "AMD EPYC"}) == "AMD EPYC"
    assert machine._features({"Features": "fp asimd evtstrm crc32 cpuid asimdhp asimddp"}) == ["asimd", "asimdhp", "asimddp"]


def test_describe_this_machine():
    m = machine.describe()
    assert m["cores"] == os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        assert m["cores_allowed"] == sorted(os.sched_getaffinity(0))
    assert set(m["int8_dot_product"]) <= set(m["features"])
    assert m["versions"]["numpy"] and m["versions"]["facedge"]


@pytest.mark.parametrize("arch,features,says", [
    ("x86_64", ["avx2"], "no VNNI"),
    ("aarch64", ["asimd"], "Cortex-A72"),
    ("aarch64", ["asimd", "asimddp"], None),
    ("x86_64", ["avx2", "avx512_vnni"], None),
])
def test_int8_note_says_why_int8_may_not_be_faster(arch, features, says):
    note = machine.int8_note({"arch": arch, "int8_dot_product": sorted(machine.INT8_DOT & set(features))})
    assert (note is None) if says is None else (says in note)


def test_int8_note_when_the_build_lacks_the_cpus_dot_product_kernels():
    kernels = [{"variant": "avx2", "compiled": True, "cpu": True, "runs": True},
               {"variant": "avx512_vnni", "compiled": False, "cpu": True, "runs": False}]
    note = machine.int8_note({"arch": "x86_64", "int8_dot_product": ["avx512_vnni"], "facedge_kernels": kernels})
    assert "facedge's ncnn build has no kernels for them" in note
    kernels[1].update(compiled=True, runs=True)
    assert machine.int8_note({"arch": "x86_64", "int8_dot_product": ["avx512_vnni"], "facedge_kernels": kernels}) is None


def test_the_build_runs_the_kernels_this_cpu_has():
    """facedge's ncnn build compiles every x86 variant its layers use (AVX-512 and VNNI
    included) and ncnn's dispatch runs each one the CPU supports."""
    from facedge.runtime.detector import kernel_variants

    kernels = kernel_variants()
    if kernels is None:
        pytest.skip("facedge's C++ core is not built")
    assert machine.describe(kernels)["facedge_kernels"] == kernels
    flags = [line for line in open("/proc/cpuinfo").read().splitlines() if line.startswith(("flags", "Features"))]
    features = set(flags[0].split(":", 1)[1].split()) if flags else set()
    by_name = {k["variant"]: k for k in kernels}
    if machine.describe()["arch"] == "x86_64":
        assert set(by_name) == {"avx", "fma", "f16c", "avx2", "avx_vnni", "avx512", "avx512_vnni"}
        assert all(k["compiled"] for k in kernels)
        # the kernel runs exactly where /proc/cpuinfo lists the instructions
        assert by_name["avx512_vnni"]["runs"] == ("avx512_vnni" in features)
        assert by_name["avx512"]["runs"] == ({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= features)
        assert by_name["avx2"]["runs"] == ("avx2" in features)
    for k in kernels:
        assert k["runs"] == (k["compiled"] and k["cpu"])


def test_throttling_during_a_run_counts_active_flags_and_new_sticky_ones():
    cool = {"throttled": 0x50000}  # under-voltage and throttling happened since boot, not now
    assert machine.throttled_during(cool, cool) == []
    assert machine.throttled_during(cool, {"throttled": 0x50004}) == ["throttled"]
    assert machine.throttled_during({"throttled": 0}, {"throttled": 0x80000}) == ["soft temperature limit has occurred"]
    assert machine.throttled_during({"throttled": None}, {"throttled": None}) == []
