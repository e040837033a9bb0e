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
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .blockcycles import MODEL_VERSION
from .estimate import GuestRunError, cycles_of, profile_run
from .model import PARAMS, MemoryParams, features, predict_ms
from .ncnn_build import arm_cache, ensure_release
from .prefix import cpu_prefix
from .profile import read_profile

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE / "published_pi.json"


def a72_prefix() -> Path:
    """The qemu -L prefix describing a Pi 4's four A72 cores (the one .ci/arm uses)."""
    return cpu_prefix("cortex-a72")


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
                prefix=cpu_prefix(cpu), threads=threads, keep=keep, cwd=work, cache=True)
    return keep


# The rows the memory parameters are fitted on, declared before fitting, one table per CPU:
# the Pi 4B table at 1.8 GHz (2023-06-15) for the A72, the Pi 5 table for the A76; 1 and 4
# threads, the networks at even positions of the table's list (squeezenet, mobilenet,
# mobilenet_v2, ...). Every other row is held out.
FIT_TABLES = {"cortex-a72": "pi4b-1800", "cortex-a76": "pi5-2400"}
FIT_RULE = ("per CPU, one table's rows (A72: pi4b-1800, A76: pi5-2400), 1 and 4 threads, networks at even "
            "positions (0, 2, 4, ...) of the published list")


def is_fit_row(row: dict, order: list) -> bool:
    return row["table"] == FIT_TABLES.get(row["cpu"]) and order.index(row["model"]) % 2 == 0


def row_features(work: Path, path: Path, cpu: str) -> dict:
    """features() of a kept profile, cached beside it (re-costed when the block model changes)."""
    cached = path.with_name(path.name.replace(".txt.gz", f".features-{MODEL_VERSION}.json"))
    if cached.is_file() and cached.stat().st_mtime >= path.stat().st_mtime:
        return json.loads(cached.read_text())
    prof = read_profile(path)
    phase = prof.phases[0] if len(prof.phases) == 1 else 0
    feat = features(prof, phase, cycles_of(prof, cpu, phase))
    cached.write_text(json.dumps(feat))
    return feat


def evaluate(rows: list, params: dict) -> None:
    """params: {cpu: MemoryParams, or None for the pipeline alone}."""
    for r in rows:
        if r.get("features"):
            r["estimated_ms"] = predict_ms(r["features"], r["clock_mhz"], params.get(r["cpu"]) or MemoryParams())
            r["error"] = r["estimated_ms"] / r["published_ms"] - 1


def fit(rows: list) -> MemoryParams | None:
    """The memory parameters minimizing the mean squared log error on the fit rows."""
    import math

    from scipy.optimize import minimize

    train = [r for r in rows if r.get("fit") and r.get("features")]
    if not train:
        return None

    def loss(x):
        a, b, bw = x
        if a < 0 or b < 0 or bw <= 0.5:
            return 1e9
        p = MemoryParams(a, b, bw)
        return sum(math.log(predict_ms(r["features"], r["clock_mhz"], p) / r["published_ms"]) ** 2 for r in train)

    best = min((minimize(loss, x0, method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-6, "maxiter": 2000})
                for x0 in ([5.0, 20.0, 4.0], [10.0, 60.0, 8.0], [2.0, 5.0, 2.0])), key=lambda res: res.fun)
    return MemoryParams(*[float(v) for v in best.x])


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
    p.add_argument("--skip", default="", help="comma-separated networks to leave out (said in the output)")
    p.add_argument("--release", action="append", default=[],
                   help="TABLE=TAG: measure a table with another ncnn release than its own (said in the output)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--fit", action="store_true",
                   help=f"fit the memory parameters on the declared rows ({FIT_RULE}) and use them")
    p.add_argument("--no-memory", action="store_true", help="the pipeline model alone (no cache/DRAM costs)")
    p.add_argument("--kept-only", action="store_true",
                   help="emulate nothing: rows whose profile is not kept yet are reported as not run")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if not (args.ncnn_git / ".git").exists() and not (args.ncnn_git / "HEAD").exists():
        raise SystemExit(f"--ncnn-git {args.ncnn_git}: not a git clone of Tencent/ncnn (use the fetch of Tencent/ncnn)")
    published = json.loads(PUBLISHED.read_text())
    wanted = args.tables.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    models = set(args.models.split(",")) if args.models else None
    skip = set(filter(None, args.skip.split(",")))
    override = dict(r.split("=", 1) for r in args.release)
    args.work.mkdir(parents=True, exist_ok=True)

    jobs = []  # (table, build, row)
    for table in published["tables"]:
        if table["id"] not in wanted:
            continue
        tag = override.get(table["id"], table["ncnn_release"])
        build = ensure_release(args.ncnn_git, tag, progress=lambda m: print(m, file=sys.stderr))
        for row in table["rows"]:
            if row["threads"] in threads and (models is None or row["model"] in models) and row["model"] not in skip:
                jobs.append((table, build, row))

    def work(job):
        table, build, row = job
        t = time.time()
        if args.kept_only and not profile_path(args.work, build["tag"], table["cpu"], row["model"], row["threads"]).is_file():
            return None, "not run in this session (no kept profile)"
        try:
            path = run_row(args.work, build, table["cpu"], row["model"], row["threads"])
            print(f"  {table['id']} {row['model']} t{row['threads']}: profiled ({time.time() - t:.0f} s)",
                  file=sys.stderr)
            return path, None
        except GuestRunError as e:
            print(f"  {table['id']} {row['model']} t{row['threads']}: {str(e).splitlines()[0]}", file=sys.stderr)
            return None, str(e).splitlines()[0]

    # the smallest networks first: most rows are ready early
    jobs.sort(key=lambda j: j[2]["avg_ms"] * j[2]["threads"])
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        done = list(pool.map(work, jobs))

    rows = []
    order = {t["id"]: list(dict.fromkeys(r["model"] for r in t["rows"])) for t in published["tables"]}
    for (table, build, row), (path, error) in zip(jobs, done):
        out = {"table": table["id"], "model": row["model"],
               "precision": "int8" if row["model"].endswith("_int8") else "fp32", "threads": row["threads"],
               "cpu": table["cpu"], "clock_mhz": table["clock_mhz"], "ncnn_release": build["tag"],
               "published_ms": row["avg_ms"], "estimated_ms": None, "error": None}
        out["fit"] = is_fit_row(out, order[table["id"]])
        out["order"] = order[table["id"]].index(row["model"])
        if path is None:
            out["failed"] = error
        else:
            out["features"] = row_features(args.work, path, table["cpu"])
            threads_ = [t for t in out["features"]["threads"] if t["insns"]]
            out["per_thread_mcycles"] = [round(t["cycles"] / 1e6, 3) for t in threads_]
            out["per_thread_minsns"] = [round(t["insns"] / 1e6, 3) for t in threads_]
            out["l2_misses_k"] = [round((t["l2_misses"] or 0) / 1e3, 1) for t in threads_]
            out["core_only_ms"] = predict_ms([t["cycles"] for t in threads_], table["clock_mhz"])
        rows.append(out)
    cpus = sorted({r["cpu"] for r in rows})
    if args.no_memory:
        params = {cpu: MemoryParams() for cpu in cpus}
    elif args.fit:
        params = {cpu: fit([r for r in rows if r["cpu"] == cpu]) for cpu in cpus}
    else:
        params = {cpu: PARAMS.get(cpu) for cpu in cpus}
    evaluate(rows, params)
    for cpu in cpus:
        print(f"memory parameters {cpu}: {params[cpu].as_dict() if params[cpu] else 'none (pipeline alone)'}"
              + (f" (fitted: {FIT_RULE})" if args.fit else ""), file=sys.stderr)
    rows.sort(key=lambda r: (wanted.index(r["table"]), r["threads"], r["model"]))
    summary = {}
    for tid in wanted:
        for t in threads:
            these = [r for r in rows if r["table"] == tid and r["threads"] == t]
            summary[f"{tid} t{t}"] = stats(these)
            if any(r["fit"] for r in these):
                summary[f"{tid} t{t} held out"] = stats([r for r in these if not r["fit"]])
                summary[f"{tid} t{t} fit rows"] = stats([r for r in these if r["fit"]])
    for t in threads:
        summary[f"Pi 4B t{t} held out (all tables)"] = stats(
            [r for r in rows if r["threads"] == t and r["cpu"] == "cortex-a72" and not r["fit"]])
    print_table(rows, summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".tmp")
        slim = [{k: v for k, v in r.items() if k != "features"} for r in rows]
        tmp.write_text(json.dumps({"memory_params": {c: p.as_dict() if p else None for c, p in params.items()},
                                   "fitted": args.fit, "fit_rule": FIT_RULE,
                                   "skipped": sorted(skip),
                                   "block_model": MODEL_VERSION, "rows": slim, "stats": summary}, indent=1) + "\n")
        os.replace(tmp, args.json)
    return 0


def print_table(rows, summary):
    print("| table | model | threads | published ms | estimated ms | error | core only ms | fit row |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        est = f"{r['estimated_ms']:.1f}" if r["estimated_ms"] is not None else f"failed: {r['failed']}"
        err = f"{100 * r['error']:+.0f} %" if r["error"] is not None else ""
        core = f"{r['core_only_ms']:.1f}" if r.get("core_only_ms") is not None else ""
        print(f"| {r['table']} | {r['model']} | {r['threads']} | {r['published_ms']:.1f} | {est} | {err} | {core} | "
              f"{'fit' if r['fit'] else ''} |")
    print()
    for k, s in summary.items():
        if s["n"]:
            print(f"{k}: n={s['n']} median |error| {100 * s['median_abs_error']:.1f} %, worst "
                  f"{100 * s['worst_abs_error']:.0f} % ({s['worst_row']}), within 15 %: {s['within_15pct']}, "
                  f"within 35 %: {s['within_35pct']}")


if __name__ == "__main__":
    sys.exit(main())
