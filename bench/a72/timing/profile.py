"""Reading the output of the tbprofile QEMU plugin (tbprofile.c, format 3): per
translated block, its instruction bytes and how often each guest thread executed it in
each measurement phase (0: unmarked; 1..15: started by the guest's syscall(0x7fac, K));
per marked phase the simulated cache misses (when profiled with cache=1); and the
epochs between thread wake-ups, with each thread's instructions and misses in them."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Block:
    """One distinct guest block: its bytes and executions per phase per thread."""

    code: bytes
    vaddr: int
    counts: dict = field(default_factory=dict)  # phase -> [count per vcpu]

    @property
    def key(self) -> str:
        return hashlib.sha1(self.code).hexdigest()

    @property
    def n_insns(self) -> int:
        return len(self.code) // 4  # AArch64: fixed 4-byte instructions


@dataclass
class Epoch:
    """The run between two thread wake-ups (an OpenMP region, roughly), per thread."""

    phase: int
    insns: list
    l1_misses: list
    l2_misses: list


@dataclass
class Profile:
    vcpus: int
    marks: dict  # phase -> how many times the guest started it
    blocks: dict  # (vaddr, key) -> Block
    cache: dict = field(default_factory=dict)  # phase -> {"accesses", "l1_misses", "l2_misses": [per vcpu]}
    epochs: list = field(default_factory=list)  # [Epoch] in run order
    simulated_cache: bool = False

    @property
    def phases(self) -> list:
        """The marked phases, in order."""
        return sorted(self.marks)

    def counts(self, phase: int):
        """[(block, [count per vcpu])] for one phase, blocks never run in it left out."""
        return [(b, b.counts[phase]) for b in self.blocks.values() if phase in b.counts]

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
    """Parses a tbprofile file (plain or .gz); raises ValueError naming the file on a malformed one."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        lines = f.read().splitlines()
    if not lines or not lines[0].startswith("tbprofile 3 "):
        raise ValueError(f"{path}: not a tbprofile format 3 file (first line {lines[0][:40] if lines else 'missing'!r})")
    try:
        head = dict(item.split("=", 1) for item in lines[0].split()[2:])
        vcpus, simulated = int(head["vcpus"]), head.get("cache") == "1"
    except (KeyError, ValueError):
        raise ValueError(f"{path}:1: expected 'tbprofile 3 vcpus=N cache=0|1', got {lines[0][:60]!r}") from None
    marks: dict = {}
    blocks: dict = {}
    cache: dict = {}
    epochs: list = []

    def per_vcpu(text):
        values = [int(c) for c in text.split(",")]
        return values + [0] * (vcpus - len(values))

    for number, line in enumerate(lines[1:], start=2):
        parts = line.split()
        try:
            if parts[:1] == ["M"] and len(parts) == 3:
                marks[int(parts[1])] = int(parts[2])
                continue
            if parts[:1] in (["C"], ["E"]) and len(parts) == 5:
                ph, a, b, c = int(parts[1]), per_vcpu(parts[2]), per_vcpu(parts[3]), per_vcpu(parts[4])
                if parts[0] == "C":
                    cache[ph] = {"accesses": a, "l1_misses": b, "l2_misses": c}
                else:
                    epochs.append(Epoch(ph, a, b, c))
                continue
            if parts[:1] != ["B"] or len(parts) < 4:
                raise ValueError("expected 'M phase marks', 'C|E phase a,.. b,.. c,..' or 'B vaddr bytes phase:counts...'")
            code = bytes.fromhex(parts[2])
            if len(code) % 4:
                raise ValueError(f"{len(code)} code bytes, not whole AArch64 instructions")
            phases = {}
            for item in parts[3:]:
                ph, counts = item.split(":", 1)
                phases[int(ph)] = [int(c) for c in counts.split(",")]
        except ValueError as e:
            raise ValueError(f"{path}:{number}: {e} (line {line[:60]!r})") from None
        block = Block(code, int(parts[1], 16))
        k = (block.vaddr, block.key)
        if k in blocks:  # the same guest block translated again
            old = blocks[k].counts
            for ph, counts in phases.items():
                old[ph] = _add(old.get(ph, []), counts)
        else:
            block.counts = phases
            blocks[k] = block
    for b in blocks.values():
        b.counts = {ph: c + [0] * (vcpus - len(c)) for ph, c in b.counts.items()}
    return Profile(vcpus, marks, blocks, cache, epochs, simulated)


def save_profile(src: Path, dst: Path) -> None:
    """Copies a raw profile to dst (gzip when dst ends in .gz), atomically."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    with open(src, "rb") as fin, (gzip.open(tmp, "wb", compresslevel=3) if dst.suffix == ".gz" else open(tmp, "wb")) as fout:
        shutil.copyfileobj(fin, fout)
    os.replace(tmp, dst)
