"""Profile a guest command under qemu-aarch64 with the tbprofile plugin and turn the
profile into cycles and milliseconds on the modelled CPU (see __init__.py for the API)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from .blockcycles import BlockCycles, cache_dir
from .loops import split_loops
from .profile import Profile, read_profile, save_profile

QEMU = os.environ.get("FACEDGE_QEMU", "/usr/bin/qemu-aarch64")  # dynamic build: plugins need it
PLUGIN_SOURCE = Path(__file__).with_name("tbprofile.c")
MARK_SYSCALL = 0x7FAC  # the guest's start/stop marker: syscall(0x7fac, 1) ... syscall(0x7fac, 0)


class GuestRunError(RuntimeError):
    """The guest command failed under qemu; the message names it and ends with its output."""


def build_plugin(out_dir: Path | None = None) -> Path:
    """Compiles tbprofile.c once per source version; returns the .so path."""
    src = PLUGIN_SOURCE.read_bytes()
    out_dir = out_dir or cache_dir()
    so = out_dir / f"libtbprofile-{hashlib.sha1(src).hexdigest()[:10]}.so"
    if not so.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = so.with_suffix(f".{os.getpid()}.tmp")
        run = subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(tmp), str(PLUGIN_SOURCE)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"could not build the qemu plugin {PLUGIN_SOURCE}:\n{run.stderr}")
        os.replace(tmp, so)
    return so


def profile_run(argv, *, qemu_cpu: str = "cortex-a72", prefix=None, env=None, cwd=None, threads: int | None = None,
                pin: bool = True, timeout: float | None = None, keep=None, cache: bool = False) -> tuple:
    """Runs argv (argv[0]: an aarch64 executable) under qemu with the plugin.
    Returns (Profile, completed process). threads sets OMP_NUM_THREADS and a passive
    OpenMP wait policy (waiting threads sleep instead of spinning: under emulation a
    spinning thread would be counted as work). keep: also save the raw profile there
    (gzip-compressed when the name ends in .gz), to re-cost it later without qemu.
    cache: also simulate the Pi 4B's L1/L2 data caches (slower)."""
    plugin = build_plugin()
    run_env = dict(os.environ if env is None else env)
    if threads is not None:
        run_env.update(OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE", GOMP_SPINCOUNT="0")
    fd, out = tempfile.mkstemp(prefix="tbprofile-", suffix=".txt")
    os.close(fd)
    cmd = [QEMU, "-cpu", qemu_cpu]
    if prefix:
        cmd += ["-L", str(prefix)]
    from .cpus import plugin_cache_args

    cmd += ["-plugin", f"{plugin},out={out}" + (f",cache=1,{plugin_cache_args(qemu_cpu)}" if cache else ""),
            *map(str, argv)]
    if pin:  # no address randomization: block addresses and counts repeat run to run
        cmd = ["setarch", os.uname().machine, "-R", *cmd]
    try:
        run = subprocess.run(cmd, env=run_env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        if run.returncode != 0:
            raise GuestRunError(f"{' '.join(map(str, argv))}: exit {run.returncode} under qemu -cpu {qemu_cpu}:\n"
                                f"{(run.stdout + run.stderr)[-2000:]}")
        if keep:
            save_profile(Path(out), Path(keep))
        return read_profile(Path(out)), run
    finally:
        os.unlink(out)


def cycles_of(profile: Profile, cpu: str = "cortex-a72", phase: int | None = None, progress=None) -> dict:
    """Cycles and instructions per guest thread, per iteration, for one phase (default:
    the only marked phase when the guest marked one, else the whole run)."""
    if phase is None:
        phase = profile.phases[0] if len(profile.phases) == 1 else 0
    model = BlockCycles(cpu)
    executed, loops = split_loops(profile.counts(phase))
    executed = [(block.code, counts) for block, counts in executed] + loops
    model.ensure([code for code, _ in executed], progress=progress)
    iterations = profile.marks.get(phase, 1) or 1
    cyc = [0.0] * profile.vcpus
    insns = [0] * profile.vcpus
    fallback = 0
    for code, counts in executed:
        cost = model.cost(code)
        for v, c in enumerate(counts):
            if c:
                cyc[v] += c * cost["cycles"]
                insns[v] += c * cost["insns"]
                fallback += c * cost["fallback"]
    return {"phase": phase, "iterations": iterations, "per_thread_cycles": [c / iterations for c in cyc],
            "per_thread_insns": [i / iterations for i in insns], "fallback_insns": fallback / iterations,
            "blocks": len(executed) - len(loops), "cut_loops": len(loops)}


def summarize(cyc: dict, cpu: str, clock_mhz: float, threads: int | None) -> dict:
    """cycles_of's result as the estimate: the busiest thread's cycles at the clock."""
    from .model import predict_ms

    per_thread = cyc["per_thread_cycles"]
    active = [c for c in per_thread if c > 0]
    total_insns = sum(cyc["per_thread_insns"])
    return {
        "ms": predict_ms(per_thread, clock_mhz, cpu, threads or 1),
        "cycles": max(per_thread) if per_thread else 0.0,
        "per_thread_cycles": per_thread,
        "per_thread_insns": cyc["per_thread_insns"],
        "iterations": cyc["iterations"],
        "phase": cyc["phase"],
        "threads_active": len(active),
        "ipc": total_insns / sum(active) if active else 0.0,
        "fallback_fraction": cyc["fallback_insns"] / total_insns if total_insns else 0.0,
        "blocks": cyc["blocks"],
        "cpu": cpu, "clock_mhz": clock_mhz, "threads": threads,
    }


def phase_estimate(profile: Profile, phase: int, threads: int, cpu: str = "cortex-a72", clock_mhz: float = 1500,
                   balanced: bool = False, params=None) -> dict:
    """One marked phase of a profile made with cache=True, costed with the memory and
    thread model (model.predict_ms; its fitted Pi 4B parameters by default): summarize()'s
    keys, "ms" with memory, plus "core_only_ms" (pipeline alone, busiest thread) and
    "as_profiled_ms" (memory, epochs as profiled: no balancing) and "late_cuts_merged_ms"
    ("ms" with the epochs a late cut split priced as one: model.merge_late_cuts; not the
    headline, see model.MERGE_GAIN). balanced: a thread pool that hands out work
    dynamically (see model.predict_ms)."""
    from .model import MERGE_GAIN, PARAMS, features, predict_ms

    params = PARAMS.get(cpu) if params is None else params
    if params is None:
        raise ValueError(f"no fitted memory parameters for {cpu} yet (bench/a72/timing/model.py PARAMS)")
    core = cycles_of(profile, cpu, phase)
    out = summarize(core, cpu, clock_mhz, threads)
    feat = features(profile, phase, core)
    out["core_only_ms"] = out["ms"]
    out["ms"] = predict_ms(feat, clock_mhz, params, balanced=balanced, threads=threads)
    out["as_profiled_ms"] = predict_ms(feat, clock_mhz, params)
    out["late_cuts_merged_ms"] = predict_ms(feat, clock_mhz, params, balanced=balanced, threads=threads,
                                            merge_gain=MERGE_GAIN)
    out["cache_simulated"] = feat["cache_simulated"]
    return out


def model_version(cpu: str = "cortex-a72") -> str:
    """What a cost depends on besides the profile: the block model's version and the fitted
    memory parameters. A cost made under another version is re-costed from its kept profile."""
    from .blockcycles import MODEL_VERSION
    from .model import PARAMS

    params = PARAMS.get(cpu)
    return f"{cpu} {MODEL_VERSION} " + (",".join(f"{k}={v:g}" for k, v in params.as_dict().items()) if params else "-")


def estimate(argv, threads: int | None = 1, cpu: str = "cortex-a72", clock_mhz: float = 1500, *,
             qemu_cpu: str | None = None, prefix=None, env=None, cwd=None, progress=None,
             timeout: float | None = None, keep=None) -> dict:
    """See the package docstring."""
    prof, run = profile_run(argv, qemu_cpu=qemu_cpu or cpu, prefix=prefix, env=env, cwd=cwd, threads=threads,
                            timeout=timeout, keep=keep)
    out = summarize(cycles_of(prof, cpu, progress=progress), cpu, clock_mhz, threads)
    out["marked"] = bool(prof.marks)
    out["phases"] = {ph: summarize(cycles_of(prof, cpu, ph), cpu, clock_mhz, threads) for ph in prof.phases}
    out["stdout"] = run.stdout
    return out
