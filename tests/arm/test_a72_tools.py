"""The host-side logic of the ARM checks (runs on any machine): the linker-map reading
and the classification of the ISA audit, and the instruction-count arithmetic."""

import sys
from pathlib import Path

import pytest

# The A72 tools are development tools in the checkout (bench/a72/), not in the wheel.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "a72"))
import insn_count as a72_insn_count  # noqa: E402
import isa_audit as a72_isa_audit  # noqa: E402

NCNN = "/cache/ncnn/install/lib/libncnn.a"
LIBGCC = "/usr/lib/gcc-cross/aarch64-linux-gnu/12/libgcc.a"

# A GNU ld map in miniature: a discarded COMDAT copy, kept sections on one line and
# (long names) on two lines, a non-code section, and symbol lines between them.
MAP = f"""\
Archive member included to satisfy reference by file (symbol)

Discarded input sections

 .text._ZN4ncnn6inlineEv
                0x0000000000000000       0x40 {NCNN}(net.cpp.o)
 .note.GNU-stack
                0x0000000000000000        0x0 {NCNN}(net.cpp.o)

Memory Configuration

Linker script and memory map

 .text          0x0000000000001000      0x100 {NCNN}(convolution_arm.cpp.o)
                0x0000000000001000                ncnn::Convolution_arm::forward() const
 .text          0x0000000000001100      0x200 {NCNN}(convolution_arm_asimdhp.cpp.o)
 .text._ZN4ncnn6inlineEv
                0x0000000000001300       0x40 {NCNN}(convolution_arm_asimdhp.cpp.o)
 .text._ZN4ncnn12only_variantEv
                0x0000000000001340       0x40 {NCNN}(convolution_arm_asimddp.cpp.o)
 .text          0x0000000000001380       0x80 {LIBGCC}(ldadd_4_4.o)
 .rodata        0x0000000000002000       0x10 {NCNN}(net.cpp.o)
"""


@pytest.fixture
def link_map(tmp_path):
    path = tmp_path / "core.map"
    path.write_text(MAP)
    return a72_isa_audit.read_map(path)


def test_map_sections_and_discarded_copies(link_map):
    kept, discarded = link_map
    assert [(start, end, section) for start, end, section, _ in kept] == [
        (0x1000, 0x1100, ".text"), (0x1100, 0x1300, ".text"), (0x1300, 0x1340, ".text._ZN4ncnn6inlineEv"),
        (0x1340, 0x1380, ".text._ZN4ncnn12only_variantEv"), (0x1380, 0x1400, ".text")]
    assert kept[1][3].endswith("(convolution_arm_asimdhp.cpp.o)")
    assert list(discarded) == [".text._ZN4ncnn6inlineEv"]
    assert discarded[".text._ZN4ncnn6inlineEv"][0].endswith("(net.cpp.o)")


def test_armv82_code_is_allowed_only_where_dispatch_guards_it(link_map):
    kept, discarded = link_map
    a76 = {0x1010: "fmla v0.8h, v1.8h, v2.8h",  # baseline object: a Pi 4 would run it
           0x1104: "fmla v0.8h, v1.8h, v2.8h",  # the asimdhp variant's own code
           0x1304: "fadd h0, h1, h2",           # inline function kept from the variant over net.cpp's copy
           0x1344: "sdot v0.4s, v1.16b, v2.16b",  # COMDAT only variants define
           0x1390: "ldaddal w0, w1, [x2]",      # libgcc's outline atomic
           0x3000: "sdot v0.4s, v1.16b, v2.16b"}  # outside every section of the map
    homes, violations = a72_isa_audit.classify(sorted(a76), a76, kept, discarded)
    assert {home: sum(c.values()) for home, c in homes.items()} == {
        "ncnn asimdhp variants (dispatched on HWCAP)": 1,
        "ncnn asimddp variants (dispatched on HWCAP)": 1,
        "libgcc outline atomics (LSE after a HWCAP test)": 1}
    where = {address: text for address, text, _ in violations}
    assert set(where) == {0x1010, 0x1304, 0x3000}
    assert "convolution_arm.cpp.o" in where[0x1010]
    assert "kept over the baseline copies in libncnn.a(net.cpp.o)" in where[0x1304]
    assert where[0x3000] == "no input section in the map"


class FakeGuest:
    """Instruction counts of a workload: a fixed start-up plus a per-call cost, and
    optionally a different count the second time the same run is made."""

    def __init__(self, startup, per_call, drift=0):
        self.startup, self.per_call, self.drift, self.seen = startup, per_call, drift, set()

    def count(self, path, model_dir, frame, iterations, cpu="cortex-a72"):
        again = iterations in self.seen
        self.seen.add(iterations)
        return self.startup + self.per_call * iterations + (self.drift if again else 0), 7


def test_one_call_is_the_difference_of_two_runs():
    m = a72_insn_count.measure(FakeGuest(400_000_000, 41_700_000), "bare", "model", "frame.npy")
    assert m["per_call"] == 41_700_000
    assert m["result"] == 7


def test_counts_that_do_not_repeat_stop_the_benchmark():
    with pytest.raises(SystemExit, match="do not repeat"):
        a72_insn_count.measure(FakeGuest(400_000_000, 41_700_000, drift=800), "bare", "model", "frame.npy")
