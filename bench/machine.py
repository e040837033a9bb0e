"""What machine a benchmark ran on, from what Linux exposes (each field None where
unreadable): CPU model and the features that decide fp16/int8 speed, cores,
frequency and governor, and on a Raspberry Pi the board, the SoC temperature and the
firmware's throttling flags (sysfs, else `vcgencmd`)."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# CPU features that change which ncnn kernels run (int8 dot products, fp16 arithmetic).
X86_FEATURES = ("sse4_1", "avx", "fma", "f16c", "avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                "avx512_bf16", "amx_int8", "hypervisor")
ARM_FEATURES = ("asimd", "asimdhp", "asimddp", "i8mm", "sve", "bf16")
INT8_DOT = {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
             "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78"}
# Bits of the Pi firmware's get_throttled word.
THROTTLE_BITS = {0: "under-voltage", 1: "ARM frequency capped", 2: "throttled", 3: "soft temperature limit",
                 16: "under-voltage has occurred", 17: "frequency capping has occurred",
                 18: "throttling has occurred", 19: "soft temperature limit has occurred"}
FIRMWARE_THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")  # the SoC on a Raspberry Pi


def _read(path):
    try:
        return Path(path).read_text(errors="replace").strip("\x00 \n")
    except OSError:
        return None


def _cpuinfo() -> dict:
    """The first value of each key in /proc/cpuinfo (the cores of these boards agree)."""
    fields = {}
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def _cpu_model(info: dict):
    if info.get("model name"):
        return info["model name"]
    part = info.get("CPU part")
    if part:
        return ARM_PARTS.get(part.lower(), f"ARM CPU part {part}")
    return platform.processor() or None


def _features(info: dict) -> list:
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return [f for f in X86_FEATURES + ARM_FEATURES if f in flags]


def _khz_to_mhz(text):
    return round(int(text) / 1000) if text and text.isdigit() else None


def _frequency() -> dict:
    cpufreq = Path("/sys/devices/system/cpu/cpu0/cpufreq")
    cur = _khz_to_mhz(_read(cpufreq / "scaling_cur_freq"))
    if cur is None:
        mhz = _cpuinfo().get("cpu MHz")
        cur = round(float(mhz)) if mhz else None
    return {"current_mhz": cur, "max_mhz": _khz_to_mhz(_read(cpufreq / "cpuinfo_max_freq")),
            "governor": _read(cpufreq / "scaling_governor")}


def _vcgencmd(*args):
    exe = shutil.which("vcgencmd")
    if not exe:
        return None
    try:
        return subprocess.run([exe, *args], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def decode_throttled(word: int) -> list:
    return [text for bit, text in THROTTLE_BITS.items() if word & (1 << bit)]


def throttled_during(before: dict, after: dict) -> list:
    """What throttling touched a run: flags active at its start or end, and 'has occurred'
    flags that were set during it (they stay set from boot until the next reboot)."""
    b, a = before.get("throttled") or 0, after.get("throttled") or 0
    now = (b | a) & 0xF
    new_since = (a & ~b) & 0xF0000
    return decode_throttled(now | new_since)


def thermal() -> dict:
    """SoC temperature and throttling now: {'temp_c', 'throttled' (int or None), 'throttle_flags'}."""
    temp = _read(THERMAL_ZONE)
    temp_c = round(int(temp) / 1000, 1) if temp and temp.lstrip("-").isdigit() else None
    raw = _read(FIRMWARE_THROTTLED)
    if raw is None:
        out = _vcgencmd("get_throttled")  # "throttled=0x50005"
        raw = out.partition("=")[2] if out and "=" in out else None
    try:
        word = int(raw, 16) if raw else None
    except ValueError:
        word = None
    return {"temp_c": temp_c, "throttled": word, "throttle_flags": decode_throttled(word) if word else []}


def _version(dist_names):
    for name in dist_names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def describe(kernels=None) -> dict:
    """The machine record. kernels: ncnn's kernel variants in facedge's build
    (facedge.runtime.detector.build_info()["kernels"], which callers above this
    layer pass in), recorded as "facedge_kernels"."""
    info = _cpuinfo()
    features = _features(info)
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    board = _read("/proc/device-tree/model")
    machine = {
        "cpu": _cpu_model(info), "arch": platform.machine(), "features": features,
        "int8_dot_product": sorted(INT8_DOT & set(features)),
        "facedge_kernels": kernels,
        "virtual_machine": "hypervisor" in features or None,
        "cores": os.cpu_count(), "cores_allowed": allowed, **_frequency(),
        "board": board, "board_revision": info.get("Revision") if board else None,
        "os": platform.platform(), "python": sys.version.split()[0],
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "versions": {"facedge": _version(["facedge"]), "numpy": _version(["numpy"]),
                     "opencv": _version(["opencv-python-headless", "opencv-python", "opencv-contrib-python"]),
                     "onnxruntime": _version(["onnxruntime"]), "ncnn-python": _version(["ncnn"])},
    }
    return machine


# ncnn's kernel variants that do int8 dot products (facedge._core.build_info())
INT8_DOT_KERNELS = {"avx_vnni", "avx512_vnni", "asimddp"}


def int8_note(machine: dict):
    """Why int8 may not beat fp32 here, or None where int8 dot-product kernels run.
    machine: describe()'s record; its "facedge_kernels" (when present) says whether
    facedge's ncnn build has the dot-product kernels the CPU could run."""
    kernels = machine.get("facedge_kernels")
    if machine.get("int8_dot_product"):
        if kernels is not None and not any(k["runs"] for k in kernels if k["variant"] in INT8_DOT_KERNELS):
            return (f"this CPU has int8 dot products ({'/'.join(machine['int8_dot_product'])}) but facedge's ncnn build "
                    "has no kernels for them (an ncnn of your own, given with ncnn_DIR?): int8 convolutions widen to "
                    "16-bit multiply-adds")
        return None
    arch = machine.get("arch") or ""
    if arch in ("aarch64", "arm64", "armv7l"):
        return ("this CPU has no int8 dot-product instructions (asimddp/i8mm; the Pi 4's Cortex-A72 has none, "
                "the Pi 5's Cortex-A76 has asimddp): ncnn's int8 convolutions widen to 16-bit multiplies, "
                "and the quantize/dequantize steps between layers can cost what the smaller weights save")
    if re.match(r"(x86_64|amd64|i\d86)", arch, re.I):
        return ("this CPU has no VNNI (avx512_vnni/avx_vnni): ncnn's x86 int8 convolutions use AVX2 16-bit "
                "multiply-adds, and the quantize/dequantize steps between layers can cost what the smaller weights save")
    return "this CPU has no known int8 dot-product instructions"


def _busy_seconds(cores):
    """CPU time the given cores spent busy (anything but idle and iowait), from /proc/stat."""
    text = _read("/proc/stat")
    if not text:
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = 0
    for line in text.splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            v = [int(x) for x in values[:8]]
            busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal
    return busy / tick


def _own_seconds():
    import resource

    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        own += usage.ru_utime + usage.ru_stime
    return own


class OtherLoad:
    """How much of our cores' time went to other processes (and the hypervisor) between
    start and share(): the benchmark's own processes are counted out. Workers count
    once they have been waited for."""

    def __init__(self, cores):
        import time

        self.cores = set(cores)
        self._clock = time.monotonic
        self.t0, self.busy0, self.own0 = self._clock(), _busy_seconds(self.cores), _own_seconds()

    def share(self):
        busy = _busy_seconds(self.cores)
        if busy is None or self.busy0 is None:
            return None
        wall = self._clock() - self.t0
        others = (busy - self.busy0) - (_own_seconds() - self.own0)
        return round(max(0.0, others) / (wall * len(self.cores)), 3) if wall > 0 else None
