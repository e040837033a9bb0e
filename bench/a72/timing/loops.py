"""Loops that QEMU cut into several translation blocks, costed as one loop.

The cycle model costs each translation block as a loop of itself (blockcycles.py). QEMU
ends a block at every branch, but also where the code crosses a guest page or reaches
its instruction limit, so a loop body without internal branches can arrive as two or
more blocks that fall through into each other, the last one branching back to the
first. Costed one by one, each part is charged its own throughput bound: a kernel whose
first half is FP multiply-adds and whose second half is divides pays the sum of the two
bottlenecks, where the core overlaps them (one half's divides run beside the next
iteration's multiply-adds). Whether a kernel is cut depends only on where the linker put
it, so it changes from one ncnn build to the next.

split_loops() finds such chains in a profile phase (straight-line parts, each starting
where the previous ends, the last ending in a branch back to the first's start) and
returns the concatenated code to cost as one loop per chain, with the executions it
stands for; the parts keep only their executions outside the loop (entries and exits)."""

from __future__ import annotations

MAX_PARTS = 8  # longer chains are not loops QEMU cut but code paths


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def branch_target(word: int, pc: int):
    """(is_branch, target or None) of one AArch64 instruction at pc: direct branches give
    their target, indirect ones and returns None."""
    if word & 0xFC000000 in (0x14000000, 0x94000000):  # B, BL
        return True, pc + 4 * _signed(word & 0x3FFFFFF, 26)
    if word & 0xFF000010 == 0x54000000:  # B.cond
        return True, pc + 4 * _signed((word >> 5) & 0x7FFFF, 19)
    if word & 0x7E000000 == 0x34000000:  # CBZ, CBNZ
        return True, pc + 4 * _signed((word >> 5) & 0x7FFFF, 19)
    if word & 0x7E000000 == 0x36000000:  # TBZ, TBNZ
        return True, pc + 4 * _signed((word >> 5) & 0x3FFF, 14)
    if word & 0xFE000000 == 0xD6000000:  # BR, BLR, RET, ERET
        return True, None
    if word & 0xFFE0001F == 0xD4000001:  # SVC: QEMU ends the block there too
        return True, None
    return False, None


def _last(block):
    word = int.from_bytes(block.code[-4:], "little")
    return branch_target(word, block.vaddr + len(block.code) - 4)


def split_loops(executed: list) -> tuple:
    """executed: [(block, [count per vcpu])] of one phase. Returns (executed with each cut
    loop's parts reduced to their executions outside the loop, [(code, [count per vcpu])]
    for the loops as wholes)."""
    by_start = {}
    for i, (block, _) in enumerate(executed):
        by_start.setdefault(block.vaddr, []).append(i)
    counts = [list(c) for _, c in executed]
    loops = []
    for i, (tail, _) in enumerate(executed):
        if len(tail.code) < 4:
            continue
        is_branch, target = _last(tail)
        if not is_branch or target is None or target >= tail.vaddr:
            continue
        chain, at = [], target
        while at < tail.vaddr and len(chain) < MAX_PARTS:
            starts = [j for j in by_start.get(at, ()) if j != i and not _last(executed[j][0])[0]]
            if len(starts) != 1:
                break
            chain.append(starts[0])
            at += len(executed[starts[0]][0].code)
        if at != tail.vaddr or not chain:
            continue
        chain.append(i)
        runs = [min(counts[j][v] for j in chain) for v in range(len(counts[i]))]
        if not any(runs):
            continue
        for j in chain:
            counts[j] = [c - r for c, r in zip(counts[j], runs)]
        loops.append((b"".join(executed[j][0].code for j in chain), runs))
    return [(block, c) for (block, _), c in zip(executed, counts)], loops
