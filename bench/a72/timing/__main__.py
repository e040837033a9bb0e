"""Command line of the A72 timing model: `python -m bench.a72.timing [options] -- PROG ARGS...`."""

from __future__ import annotations

import argparse
import json
import sys

from .estimate import GuestRunError, estimate


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.a72.timing",
                                description="Estimated Cortex-A72 milliseconds of an aarch64 command, run under qemu.")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for the guest (passive waiting)")
    p.add_argument("--cpu", default="cortex-a72", help="qemu -cpu and llvm-mca -mcpu (default cortex-a72)")
    p.add_argument("--clock-mhz", type=float, default=1500, help="clock of the modelled CPU (Pi 4B: 1500 or 1800)")
    p.add_argument("-L", "--prefix", help="qemu -L prefix (an A72 prefix or an arm64 rootfs)")
    p.add_argument("--json", help="write the result here")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- PROG ARGS...")
    args = p.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        p.error("no command given (put it after --)")
    try:
        r = estimate(cmd, threads=args.threads, cpu=args.cpu, clock_mhz=args.clock_mhz, prefix=args.prefix,
                     progress=lambda i, n: print(f"\r  costing blocks {i}/{n}", end="", file=sys.stderr))
    except GuestRunError as e:
        print(f"a72 timing: {e}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    sys.stdout.write(r.pop("stdout"))
    for name, res in ([(f"phase {ph}", res) for ph, res in r["phases"].items()] if r["marked"] else [("whole run", r)]):
        threads = ", ".join(f"{c / 1e6:.2f}" for c in res["per_thread_cycles"] if c)
        print(f"{name}: estimated {res['ms']:.3f} ms on {res['cpu']} at {res['clock_mhz']:g} MHz per iteration "
              f"({res['iterations']} iterations); Mcycles per thread: {threads}; IPC {res['ipc']:.2f}; "
              f"uncosted {100 * res['fallback_fraction']:.2f} %")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
