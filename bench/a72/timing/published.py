"""The Raspberry Pi tables of ncnn's benchmark/README.md (Tencent/ncnn), as published:
numbers only, read from the project's git history so that each row names the commit,
the date and the board heading it comes from.

    python -m bench.a72.timing.published NCNN_GIT_DIR -o bench/a72/timing/published_pi.json

The rows are `benchncnn LOOPS THREADS ...` output: per network min / max / avg ms; the
average is what the tables are quoted by."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

# (table id, README commit, heading substring, cpu, clock MHz, the ncnn release measured, why that release)
TABLES = [
    ("pi4b-1500", "71f377e9e", "Raspberry Pi 4 Model B Broadcom BCM2711B0, Cortex-A72 (ARMv8) (1.5GHz x 4)",
     "cortex-a72", 1500, "20220216",
     "table revised 2022-01-17 (commit 71f377e9e, 'update benchmark from Q-engineering'); it lists "
     "yolo-fastest-1.1 and yolo-fastestv2, added to benchncnn on 2022-01-01 after release 20211208, so "
     "the first release holding every network it lists, 20220216, is the one used"),
    ("pi4b-1800", "cc37c1099", "Raspberry Pi 4 Model B Broadcom BCM2711B0, Cortex-A72 (ARMv8) (1.8GHz x 4)",
     "cortex-a72", 1800, "20230517", "table revised 2023-06-15 (commit cc37c1099); latest release then: 20230517"),
    ("pi5-2400", "f38fc95e0", "Raspberry Pi 5 Broadcom BCM2712, Cortex-A76 (ARMv8) (2.4GHz x 4)",
     "cortex-a76", 2400, "20230816", "table added 2023-09-28 (commit f38fc95e0); latest release then: 20230816"),
]
ROW = re.compile(r"^\s*(\S+)\s+min =\s*([\d.]+)\s+max =\s*([\d.]+)\s+avg =\s*([\d.]+)")


def parse_section(text: str, heading: str) -> list:
    """Rows (threads, model, min, max, avg) of the code block(s) under one '### heading'."""
    start = text.index(heading)
    end = text.find("\n### ", start + 1)
    rows, threads = [], None
    for line in text[start:end if end > 0 else len(text)].splitlines():
        if line.startswith("num_threads"):
            threads = int(line.split("=")[1])
        m = ROW.match(line)
        if m and threads:
            rows.append({"threads": threads, "model": m.group(1), "min_ms": float(m.group(2)),
                         "max_ms": float(m.group(3)), "avg_ms": float(m.group(4))})
    return rows


def extract(git_dir: Path) -> dict:
    out = {"source": "Tencent/ncnn benchmark/README.md", "tables": []}
    for tid, commit, heading, cpu, mhz, release, why in TABLES:
        text = subprocess.run(["git", "-C", str(git_dir), "show", f"{commit}:benchmark/README.md"],
                              capture_output=True, text=True, check=True).stdout
        date = subprocess.run(["git", "-C", str(git_dir), "show", "-s", "--format=%ad", "--date=short", commit],
                              capture_output=True, text=True, check=True).stdout.strip()
        out["tables"].append({"id": tid, "commit": commit, "date": date, "heading": heading, "cpu": cpu,
                              "clock_mhz": mhz, "ncnn_release": release, "why_release": why,
                              "rows": parse_section(text, heading)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("git_dir", type=Path, help="a clone of Tencent/ncnn with its history")
    p.add_argument("-o", "--out", type=Path, required=True)
    args = p.parse_args(argv)
    data = extract(args.git_dir)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    for t in data["tables"]:
        print(f"{t['id']}: {len(t['rows'])} rows from {t['commit']} ({t['date']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
