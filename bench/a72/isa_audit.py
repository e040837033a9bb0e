"""Does facedge's aarch64 module hold instructions a Raspberry Pi 4's Cortex-A72 lacks,
outside code that only runs where the CPU has them?

    python bench/a72/isa_audit.py MODULE.so LINKER.map

The module is disassembled twice by llvm-objdump: as a Cortex-A72 (armv8.0 + crc; every
encoding it cannot decode is an instruction the Pi 4 lacks) and as a Cortex-A76 (the
Pi 5; there the same encodings must all decode, so they are instructions, not data).
The linker map (-Wl,-Map) names the object file and input section each such
instruction came from. Allowed homes:
  - ncnn's runtime-dispatched kernels, objects compiled from *_asimdhp.cpp (armv8.2
    fp16) and *_asimddp.cpp (dot product), which ncnn calls only when AT_HWCAP has
    the feature;
  - libgcc's outline atomics (LSE), which test __aarch64_have_lse_atomics first.
One trap is checked for explicitly: an inline function (COMDAT section) that a
variant object and a baseline object both define. The linker keeps one copy; if it
kept the armv8.2 one, baseline code would run it on a Pi 4.
Prints a summary and exits 1 when anything lies outside those homes.
"""

from __future__ import annotations

import argparse
import bisect
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

VARIANT_OBJECT = re.compile(r"_(asimdhp|asimddp)\.cpp\.o\)?$")
LIBGCC_ATOMICS = re.compile(r"libgcc\.a\((cas|swp|ldadd|ldclr|ldeor|ldset)_\d+_\d+\.o\)$")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} ){4}\s*(.*)$")


def disassemble(objdump: str, module: Path, cpu: str) -> dict[int, str]:
    """address -> instruction text ('<unknown>' where `cpu` has no such instruction)."""
    out = subprocess.run([objdump, "-d", f"--mcpu={cpu}", str(module)],
                         check=True, capture_output=True, text=True).stdout
    insns = {}
    for line in out.splitlines():
        m = INSN.match(line)
        if m:
            insns[int(m.group(1), 16)] = " ".join(m.group(2).split())
    return insns


def read_map(path: Path):
    """(kept input sections [(start, end, section, object)], discarded {section: [objects]})."""
    kept, discarded = [], defaultdict(list)
    mode = None
    pending = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Discarded input sections"):
            mode = "discarded"
            continue
        if line.startswith("Linker script and memory map"):
            mode = "map"
            continue
        if mode is None:
            continue
        if line.startswith(" .") or line.startswith(" *"):
            parts = line.split()
            pending = parts[0]
            if len(parts) >= 4 and parts[1].startswith("0x"):  # name, address, size, object
                _record(mode, kept, discarded, pending, parts[1], parts[2], " ".join(parts[3:]))
                pending = None
            continue
        if pending and line.startswith("                0x"):
            parts = line.split()
            if len(parts) >= 3 and parts[1].startswith("0x"):
                _record(mode, kept, discarded, pending, parts[0], parts[1], " ".join(parts[2:]))
            pending = None
            continue
        pending = None
    kept.sort()
    return kept, discarded


def _record(mode, kept, discarded, section, address, size, obj):
    if not section.startswith(".text"):
        return
    if mode == "discarded":
        discarded[section].append(obj)
    else:
        start, length = int(address, 16), int(size, 16)
        if length:
            kept.append((start, start + length, section, obj))


def short(obj: str) -> str:
    m = re.search(r"([^/]+\.a\([^)]+\))$", obj)
    return m.group(1) if m else Path(obj).name


def classify(missing, a76, kept, discarded):
    """Where each address an A72 cannot decode lives. missing: addresses; a76: address ->
    instruction text; kept/discarded: from read_map. Returns ({home: Counter of
    mnemonics}, [(address, where, mnemonic)] outside dispatched code)."""
    starts = [k[0] for k in kept]
    homes = defaultdict(Counter)
    violations = []
    for address in missing:
        mnemonic = a76.get(address, "?").split()[0]
        i = bisect.bisect_right(starts, address) - 1
        if i < 0 or not kept[i][0] <= address < kept[i][1]:
            violations.append((address, "no input section in the map", mnemonic))
            continue
        _, _, section, obj = kept[i]
        if LIBGCC_ATOMICS.search(obj):
            homes["libgcc outline atomics (LSE after a HWCAP test)"][mnemonic] += 1
        elif VARIANT_OBJECT.search(obj):
            others = sorted({short(o) for o in discarded.get(section, []) if not VARIANT_OBJECT.search(o)})
            if section != ".text" and others:
                violations.append((address, f"{section} of {short(obj)}, kept over the baseline copies in "
                                            f"{', '.join(others)}", mnemonic))
            else:
                homes["ncnn " + VARIANT_OBJECT.search(obj).group(1) + " variants (dispatched on HWCAP)"][mnemonic] += 1
        else:
            violations.append((address, f"{section} of {short(obj)}", mnemonic))
    return homes, violations


def audit(module: Path, link_map: Path, objdump: str) -> int:
    a72 = disassemble(objdump, module, "cortex-a72")
    a76 = disassemble(objdump, module, "cortex-a76")
    missing = sorted(a for a, text in a72.items() if text == "<unknown>")
    not_decodable_on_a76 = [a for a in missing if a76.get(a, "<unknown>") == "<unknown>"]
    kept, discarded = read_map(link_map)
    homes, violations = classify(missing, a76, kept, discarded)

    print(f"{module.name}: {len(a72)} instructions, {len(missing)} of them not in a Cortex-A72 "
          f"(armv8.0+crc), {len(not_decodable_on_a76)} of those not decodable on a Cortex-A76 either")
    for home, mnemonics in sorted(homes.items(), key=lambda kv: -sum(kv[1].values())):
        top = ", ".join(f"{m} {c}" for m, c in mnemonics.most_common(6))
        print(f"  {sum(mnemonics.values()):7d}  {home}: {top}")
    if not_decodable_on_a76:
        print(f"  {len(not_decodable_on_a76)} encodings decode on neither CPU (data in code?), e.g. "
              + ", ".join(hex(a) for a in not_decodable_on_a76[:5]))
    if violations:
        print(f"  {len(violations)} OUTSIDE dispatched code:")
        for address, where, what in violations[:20]:
            print(f"    {address:#x}  {what}  in {where}")
        return 1
    print("  none outside runtime-dispatched code")
    return 0 if not not_decodable_on_a76 else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", type=Path, help="the aarch64 extension module (.so)")
    parser.add_argument("link_map", type=Path, help="its linker map (-Wl,-Map=...)")
    parser.add_argument("--objdump", default=shutil.which("llvm-objdump") or "llvm-objdump")
    args = parser.parse_args(argv)
    return audit(args.module, args.link_map, args.objdump)


if __name__ == "__main__":
    sys.exit(main())
