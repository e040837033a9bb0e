"""Validation of the A72 timing model against the Raspberry Pi tables ncnn published
(published_pi.json, extracted by published.py from Tencent/ncnn's history).

    python -m bench.a72.timing.validate --ncnn-git DIR [--tables pi4b-1500,pi4b-1800,pi5-2400]
        [--threads 1,4] [--models squeezenet,...] [--jobs 2] [--json OUT]

For every table row: the network's .param file of the ncnn release the table was measured
with, run by ncnnbench (benchncnn's settings, zero weights) under qemu with the profiling
plugin, at the row's thread count, on the row's CPU (qemu -cpu and llvm-mca -mcpu), one
warm-up and one marked iteration; estimated ms at the table's clock against the
published average. Raw profiles are kept (WORK/profiles/...) so a change of the cost
model re-costs them without emulating again; a row whose network cannot be loaded is
reported and the rest still run."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .estimate import GuestRunError, cycles_of, profile_run
from .model import predict_ms
from .ncnn_build import arm_cache, ensure_release
from .profile import read_profile

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE / "published_pi.json"


def a72_prefix() -> Path:
    """The qemu -L prefix describing a Pi 4's four A72 cores (the one .ci/arm uses)."""
    p = arm_cache() / "a72-prefix"
    if not (p / "proc" / "cpuinfo").is_file():
        shared = Path(os.environ.get("FACEDGE_SHARED") or HERE.parents[2].parent / "shared")
        tmp = Path(f"{p}.tmp{os.getpid()}")
        subprocess.run([str(shared / "tools" / "arm" / "make-a72-prefix.sh"), str(tmp)], check=True,
                       capture_output=True)
        os.replace(tmp, p)
    return p


def profile_path(work: Path, tag: str, cpu: str, model: str, threads: int) -> Path:
    return work / "profiles" / tag / cpu / f"{model}-t{threads}.txt.gz"


def run_row(work: Path, build: dict, cpu: str, model: str, threads: int) -> Path:
    """Profiles one network (once: the profile is kept); returns the profile path."""
    keep = profile_path(work, build["tag"], cpu, model, threads)
    if keep.is_file():
        return keep
    param = build["params"] / f"{model}.param"
    if model not in build["inputs"] or not param.is_file():
        raise GuestRunError(f"{model}: not in ncnn {build['tag']}'s benchmark (no {param.name})")
    w, h, c = build["inputs"][model]
    profile_run([build["driver"], param, w, h, c, threads, 1, 1, build["workspace_ratio"]], qemu_cpu=cpu,
                prefix=a72_prefix(), threads=threads, keep=keep, cwd=work, cache=True)
    return keep


def stats(rows: list) -> dict:
    errs = [abs(r["error"]) for r in rows if r.get("error") is not None]
    if not errs:
        return {"n": 0}
    worst = max((r for r in rows if r.get("error") is not None), key=lambda r: abs(r["error"]))
    return {"n": len(errs), "median_abs_error": statistics.median(errs), "mean_abs_error": statistics.fmean(errs),
            "worst_abs_error": abs(worst["error"]), "worst_row": f"{worst['model']} t{worst['threads']}",
            "within_15pct": sum(e <= 0.15 for e in errs), "within_35pct": sum(e <= 0.35 for e in errs)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ncnn-git", type=Path, default=Path(os.environ.get("FACEDGE_NCNN_GIT", "")),
                   help="a Tencent/ncnn git clone with history and tags (or FACEDGE_NCNN_GIT)")
    p.add_argument("--work", type=Path, default=arm_cache() / "timing-validation")
    p.add_argument("--tables", default="pi4b-1500,pi4b-1800,pi5-2400")
    p.add_argument("--threads", default="1,4")
    p.add_argument("--models", help="comma-separated subset of the networks")
    p.add_argument("--release", action="append", default=[],
                   help="TABLE=TAG: measure a table with another ncnn release than its own (said in the output)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if not (args.ncnn_git / ".git").exists() and not (args.ncnn_git / "HEAD").exists():
        raise SystemExit(f"--ncnn-git {args.ncnn_git}: not a git clone of Tencent/ncnn (use the fetch of Tencent/ncnn)")
    published = json.loads(PUBLISHED.read_text())
    wanted = args.tables.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    models = set(args.models.split(",")) if args.models else None
    override = dict(r.split("=", 1) for r in args.release)
    args.work.mkdir(parents=True, exist_ok=True)

    jobs = []  # (table, build, row)
    for table in published["tables"]:
        if table["id"] not in wanted:
            continue
        tag = override.get(table["id"], table["ncnn_release"])
        build = ensure_release(args.ncnn_git, tag, progress=lambda m: print(m, file=sys.stderr))
        for row in table["rows"]:
            if row["threads"] in threads and (models is None or row["model"] in models):
                jobs.append((table, build, row))

    def work(job):
        table, build, row = job
        t = time.time()
        try:
            path = run_row(args.work, build, table["cpu"], row["model"], row["threads"])
            print(f"  {table['id']} {row['model']} t{row['threads']}: profiled ({time.time() - t:.0f} s)",
                  file=sys.stderr)
            return path, None
        except GuestRunError as e:
            print(f"  {table['id']} {row['model']} t{row['threads']}: {str(e).splitlines()[0]}", file=sys.stderr)
            return None, str(e).splitlines()[0]

    # the largest networks first, so that two workers finish together
    jobs.sort(key=lambda j: -j[2]["avg_ms"] * j[2]["threads"])
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        done = list(pool.map(work, jobs))

    rows = []
    for (table, build, row), (path, error) in zip(jobs, done):
        out = {"table": table["id"], "model": row["model"],
               "precision": "int8" if row["model"].endswith("_int8") else "fp32", "threads": row["threads"],
               "cpu": table["cpu"], "clock_mhz": table["clock_mhz"], "ncnn_release": build["tag"],
               "published_ms": row["avg_ms"], "estimated_ms": None, "error": None}
        if path is None:
            out["failed"] = error
        else:
            cyc = cycles_of(read_profile(path), table["cpu"])
            per_thread = cyc["per_thread_cycles"]
            out["per_thread_mcycles"] = [round(c / 1e6, 3) for c in per_thread if c]
            out["per_thread_minsns"] = [round(i / 1e6, 3) for i in cyc["per_thread_insns"] if i]
            out["estimated_ms"] = predict_ms(per_thread, table["clock_mhz"], table["cpu"], row["threads"])
            out["error"] = out["estimated_ms"] / row["avg_ms"] - 1
        rows.append(out)
    rows.sort(key=lambda r: (wanted.index(r["table"]), r["threads"], r["model"]))
    summary = {f"{tid} t{t}": stats([r for r in rows if r["table"] == tid and r["threads"] == t])
               for tid in wanted for t in threads}
    print_table(rows, summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps({"rows": rows, "stats": summary}, indent=1) + "\n")
        os.replace(tmp, args.json)
    return 0


def print_table(rows, summary):
    print("| table | model | threads | published ms | estimated ms | error |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        est = f"{r['estimated_ms']:.1f}" if r["estimated_ms"] is not None else f"failed: {r['failed']}"
        err = f"{100 * r['error']:+.0f} %" if r["error"] is not None else ""
        print(f"| {r['table']} | {r['model']} | {r['threads']} | {r['published_ms']:.1f} | {est} | {err} |")
    print()
    for k, s in summary.items():
        if s["n"]:
            print(f"{k}: n={s['n']} median |error| {100 * s['median_abs_error']:.1f} %, worst "
                  f"{100 * s['worst_abs_error']:.0f} % ({s['worst_row']}), within 15 %: {s['within_15pct']}, "
                  f"within 35 %: {s['within_35pct']}")


if __name__ == "__main__":
    sys.exit(main())
