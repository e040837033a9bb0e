"""Cross-builds a given ncnn release (from a Tencent/ncnn git clone) for aarch64 and the
ncnnbench driver against it, cached per release under the ARM cache.

The build is what a Pi user's `cmake ..` of that release gives (NEON, OpenMP, runtime
dispatch to the armv8.2 fp16 and dot-product kernels, so one build serves the Pi 4's A72
and the Pi 5's A76), without Vulkan, tools and examples."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "ncnnbench.cpp"


def arm_cache() -> Path:
    return Path(os.environ.get("FACEDGE_ARM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "facedge", "arm"))


def toolchain() -> Path:
    shared = Path(os.environ.get("FACEDGE_SHARED") or HERE.parents[2].parent / "shared")
    tc = shared / "tools" / "arm" / "aarch64-linux-gnu-a72.toolchain.cmake"
    if not tc.is_file():
        raise SystemExit(f"{tc}: the A72 cross toolchain file is missing (set FACEDGE_SHARED)")
    return tc.resolve()


def _run(cmd, log: Path, what: str, cwd=None):
    with open(log, "w") as f:
        if subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=cwd).returncode != 0:
            tail = log.read_text()[-3000:]
            raise SystemExit(f"{what} failed (log {log}):\n{tail}")


def ensure_release(git_dir: Path, tag: str, progress=print) -> dict:
    """Builds ncnn `tag` and ncnnbench; returns {driver, params dir, inputs, workspace_ratio}."""
    root = arm_cache() / "ncnn-bench" / tag
    src, build = root / "src", root / "build"
    driver = root / "ncnnbench"
    if not (src / "benchmark" / "benchncnn.cpp").is_file():
        if subprocess.run(["git", "-C", str(git_dir), "rev-parse", "--verify", f"{tag}^{{commit}}"],
                          capture_output=True).returncode != 0:
            raise SystemExit(f"{git_dir}: no ncnn release tag {tag} (need a Tencent/ncnn clone with its tags)")
        tmp = root / "src.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(git_dir), "archive", tag, "CMakeLists.txt", "cmake", "src",
                                  "benchmark"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        os.replace(tmp, src)
    lib = build / "install" / "lib" / "libncnn.a"
    if not lib.is_file():
        progress(f"  building ncnn {tag} for aarch64 (once; 10-30 min on 2 busy cores)")
        build.mkdir(parents=True, exist_ok=True)
        _run(["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja", "-DCMAKE_POLICY_VERSION_MINIMUM=3.5",
              "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_TOOLCHAIN_FILE={toolchain()}",
              f"-DCMAKE_INSTALL_PREFIX={build / 'install'}", "-DNCNN_VULKAN=OFF", "-DNCNN_BUILD_TOOLS=OFF",
              "-DNCNN_BUILD_EXAMPLES=OFF", "-DNCNN_BUILD_BENCHMARK=OFF", "-DNCNN_BUILD_TESTS=OFF",
              "-DNCNN_PYTHON=OFF", "-DNCNN_ARM82=ON", "-DNCNN_ARM82DOT=ON", "-DNCNN_ARM82FP16FML=OFF",
              "-DNCNN_ARM84BF16=OFF", "-DNCNN_ARM84I8MM=OFF", "-DNCNN_ARM86SVE=OFF"],
             build / "configure.log", f"configuring ncnn {tag}")
        _run(["nice", "-n", "10", "cmake", "--build", str(build), "-j2"], build / "build.log", f"building ncnn {tag}")
        _run(["cmake", "--install", str(build)], build / "install.log", f"installing ncnn {tag}")
    if not driver.is_file() or driver.stat().st_mtime < DRIVER.stat().st_mtime:
        inc = build / "install" / "include" / "ncnn"
        _run(["aarch64-linux-gnu-g++", "-O2", "-mcpu=cortex-a72", "-fopenmp", "-fno-rtti", "-o", str(driver) + ".tmp", str(DRIVER),
              f"-I{inc}", str(lib), "-lpthread"], root / "driver.log", "building ncnnbench")
        os.replace(str(driver) + ".tmp", driver)
    bench_src = (src / "benchmark" / "benchncnn.cpp").read_text(errors="replace")
    inputs = {m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4))) for m in re.finditer(
        r'benchmark\("([^"]+)",\s*ncnn::Mat\((\d+),\s*(\d+),\s*(\d+)\)', bench_src)}
    ratio = re.search(r"g_workspace_pool_allocator\.set_size_compare_ratio\(([\d.]+)f?\)", bench_src)
    return {"tag": tag, "driver": driver, "params": src / "benchmark", "inputs": inputs,
            "workspace_ratio": float(ratio.group(1)) if ratio else 0.0}
