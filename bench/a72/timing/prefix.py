"""qemu -L prefixes that make a guest see a Raspberry Pi's CPU: /proc/cpuinfo and the
/sys/devices/system/cpu files ncnn reads (core type from MIDR, cache sizes and which
cores share them). ncnn sizes its convolution and GEMM tiles from the per-core L2 it
finds there (ncnn 2023 and later), so the prefix must describe the board measured.

cortex-a72 (Pi 4B, BCM2711): the shared folder's make-a72-prefix.sh (32 KB L1D per core,
1 MB L2 shared by the four cores). cortex-a76 (Pi 5, BCM2712): 64 KB L1D and 512 KB L2
per core, 2 MB L3 shared, MIDR 0x414fd0b1 (r4p1), the features Raspberry Pi OS lists."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .ncnn_build import arm_cache

HERE = Path(__file__).resolve().parent

A76 = {"features": "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp",
       "part": "0xd0b", "variant": "0x4", "revision": "1", "midr": "0x00000000414fd0b1",
       # (level, type, size, shared by all four cores)
       "caches": [(1, "Data", "64K", False), (1, "Instruction", "64K", False), (2, "Unified", "512K", False),
                  (3, "Unified", "2048K", True)]}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def _make_a76(p: Path) -> None:
    (p / "proc").mkdir(parents=True)
    os.symlink("/usr/aarch64-linux-gnu/lib", p / "lib")
    info = "".join(f"processor\t: {c}\nBogoMIPS\t: 108.00\nFeatures\t: {A76['features']}\nCPU implementer\t: 0x41\n"
                   f"CPU architecture: 8\nCPU variant\t: {A76['variant']}\nCPU part\t: {A76['part']}\n"
                   f"CPU revision\t: {A76['revision']}\n\n" for c in range(4))
    _write(p / "proc" / "cpuinfo", info + "Revision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0")
    cpu = p / "sys" / "devices" / "system" / "cpu"
    for c in range(4):
        b = cpu / f"cpu{c}"
        for i, (level, kind, size, shared) in enumerate(A76["caches"]):
            d = b / "cache" / f"index{i}"
            _write(d / "level", str(level))
            _write(d / "type", kind)
            _write(d / "size", size)
            _write(d / "shared_cpu_map", "f" if shared else f"{1 << c:x}")
        _write(b / "topology" / "thread_siblings", f"{1 << c:x}")
        _write(b / "topology" / "thread_siblings_list", str(c))
        _write(b / "topology" / "core_cpus_list", str(c))
        _write(b / "regs" / "identification" / "midr_el1", A76["midr"])
    for name in ("possible", "online", "present"):
        _write(cpu / name, "0-3")


def cpu_prefix(cpu: str = "cortex-a72") -> Path:
    """The prefix for a CPU, made once under the ARM cache."""
    name = {"cortex-a72": "a72-prefix", "cortex-a76": "a76-prefix"}.get(cpu)
    if name is None:
        raise ValueError(f"cpu {cpu!r}: no qemu prefix known (cortex-a72, cortex-a76)")
    p = arm_cache() / name
    if (p / "proc" / "cpuinfo").is_file():
        return p
    tmp = Path(f"{p}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    if cpu == "cortex-a72":
        shared = Path(os.environ.get("FACEDGE_SHARED") or HERE.parents[2].parent / "shared")
        subprocess.run([str(shared / "tools" / "arm" / "make-a72-prefix.sh"), str(tmp)], check=True, capture_output=True)
    else:
        _make_a76(tmp)
    os.replace(tmp, p)
    return p
