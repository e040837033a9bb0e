"""The A72 timing model's tooling (bench/a72/timing), fast: the block-to-cycles path on
small known blocks, the profile format and the plugin's output on a tiny guest program.
Each part skips with a reason when its tool (llvm-mc/llvm-mca, the aarch64 cross
compiler, the dynamic qemu-aarch64) is missing. About 3 s."""

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT))  # bench/a72 is a development tool, not installed; appended so facedge stays the installed one

import importlib  # noqa: E402

# (the package exports functions named like its modules: import the modules themselves)
blockcycles, estimate, profile = (importlib.import_module(f"bench.a72.timing.{m}") for m in ("blockcycles", "estimate", "profile"))

needs_llvm = pytest.mark.skipif(not (shutil.which("llvm-mc") and shutil.which("llvm-mca")),
                                reason="llvm-mc / llvm-mca (Debian package llvm) not installed")
# The timing model profiles a guest under qemu from the host; `.ci/arm parity` also runs
# tests/arm inside the arm64 rootfs, where the native gcc and (through qemu's path
# fallback) the host's qemu binary look present but cannot be run.
needs_guest = pytest.mark.skipif(platform.machine() in ("aarch64", "arm64")
                                 or not (shutil.which("aarch64-linux-gnu-gcc") and Path(estimate.QEMU).is_file()),
                                 reason="needs an x86 host with aarch64-linux-gnu-gcc and the dynamic qemu-aarch64")


def assemble(lines):
    """AArch64 assembly text to machine code bytes, with llvm-mc."""
    run = subprocess.run(["llvm-mc", "-triple=aarch64", "-mattr=+neon", "-show-encoding"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True)
    code = b""
    for line in run.stdout.splitlines():
        if "encoding: [" in line:
            code += bytes(int(x, 16) for x in line.split("encoding: [")[1].rstrip("]").split(","))
    assert len(code) == 4 * len(lines)
    return code


@pytest.fixture
def model(tmp_path):
    return blockcycles.BlockCycles("cortex-a72", cache=tmp_path)


@needs_llvm
def test_fmla_block_runs_one_q_fmla_per_cycle(model):
    # 16 independent 128-bit fmla: the A72 issues one a cycle (its two 64-bit FP pipes together)
    code = assemble([f"fmla v{16 + i}.4s, v{i % 4}.4s, v{4 + i // 8}.s[{i % 4}]" for i in range(16)])
    model.ensure([code])
    cost = model.cost(code)
    assert cost["insns"] == 16 and cost["fallback"] == 0
    assert 15.5 <= cost["cycles"] <= 17.0


@needs_llvm
def test_dependent_chain_costs_its_latency(model):
    # each fadd waits for the previous one: latency-bound, several cycles per instruction
    code = assemble(["fadd s0, s0, s1"] * 8)
    model.ensure([code])
    assert model.cost(code)["cycles"] >= 8 * 3


@needs_llvm
def test_undecodable_words_are_charged_and_counted(model, tmp_path):
    code = assemble(["add x0, x0, #1"]) + b"\xff\xff\xff\xff"
    model.ensure([code])
    cost = model.cost(code)
    assert cost["insns"] == 2 and cost["fallback"] == 1
    # the cache is written and read back by a new model
    again = blockcycles.BlockCycles("cortex-a72", cache=tmp_path)
    assert again.cost(code) == cost


def test_profile_format_merges_retranslated_blocks(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("tbprofile 3 vcpus=2 cache=1\n"
                    "M 1 3\n"
                    "M 4 1\n"
                    "C 1 10,4 3,1 1,0\n"
                    "E 1 9,0 2,0 1,0\n"
                    "E 1 3,6 1,1 0,0\n"
                    "B 400000 1f2003d51f2003d5 0:1,0 1:5,2\n"
                    "B 400000 1f2003d51f2003d5 1:1,1 4:7\n"
                    "B 400010 c0035fd6 0:2,1\n")
    prof = profile.read_profile(path)
    assert (prof.vcpus, prof.marks, len(prof.blocks)) == (2, {1: 3, 4: 1}, 2)
    assert prof.insns(1) == [12, 6] and prof.insns(0) == [4, 1] and prof.insns(4) == [14, 0]
    assert prof.simulated_cache and prof.cache[1] == {"accesses": [10, 4], "l1_misses": [3, 1], "l2_misses": [1, 0]}
    assert [(e.phase, e.insns, e.l2_misses) for e in prof.epochs] == [(1, [9, 0], [1, 0]), (1, [3, 6], [0, 0])]


@pytest.mark.parametrize("text, message", [("hello\n", "not a tbprofile format 3 file"),
                                           ("tbprofile 3 cpus=1\n", "expected 'tbprofile 3 vcpus=N"),
                                           ("tbprofile 3 vcpus=1\nB 0 abc 0:1\n", "non-hexadecimal"),
                                           ("tbprofile 3 vcpus=1\nB 0 aabbcc 0:1\n", "not whole AArch64"),
                                           ("tbprofile 3 vcpus=1\nB 0 aabbccdd\n", "expected 'M phase marks'"),
                                           ("tbprofile 3 vcpus=1\nE 1 1,2 3\n", "expected 'M phase marks'"),
                                           ("tbprofile 3 vcpus=1\nB 0 aabbccdd 0:x\n", "invalid literal")])
def test_profile_errors_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        profile.read_profile(path)


GUEST = r"""
#include <unistd.h>
volatile double sink;
int main(void) {
    double a = 0;
    for (int r = 0; r < 3; r++) {
        syscall(0x7fac, 1);
        for (int i = 0; i < 1000; i++) a += i * 0.5;
        syscall(0x7fac, 0);
    }
    syscall(0x7fac, 2);  /* a second phase: twice the work, once */
    for (int i = 0; i < 2000; i++) a += i * 0.5;
    syscall(0x7fac, 0);
    sink = a;
    return 0;
}
"""


@needs_guest
@needs_llvm
def test_plugin_counts_marked_iterations(tmp_path):
    src = tmp_path / "guest.c"
    src.write_text(GUEST)
    exe = tmp_path / "guest"
    subprocess.run(["aarch64-linux-gnu-gcc", "-O1", "-static", "-o", str(exe), str(src)], check=True)
    prof, _ = estimate.profile_run([exe], keep=tmp_path / "kept.txt.gz")
    assert prof.vcpus == 1 and prof.marks == {1: 3, 2: 1}
    # the inner loop's block ran 1000 times per marked iteration (less the entry, which may be its own block)
    loop_runs = max(c[0] for _, c in prof.counts(1))
    assert 2997 <= loop_runs <= 3000
    assert profile.read_profile(tmp_path / "kept.txt.gz").insns(1) == prof.insns(1)
    one, two = (estimate.cycles_of(prof, phase=ph) for ph in (1, 2))
    assert one["iterations"] == 3 and two["iterations"] == 1
    # per iteration, phase 2 did twice phase 1's loop
    assert 1.9 < two["per_thread_insns"][0] / one["per_thread_insns"][0] < 2.1
    assert 1.9 < two["per_thread_cycles"][0] / one["per_thread_cycles"][0] < 2.1
    assert one["per_thread_cycles"][0] > one["per_thread_insns"][0] / 4  # no more than the A72's 3-wide issue


def test_memory_model_charges_misses_and_the_slowest_thread():
    model = importlib.import_module("bench.a72.timing.model")
    # two threads, CPI 1; two epochs: thread 0 does all of the first, both share the second
    feat = {"cache_simulated": True,
            "threads": [{"cycles": 3000.0, "insns": 3000.0, "l1_misses": 20, "l2_misses": 10},
                        {"cycles": 1000.0, "insns": 1000.0, "l1_misses": 0, "l2_misses": 0}],
            "epochs": [[[2000, 20, 10], [0, 0, 0]], [[1000, 0, 0], [1000, 0, 0]]]}
    none = model.MemoryParams()
    assert model.predict_ms(feat, 1000, none) == pytest.approx((2000 + 1000) / 1e6)
    # an L2 hit (l1 miss, not l2) costs a, a DRAM line b_ns at 1 GHz = b cycles
    p = model.MemoryParams(l2_hit_cycles=5, dram_ns=50, dram_gbps=1e9)
    assert model.predict_ms(feat, 1000, p) == pytest.approx((2000 + 10 * 5 + 10 * 50 + 1000) / 1e6)
    # the same lines at 2 GHz: the DRAM latency in ns costs twice the cycles
    assert model.predict_ms(feat, 2000, p) == pytest.approx((2000 + 10 * 5 + 10 * 100 + 1000) / 2e6)
    # a bandwidth floor: 10 lines of 64 B at 0.064 GB/s take 10 us = 10000 cycles at 1 GHz
    slow = model.MemoryParams(dram_gbps=0.064)
    assert model.predict_ms(feat, 1000, slow) == pytest.approx((10000 + 1000) / 1e6)
    # without a cache simulation: the busiest thread's pipeline cycles
    assert model.predict_ms({**feat, "cache_simulated": False}, 1000, p) == pytest.approx(3000 / 1e6)


def test_balanced_epochs_share_dynamic_work():
    model = importlib.import_module("bench.a72.timing.model")
    feat = {"cache_simulated": True,
            "threads": [{"cycles": 4000.0, "insns": 4000.0, "l1_misses": 0, "l2_misses": 0},
                        {"cycles": 1000.0, "insns": 1000.0, "l1_misses": 0, "l2_misses": 0}],
            # a serial epoch, then a parallel one where the caller took 3/4 of the work
            "epochs": [[[1000, 0, 0], [0, 0, 0]], [[3000, 0, 0], [1000, 0, 0]]]}
    none = model.MemoryParams()
    assert model.predict_ms(feat, 1000, none) == pytest.approx((1000 + 3000) / 1e6)
    assert model.predict_ms(feat, 1000, none, balanced=True, threads=2) == pytest.approx((1000 + 2000) / 1e6)
    # a pool of one thread: a helper thread's bit of work is not shared out
    assert model.predict_ms(feat, 1000, none, balanced=True, threads=1) == pytest.approx((1000 + 3000) / 1e6)


def _epochs_feat(epochs, lines=None):
    """features() of a cache-simulated phase with CPI 1 and no misses unless given:
    epochs = [[instructions per thread] per epoch]; lines: DRAM lines per epoch (thread 0's)."""
    n = len(epochs[0])
    totals = [float(sum(e[v] for e in epochs)) for v in range(n)]
    lines = lines or [0] * len(epochs)
    return {"cache_simulated": True,
            "threads": [{"cycles": t, "insns": t, "l1_misses": 0, "l2_misses": 0} for t in totals],
            "epochs": [[[e[v], lines[i] if v == 0 else 0, lines[i] if v == 0 else 0] for v in range(n)]
                       for i, e in enumerate(epochs)]}


def test_a_region_split_by_a_late_cut_is_priced_once():
    model = importlib.import_module("bench.a72.timing.model")
    none = model.MemoryParams()
    # the master's serial 100, then a region of 1000 per thread, cut where it should be ...
    on_time = _epochs_feat([[100, 0], [1000, 1000]])
    # ... and cut late: the woken worker did its whole share before the cut, next to the
    # serial work; the same work, the same schedule on a Pi
    late = _epochs_feat([[100, 1000], [1000, 0]])
    assert model.predict_ms(on_time, 1000, none) == pytest.approx(1100 / 1e6)
    assert model.predict_ms(late, 1000, none) == pytest.approx(2000 / 1e6)  # the region charged twice
    for feat in (on_time, late):
        assert model.predict_ms(feat, 1000, none, merge_gain=model.MERGE_GAIN) == pytest.approx(1100 / 1e6)
    # half the worker's share before the cut: 1500 as cut, one region once merged
    half = _epochs_feat([[100, 500], [1000, 500]])
    assert model.predict_ms(half, 1000, none) == pytest.approx(1500 / 1e6)
    assert model.predict_ms(half, 1000, none, merge_gain=model.MERGE_GAIN) == pytest.approx(1100 / 1e6)


def test_real_region_boundaries_are_kept():
    model = importlib.import_module("bench.a72.timing.model")
    none = model.MemoryParams()
    # region, serial, region: the master works on both sides of every cut, so joining would
    # save nothing, and the stretches stay apart (a worker's share never overlaps the serial work)
    feat = _epochs_feat([[1000, 1000], [300, 0], [800, 800]])
    assert model.predict_ms(feat, 1000, none, merge_gain=model.MERGE_GAIN) == pytest.approx(2100 / 1e6)
    stretches = model.merge_late_cuts([([1000.0, 1000.0], 0), ([300.0, 0.0], 0), ([800.0, 800.0], 0)],
                                      lambda work, lines: max(work))
    assert [w for w, _ in stretches] == [[1000.0, 1000.0], [300.0, 0.0], [800.0, 800.0]]


def test_one_thread_phases_are_priced_as_before():
    model = importlib.import_module("bench.a72.timing.model")
    # one thread: a compute-bound epoch and a DRAM-bound one; joined, the DRAM time would
    # hide under the compute (less than 0.9 of the two apart), but one thread's epochs
    # follow each other and are never joined
    slow = model.MemoryParams(dram_gbps=0.064)  # 10 lines: 10000 cycles at 1 GHz
    feat = _epochs_feat([[9000, 0], [100, 0]], lines=[0, 10])
    apart = model.predict_ms(feat, 1000, slow)
    assert apart == pytest.approx((9000 + 10000) / 1e6)
    assert model.predict_ms(feat, 1000, slow, merge_gain=model.MERGE_GAIN) == apart


def test_epochs_tool_finds_the_epochs_split_differently(tmp_path):
    epochs = importlib.import_module("bench.a72.timing.epochs")
    a = [[100, 0], [1000, 1000], [50, 0]]
    b = [[100, 1000], [1000, 0], [50, 0]]
    assert [i for i, _ in epochs.differing_epochs([a, b], min_insns=10)] == [0, 1]
    assert epochs.differing_epochs([a, a]) == []
    # a profile with another epoch count: the extra epoch is reported
    assert [i for i, _ in epochs.differing_epochs([a, a[:2]])] == [2]
    # the command line names a file it cannot use, and says why
    bad = tmp_path / "bad.txt"
    bad.write_text("not a profile\n")
    with pytest.raises(SystemExit, match=r"bad.txt: not a readable tbprofile profile .*not a tbprofile format 3 file"):
        epochs.main([str(bad)])
    with pytest.raises(SystemExit, match=r"missing.txt.gz: no such profile"):
        epochs.main([str(tmp_path / "missing.txt.gz")])


def test_writeback_stores_become_a_store_and_an_add():
    split = blockcycles.split_writeback_stores
    assert split(["str q2, [x0], #16"]) == ["str q2, [x0]", "add x0, x0, #16"]
    assert split(["st1 { v0.4s, v1.4s }, [x3], x4"]) == ["st1 { v0.4s, v1.4s }, [x3]", "add x3, x3, x4"]
    assert split(["stp x29, x30, [sp, #-48]!"]) == ["sub sp, sp, #48", "stp x29, x30, [sp]"]
    # no writeback, or a load: unchanged
    for line in ("str q0, [x0, #16]", "stur q0, [x0, #-16]", "ld1 { v0.4s }, [x0], #16", "ldr q1, [x2], #16"):
        assert split([line]) == [line]


@needs_llvm
def test_a_store_with_writeback_does_not_serialise_the_loop(model):
    # an activation-like loop: a long dependency chain per element, the result stored with a
    # post-indexed store. The next iteration's load needs only the new base (a separate
    # integer micro-op on the A72), so iterations overlap: throughput-bound (8 Q-form fmul
    # on two pipes), not the chain's latency (8 x 5 cycles and more) per iteration.
    code = assemble(["ldr q0, [x0]"] + ["fmul v0.4s, v0.4s, v1.4s"] * 8 + ["str q0, [x0], #16", "cmp x0, x1",
                                                                             "b.ne #-44"])
    model.ensure([code])
    assert model.cost(code)["cycles"] < 20


def _branch_back(pc: int, target: int) -> bytes:
    # b.ne target, encoded at pc
    return (0x54000001 | (((target - pc) // 4) & 0x7FFFF) << 5).to_bytes(4, "little")


NOP = bytes.fromhex("1f2003d5")


def test_a_loop_cut_into_blocks_is_costed_whole():
    loops = importlib.import_module("bench.a72.timing.loops")
    head = profile.Block(NOP * 3, 0x1000)  # cut where the loop crosses a page: no branch at its end
    tail = profile.Block(NOP + _branch_back(0x1010, 0x1000), 0x100C)
    other = profile.Block(NOP + _branch_back(0x2004, 0x2000), 0x2000)  # a loop of one block: left alone
    parts, whole = loops.split_loops([(head, [12, 0]), (tail, [10, 2]), (other, [5, 5])])
    assert whole == [(head.code + tail.code, [10, 0])]
    # what is left to each part: its runs outside the loop (the head's 2 entries before the tail's count)
    assert [c for _, c in parts] == [[2, 0], [0, 2], [5, 5]]
    # a middle part that ends in a branch is a path with a fork, not a cut loop
    forked = profile.Block(NOP * 2 + _branch_back(0x1008, 0x0F00), 0x1000)
    assert loops.split_loops([(forked, [10]), (tail, [10])])[1] == []
    assert loops.branch_target(int.from_bytes(_branch_back(0x1010, 0x1000), "little"), 0x1010) == (True, 0x1000)
