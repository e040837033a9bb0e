"""Progress for long work (conversion, calibration, evaluation), on stderr.

tqdm when it is installed; otherwise a plain counter that prints a line every few
seconds, so logs in CI stay readable. Disabled with FACEDGE_PROGRESS=0.
"""

import os
import sys
import time


def progress(iterable, total=None, desc=""):
    if os.environ.get("FACEDGE_PROGRESS", "1") == "0":
        return iter(iterable)
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    try:
        from tqdm import tqdm
    except ImportError:
        return _plain(iterable, total, desc)
    return iter(tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True))


def _plain(iterable, total, desc, every_s=5.0):
    start = last = time.monotonic()
    n = 0
    for item in iterable:
        yield item
        n += 1
        now = time.monotonic()
        if now - last >= every_s or (total and n == total):
            last = now
            of = f"/{total}" if total else ""
            print(f"{desc}: {n}{of} ({now - start:.0f}s)", file=sys.stderr, flush=True)
