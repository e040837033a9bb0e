"""Reading the output of the tbprofile QEMU plugin (tbprofile.c): per translated block,
its instruction bytes and how often each guest thread executed it, inside and outside
the guest's marked phase."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Block:
    """One distinct guest block: its bytes (key: their SHA-1) and executions per thread."""

    code: bytes
    vaddr: int
    # counts[phase][vcpu]: phase 0 = outside the marks, 1 = between syscall(0x7fac, 1) and (0x7fac, 0)
    counts: list = field(default_factory=lambda: [[], []])

    @property
    def key(self) -> str:
        return hashlib.sha1(self.code).hexdigest()

    @property
    def n_insns(self) -> int:
        return len(self.code) // 4  # AArch64: fixed 4-byte instructions


@dataclass
class Profile:
    vcpus: int
    marks: int
    blocks: dict  # (vaddr, key) -> Block

    def counts(self, phase: int):
        """[(block, [count per vcpu])] for one phase, blocks never run in it left out."""
        return [(b, b.counts[phase]) for b in self.blocks.values() if any(b.counts[phase])]

    def insns(self, phase: int) -> list:
        """Guest instructions per vcpu in one phase."""
        out = [0] * self.vcpus
        for b, counts in self.counts(phase):
            for v, c in enumerate(counts):
                out[v] += c * b.n_insns
        return out


def _add(dst: list, src: list) -> list:
    n = max(len(dst), len(src))
    return [(dst[i] if i < len(dst) else 0) + (src[i] if i < len(src) else 0) for i in range(n)]


def read_profile(path: Path) -> Profile:
    """Parses a tbprofile file; raises ValueError naming the file on a malformed one."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        lines = f.read().splitlines()
    if not lines or not lines[0].startswith("tbprofile 1 "):
        raise ValueError(f"{path}: not a tbprofile v1 file (first line {lines[0][:40] if lines else 'missing'!r})")
    head = dict(item.split("=", 1) for item in lines[0].split()[2:])
    vcpus, marks = int(head["vcpus"]), int(head["marks"])
    blocks: dict = {}
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split()
        if len(parts) != 5 or parts[0] != "B":
            raise ValueError(f"{path}:{number}: expected 'B vaddr bytes counts0 counts1', got {line[:60]!r}")
        code = bytes.fromhex(parts[2])
        if len(code) % 4:
            raise ValueError(f"{path}:{number}: {len(code)} code bytes, not whole AArch64 instructions")
        phases = [[int(c) for c in parts[3].split(",")], [int(c) for c in parts[4].split(",")]]
        block = Block(code, int(parts[1], 16))
        k = (block.vaddr, block.key)
        if k in blocks:  # the same guest block translated again
            old = blocks[k]
            old.counts = [_add(old.counts[p], phases[p]) for p in (0, 1)]
        else:
            block.counts = phases
            blocks[k] = block
    for b in blocks.values():
        b.counts = [c + [0] * (vcpus - len(c)) for c in b.counts]
    return Profile(vcpus, marks, blocks)


def save_profile(src: Path, dst: Path) -> None:
    """Copies a raw profile to dst (gzip when dst ends in .gz), atomically."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    with open(src, "rb") as fin, (gzip.open(tmp, "wb", compresslevel=3) if dst.suffix == ".gz" else open(tmp, "wb")) as fout:
        shutil.copyfileobj(fin, fout)
    os.replace(tmp, dst)
