"""A Detector owns one OpenMP team: its inference thread's. GCC's OpenMP keeps a team of
workers for every thread that ever started a parallel region, and ncnn prepares the
weights in such regions while loading; loaded on the caller's thread, that second team
outlived the load, and with more OpenMP threads than cores libgomp stops spinning, so
every region of every inference waited for a sleeping worker (RFB-320 at threads=2 on
2 cores: 3.5x slower per detect(); cpp/src/detector.cpp). Counted in a fresh process, so
that no earlier test's teams are in the count."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux's /proc")

SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import facedge
    threads = int(sys.argv[3])
    count = lambda: len(os.listdir("/proc/self/task"))
    before = count()
    d = facedge.Detector.from_ncnn(sys.argv[1], sys.argv[2], family="ultraface-rfb", threads=threads)
    d.detect(np.zeros((240, 320, 3), np.uint8))
    print(count() - before)
""")


@pytest.mark.parametrize("threads", [2, 3])
def test_a_detector_adds_its_inference_thread_and_one_team(reference_ultraface, threads):
    param, bin_ = reference_ultraface["RFB-320"]
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(param), str(bin_), str(threads)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    # the inference thread and its team's threads - 1 workers; a team left on the
    # caller's thread by loading would add threads - 1 more
    assert int(out.stdout.split()[-1]) == threads
