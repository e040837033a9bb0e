"""What one network costs on a Raspberry Pi 4B's Cortex-A72, without a Pi: its bare ncnn
inference (frontier_infer.cpp, cross-compiled against an aarch64 ncnn) run under
`qemu-aarch64 -cpu cortex-a72` in a prefix that describes a 4-core A72.

Two measures, whichever this checkout has:
- "a72-ms": the A72 timing model (bench/a72/timing, `estimate()`): estimated
  milliseconds per inference at 1.5 GHz, per thread count (the busiest thread).
- "a72-insn": guest instructions per inference at one thread, counted by the shared
  qemu plugin (tools/arm/qemu-insn-count); (count of 3 runs - count of 1 run) / 2, so
  start-up and model loading cancel. A proxy for cost, not milliseconds.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import tempfile
from pathlib import Path

from facedge.base.errors import FacedgeError

HERE = Path(__file__).parent
DRIVER_SOURCE = HERE / "frontier_infer.cpp"
QEMU = "/usr/bin/qemu-aarch64"  # the dynamic build: plugins need it
CXX = "aarch64-linux-gnu-g++"


def find_ncnn_aarch64(explicit=None) -> Path:
    """An aarch64 ncnn install prefix (include/ncnn, lib/libncnn.a): the one given, or
    the one facedge's ARM build cached (~/.cache/facedge/ncnn/<version>-aarch64-*/install)."""
    if explicit:
        found = [Path(explicit)]
    else:
        cache = Path(os.environ.get("FACEDGE_CACHE_DIR", Path.home() / ".cache" / "facedge"))
        found = sorted(Path(p) for p in glob.glob(str(cache / "ncnn" / "*-aarch64-*" / "install")))
    for prefix in found:
        if (prefix / "lib" / "libncnn.a").is_file() and (prefix / "include" / "ncnn" / "net.h").is_file():
            return prefix
    raise FacedgeError(f"no aarch64 ncnn install found ({explicit or 'looked in the facedge cache'}); "
                       "build one with `.ci/arm cpp` or pass --ncnn-aarch64 PREFIX")


def build_driver(ncnn_prefix: Path, work: Path) -> Path:
    exe = work / "frontier_infer"
    if exe.is_file() and exe.stat().st_mtime >= DRIVER_SOURCE.stat().st_mtime:
        return exe
    work.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_suffix(".tmp")
    run = subprocess.run([CXX, "-O2", "-mcpu=cortex-a72", "-fopenmp", "-o", str(tmp), str(DRIVER_SOURCE),
                          f"-I{ncnn_prefix / 'include' / 'ncnn'}", str(ncnn_prefix / "lib" / "libncnn.a"), "-lpthread"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise FacedgeError(f"could not build {DRIVER_SOURCE} with {CXX}: {run.stderr.strip()[-400:]}")
    os.replace(tmp, exe)
    return exe


def make_prefix(arm_tools: Path, work: Path) -> Path:
    prefix = work / "a72-prefix"
    if not (prefix / "proc" / "cpuinfo").is_file():
        script = arm_tools / "make-a72-prefix.sh"
        if not script.is_file():
            raise FacedgeError(f"{script}: not found (the shared ARM tools)")
        subprocess.run(["bash", str(script), str(prefix)], check=True, capture_output=True)
    return prefix


def timing_model():
    """bench.a72.timing's estimate(), or None when this checkout does not have it."""
    try:
        from bench.a72.timing import estimate
    except ImportError:
        return None
    return estimate


class A72Cost:
    def __init__(self, work: Path, arm_tools: Path, ncnn_prefix=None, measure=None):
        self.work = Path(work)
        self.driver = build_driver(find_ncnn_aarch64(ncnn_prefix), self.work)
        self.prefix = make_prefix(Path(arm_tools), self.work)
        self.estimate = timing_model() if measure in (None, "a72-ms") else None
        if measure == "a72-ms" and self.estimate is None:
            raise FacedgeError("--measure a72-ms needs the A72 timing model (bench/a72/timing), not in this checkout")
        self.measure = "a72-ms" if self.estimate else "a72-insn"
        if self.measure == "a72-insn":
            self.plugin = self._insn_plugin(Path(arm_tools))

    def _argv(self, model_dir: Path, net_size, threads, loops=1):
        return [str(self.driver), str(model_dir / "model.param"), str(model_dir / "model.bin"),
                str(net_size[0]), str(net_size[1]), str(threads), str(loops)]

    def cost(self, model_dir: Path, net_size, threads: int) -> float:
        """ms (a72-ms) or millions of instructions (a72-insn, threads must be 1)."""
        if self.measure == "a72-ms":
            return float(self.estimate(self._argv(model_dir, net_size, threads), threads=threads,
                                       prefix=str(self.prefix))["ms"])
        if threads != 1:
            raise FacedgeError("instruction counts stand for one thread only")
        counts = [self._count(self._argv(model_dir, net_size, 1, loops)) for loops in (1, 3)]
        return (counts[1] - counts[0]) / 2 / 1e6

    def _insn_plugin(self, arm_tools: Path) -> Path:
        so = self.work / "libinsncount.so"
        if not so.is_file():
            src = arm_tools / "qemu-insn-count" / "insncount.c"
            glib = subprocess.run(["pkg-config", "--cflags", "glib-2.0"], capture_output=True, text=True).stdout.split()
            subprocess.run(["gcc", "-O2", "-shared", "-fPIC", *glib, "-o", str(so), str(src)], check=True)
        return so

    def _count(self, argv) -> int:
        fd, out = tempfile.mkstemp(dir=self.work, suffix=".count")
        os.close(fd)
        try:
            run = subprocess.run(["setarch", os.uname().machine, "-R", QEMU, "-cpu", "cortex-a72", "-L", str(self.prefix),
                                  "-plugin", f"{self.plugin},out={out}", *argv],
                                 capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            if run.returncode != 0:
                raise FacedgeError(f"{argv[1]}: the A72 run failed: {run.stderr.strip()[-300:]}")
            text = Path(out).read_text()
            found = re.search(r"insns:\s*(\d+)", text)
            if not found:
                raise FacedgeError(f"the instruction counter wrote no count ({text.strip()[:100]!r})")
            return int(found.group(1))
        finally:
            os.unlink(out)
