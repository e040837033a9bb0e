"""Guest blocks to CPU cycles with LLVM's machine-code analyser.

Each distinct block (its bytes) is disassembled with `llvm-mc` and run through
`llvm-mca -mcpu=CPU` as a loop of itself; its cost is the steady-state cycles per
iteration (total cycles / iterations): the throughput of the block when it repeats,
which is how hot blocks (kernel loops) run. Blocks are analysed in batches (one
llvm-mca call, one code region per block) and cached by (cpu, SHA-1 of the bytes), so
a block shared by many runs (ncnn's kernels, libc, Python) is analysed once.

Instructions llvm-mc cannot decode, and blocks llvm-mca refuses, are charged one cycle
per instruction and counted, so a caller can see how much of a run that covers.

Stores that update their base register (post- or pre-indexed: `str q0, [x0], #16`,
`st1 {..}, [x1], x2`, `stp .., [sp, #-32]!`) are given to llvm-mca as a plain store and a
separate `add` of the base. llvm-mca issues an instruction only when all its operands are
ready, so it holds a writeback store's new base until the stored data is computed; the
next iteration's loads through that base then wait for the whole previous iteration, and
a loop whose stored value ends a long dependency chain (an activation: exp, a divide)
runs its iterations one after another. The A72 (like the A57) computes the writeback in a
separate integer micro-op that needs only the base (Cortex-A72 Software Optimization
Guide: stores with writeback use the I pipes besides the store pipe), so iterations
overlap. Measured on ncnn 20220216's Swish loop: 176 cycles per 4 floats as one
instruction, 62 split (the divider's occupancy), which is what its Pi 4B time says."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

LLVM_MC = os.environ.get("FACEDGE_LLVM_MC", "llvm-mc")
ITERATIONS = 100  # loop iterations llvm-mca simulates per block: fill and drain cost 1/100th
BATCH = 400  # blocks per llvm-mca call
# part of the cache key: change when the method changes (v2: writeback stores split, cut loops joined)
MODEL_VERSION = "mca14-steady-v2"
_ENC = re.compile(r"^\s*(.*?)\s*// encoding: \[(.*?)\]\s*$")


def cache_dir() -> Path:
    base = os.environ.get("FACEDGE_A72_TIMING_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "facedge", "a72-timing")
    return Path(base)


_POST = re.compile(r"^(st[a-z0-9]*)\s+(.*),\s*\[(\w+)\],\s*(#-?(?:0x)?[0-9a-f]+|x\d+)$")
_PRE = re.compile(r"^(st[a-z0-9]*)\s+(.*),\s*\[(\w+),\s*#(-?(?:0x)?[0-9a-f]+)\]!$")


def _base_update(base: str, amount: str) -> str:
    if amount.startswith("x"):
        return f"add {base}, {base}, {amount}"
    value = int(amount.lstrip("#"), 0)
    return f"{'sub' if value < 0 else 'add'} {base}, {base}, #{abs(value)}"


def split_writeback_stores(asm: list) -> list:
    """The block's asm with each base-updating store as a store and an add (module docstring)."""
    out = []
    for line in asm:
        m = _POST.match(line)
        if m:
            op, regs, base, amount = m.groups()
            out += [f"{op} {regs}, [{base}]", _base_update(base, amount)]
            continue
        m = _PRE.match(line)
        if m:
            op, regs, base, amount = m.groups()
            out += [_base_update(base, "#" + amount), f"{op} {regs}, [{base}]"]
            continue
        out.append(line)
    return out


def disassemble(code: bytes, cpu: str) -> list:
    """[(asm text or None when llvm-mc cannot decode it)] for each 4-byte instruction."""
    return disassemble_many([code], cpu)[0]


def disassemble_many(codes: list, cpu: str) -> list:
    """Disassembles many blocks with one llvm-mc call; per block a list of asm lines (None: undecodable)."""
    words = [code[i:i + 4] for code in codes for i in range(0, len(code), 4)]
    if not words:
        return [[] for _ in codes]
    text = "\n".join(" ".join(f"0x{x:02x}" for x in w) for w in words) + "\n"
    run = subprocess.run([LLVM_MC, "--disassemble", "-triple=aarch64", f"-mcpu={cpu}", "-show-encoding"],
                         input=text, capture_output=True, text=True)
    if run.returncode not in (0, 1):  # 1: some encodings were invalid (reported on stderr)
        raise RuntimeError(f"llvm-mc failed ({run.returncode}): {run.stderr[:300]}")
    decoded = []
    for line in run.stdout.splitlines():
        m = _ENC.match(line)
        if m:
            decoded.append((bytes(int(x, 16) for x in m.group(2).split(",")), m.group(1).replace("\t", " ")))
    out, j = [], 0
    for code in codes:
        asm = []
        for i in range(0, len(code), 4):
            if j < len(decoded) and decoded[j][0] == code[i:i + 4]:
                asm.append(decoded[j][1])
                j += 1
            else:
                asm.append(None)
        out.append(asm)
    if j != len(decoded):
        raise RuntimeError(f"llvm-mc output out of step with its input ({j} of {len(decoded)} matched)")
    return out


def _mca(asm_blocks: list, cpu: str) -> list:
    """Cycles per iteration for each block (lists of asm lines) in one llvm-mca run; None where it failed."""
    from .cpus import mca_for

    exe, mcpu = mca_for(cpu)
    src = []
    for i, asm in enumerate(asm_blocks):
        src += [f"# LLVM-MCA-BEGIN b{i}", *asm, "# LLVM-MCA-END"]
    with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
        f.write("\n".join(src) + "\n")
        name = f.name
    try:
        run = subprocess.run([exe, "-mtriple=aarch64", f"-mcpu={mcpu}", f"-iterations={ITERATIONS}",
                              "-instruction-info=false", "-resource-pressure=false", name],
                             capture_output=True, text=True)
    finally:
        os.unlink(name)
    if run.returncode != 0:
        return [None] * len(asm_blocks)
    cycles: list = [None] * len(asm_blocks)
    region = None
    for line in run.stdout.splitlines():
        if "Code Region - b" in line:
            region = int(line.rsplit("- b", 1)[1])
        elif line.startswith("Total Cycles:") and region is not None:
            cycles[region] = int(line.split(":")[1]) / ITERATIONS
            region = None
    if len(asm_blocks) == 1 and cycles[0] is None and "Total Cycles:" in run.stdout:  # no region header
        cycles[0] = int(run.stdout.split("Total Cycles:")[1].split()[0]) / ITERATIONS
    return cycles


def _mca_robust(asm_blocks: list, cpu: str) -> list:
    """_mca, splitting a failing batch until the blocks llvm-mca refuses are isolated (None)."""
    cycles = _mca(asm_blocks, cpu)
    if len(asm_blocks) > 1 and all(c is None for c in cycles):
        half = len(asm_blocks) // 2
        return _mca_robust(asm_blocks[:half], cpu) + _mca_robust(asm_blocks[half:], cpu)
    return cycles


class BlockCycles:
    """Cycle costs of guest blocks on one CPU model, cached on disk.

    cost(code) -> {"cycles": per execution, "insns": n, "fallback": instructions charged 1 cycle}"""

    def __init__(self, cpu: str = "cortex-a72", cache: Path | None = None):
        from .cpus import mca_for

        self.cpu = cpu
        exe, mcpu = mca_for(cpu)
        self.path = (cache or cache_dir()) / f"blocks-{cpu}-{os.path.basename(exe)}-{mcpu}-{MODEL_VERSION}.json"
        self.table = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.dirty = False

    @staticmethod
    def key(code: bytes) -> str:
        return hashlib.sha1(code).hexdigest()

    def ensure(self, codes, progress=None) -> None:
        """Analyses every block not yet in the cache (batched), then saves the cache."""
        todo, seen = [], set()
        for code in codes:
            k = self.key(code)
            if k not in self.table and k not in seen:
                seen.add(k)
                todo.append(code)
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            asms = disassemble_many(batch, "cortex-a72" if self.cpu == "cortex-a72" else "cortex-a76")
            runnable = [split_writeback_stores([a for a in asm if a is not None]) for asm in asms]
            results = _mca_robust([r if r else ["nop"] for r in runnable], self.cpu)
            for code, asm, run, cyc in zip(batch, asms, runnable, results):
                undecoded = sum(a is None for a in asm)
                if cyc is None or not run:
                    self.table[self.key(code)] = [float(len(asm)), len(asm), len(asm)]
                else:
                    self.table[self.key(code)] = [cyc + undecoded, len(asm), undecoded]
            self.dirty = True
            if progress:
                progress(min(start + BATCH, len(todo)), len(todo))
        self.save()

    def cost(self, code: bytes) -> dict:
        cyc, n, fallback = self.table[self.key(code)]
        return {"cycles": cyc, "insns": n, "fallback": fallback}

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".blocks-")
        with os.fdopen(fd, "w") as f:
            json.dump(self.table, f, separators=(",", ":"))
        os.replace(tmp, self.path)
        self.dirty = False
