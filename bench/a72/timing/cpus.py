"""The CPUs the timing model knows: how llvm-mca models each core, and its data caches
for the plugin's simulation.

cortex-a72 (Raspberry Pi 4B): LLVM has no A72 scheduling model of its own; -mcpu=cortex-a72
uses its Cortex-A57 model (the A72's predecessor: same 3-wide decode, same pipes; the A72
shortened some FP latencies, which throughput-bound kernels do not feel). Caches: 32 KB
2-way L1D per core, 1 MB 16-way L2 shared by the four cores (BCM2711).

cortex-a76 (Raspberry Pi 5): LLVM (14 and 19) models -mcpu=cortex-a76 with that same A57
model, which would halve the A76's two 128-bit FP/ASIMD pipes; LLVM 19's Neoverse N1 model
is the A76's server twin (same core), so it is used when llvm-mca-19 is installed (Debian
package llvm-19). Caches: 64 KB 4-way L1D per core; the private 512 KB L2 and the shared
2 MB L3 (BCM2712) are simulated as one shared 2 MB 16-way last level.
"""

from __future__ import annotations

import shutil

CPUS = {
    "cortex-a72": {"mca": [("llvm-mca", "cortex-a72")], "cache": {"l1kb": 32, "l1ways": 2, "l2kb": 1024, "l2ways": 16}},
    "cortex-a76": {"mca": [("llvm-mca-19", "neoverse-n1"), ("llvm-mca", "cortex-a76")],
                   "cache": {"l1kb": 64, "l1ways": 4, "l2kb": 2048, "l2ways": 16}},
}


def cpu_info(cpu: str) -> dict:
    if cpu not in CPUS:
        raise ValueError(f"cpu {cpu!r}: the timing model knows {', '.join(CPUS)}")
    return CPUS[cpu]


def mca_for(cpu: str) -> tuple:
    """(llvm-mca executable, -mcpu value) for a CPU: the best installed model."""
    for exe, mcpu in cpu_info(cpu)["mca"]:
        if shutil.which(exe):
            return exe, mcpu
    raise RuntimeError(f"no llvm-mca for {cpu}: install Debian's llvm ({', '.join(e for e, _ in CPUS[cpu]['mca'])})")


def plugin_cache_args(cpu: str) -> str:
    return ",".join(f"{k}={v}" for k, v in cpu_info(cpu)["cache"].items())
