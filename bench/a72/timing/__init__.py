"""Cortex-A72 timing model: Raspberry Pi 4B milliseconds without a Pi.

A guest command runs under `qemu-aarch64 -cpu cortex-a72` with the tbprofile TCG plugin
(tbprofile.c), which records every executed translation block's bytes and its execution
count per guest thread. Each distinct block is then costed in cycles by LLVM's
machine-code analyser (`llvm-mca -mcpu=cortex-a72`, steady-state cycles per iteration of
the block; cached by block hash, see blockcycles.py) and the counts times cycles are
summed per thread. Milliseconds = cycles of the busiest thread / clock.

Python API (run from the repository root, `bench` importable)::

    from bench.a72.timing import estimate
    r = estimate(["/path/to/aarch64-prog", "arg"], threads=1, cpu="cortex-a72", clock_mhz=1500,
                 prefix="/path/to/qemu-L-prefix-or-rootfs", env={...}, cwd=None)
    r["ms"]                  # estimated ms per measured iteration on the modelled CPU and clock
    r["cycles"]              # cycles of the busiest thread per iteration
    r["per_thread_cycles"]   # [cycles per iteration] per guest thread (vCPU index; 0 = main)
    r["per_thread_insns"]    # [guest instructions per iteration] per thread
    r["iterations"]          # how many times the measured phase was started (1 when unmarked)
    r["phases"]              # {K: the same keys, for each marked phase K} (several per run)
    r["marked"], r["ipc"], r["fallback_fraction"], r["blocks"], r["stdout"]

What is measured: if the guest brackets its work with the marker system call
``syscall(0x7fac, K)`` ... ``syscall(0x7fac, 0)`` (K = 1..15, any number of times), each
phase K is counted on its own and divided by the number of times it was started, so a
driver can warm up, mark N iterations, and get ms per iteration; one process can mark
several measurements (say a network at 1, 2, 3, 4 threads as phases 1-4). From Python in
the guest: ``ctypes.CDLL(None).syscall(0x7fac, K)``. The top-level result is the only
marked phase (or the whole run when none or several were marked: see r["phases"]).

threads sets OMP_NUM_THREADS and OMP_WAIT_POLICY=PASSIVE (GOMP_SPINCOUNT=0) for the
guest: OpenMP threads waiting at a barrier sleep instead of spinning, so waiting is not
counted as work, and the busiest thread's cycles stand for the wall time. The command
must itself use that many threads (ncnn: opt.num_threads).

estimate() costs the pipeline alone (no cache simulation). With the Pi 4B's caches,
DRAM and thread model (what bench/RESULTS.md's estimates use)::

    prof, run = profile_run(argv, prefix=..., env=..., cache=True, keep="p.txt.gz")
    r = phase_estimate(prof, phase=1, threads=4)     # r["ms"]; r["core_only_ms"]

(apply.py's run_job() does this for facedge and the peers in the arm64 rootfs and keeps
the profiles.) Lower level: ``profile_run(argv, ...) -> (Profile, CompletedProcess)``,
``cycles_of(profile, cpu) -> per-thread cycles``, ``BlockCycles(cpu).cost(code)``.

Command line::

    python -m bench.a72.timing [--threads N] [--cpu cortex-a72] [--clock-mhz 1500]
                               [-L PREFIX] [--json OUT] -- PROG ARGS...

Limits (validated in bench/a72/timing/validate.py; numbers in bench/RESULTS.md): no
branch mispredictions, no cost for the operating system's side of system calls, each
block costed as if it looped on itself (a loop QEMU cut into several blocks as one
loop: loops.py), stores with writeback costed as a store and a separate base update
(blockcycles.py), divides at their worst-case latency. LLVM 14 models the A72 with its
Cortex-A57 scheduling model; the A76 (Pi 5) is costed with LLVM 19's Neoverse N1 model.
"""

from .blockcycles import BlockCycles
from .estimate import GuestRunError, build_plugin, cycles_of, estimate, phase_estimate, profile_run
from .profile import Profile, read_profile

__all__ = ["BlockCycles", "GuestRunError", "Profile", "build_plugin", "cycles_of", "estimate", "phase_estimate",
           "profile_run", "read_profile"]
