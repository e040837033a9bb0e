"""Runs the jobs of one thread count: one worker process each, all pinned to the same
cores, timed in interleaved rounds.

Why rounds: a shared or thermally throttling machine drifts over a run; giving every
worker a short batch in turn, many times, spreads that drift over all runtimes alike
instead of charging it to whichever ran during it. While one worker runs, the others
are stopped (SIGSTOP), so their spinning OpenMP threads cannot steal its cores.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from facedge.base.progress import progress

READY_TIMEOUT_S = 300  # loading and warming up a model on a Pi
BATCH_TIMEOUT_S = 300
WORKER = "import sys; from facedge.bench.worker import main; sys.exit(main())"


class WorkerFailed(Exception):
    pass


def _import_root():
    """The folder facedge is imported from (site-packages, or a dev folder of links):
    the workers run there, so that `-c` puts nothing else ahead of it on sys.path."""
    import facedge

    return str(Path(facedge.__file__).parent.parent)


class Worker:
    """job: what the caller knows the work by; spec: all the worker needs (the job plus
    threads, cores, frame, ...)."""

    def __init__(self, job: dict, spec: dict, env: dict, log_dir: str):
        self.job = job
        self.log_path = Path(log_dir) / f"worker-{os.getpid()}-{id(self)}.log"
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, cwd=_import_root(), text=True)
        try:
            self._send(spec)
            self.ready = self._receive(READY_TIMEOUT_S, "loading")["ready"]
        except WorkerFailed:
            self.close()
            raise
        self.pause()

    def _send(self, obj):
        try:
            self.proc.stdin.write(json.dumps(obj) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerFailed(self._why("exited"))

    def _why(self, what):
        self._log.flush()
        self._log.seek(0)
        lines = [ln.strip() for ln in self._log.read().splitlines() if ln.strip()]
        tail = f": {lines[-1]}" if lines else ""
        return f"worker {what} (exit status {self.proc.poll()}){tail}"

    def _receive(self, timeout, doing):
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.close()
                raise WorkerFailed(f"no answer after {timeout} s while {doing}")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise WorkerFailed(self._why("exited"))
        answer = json.loads(line)
        if "error" in answer:
            self.close()
            raise WorkerFailed(answer["error"])
        return answer

    def pause(self):
        if hasattr(signal, "SIGSTOP") and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)
            # the stop is asynchronous: wait until every thread has stopped (this reports the
            # stop without reaping the process)
            os.waitpid(self.proc.pid, os.WUNTRACED)

    def resume(self):
        if hasattr(signal, "SIGCONT") and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def batch(self, frames: int) -> dict:
        self.resume()
        try:
            self._send({"batch": frames})
            return self._receive(BATCH_TIMEOUT_S, "timing")
        finally:
            self.pause()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL ends a stopped process too
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self._log):
            try:
                stream.close()
            except OSError:  # a broken pipe to a dead worker
                pass
        self.log_path.unlink(missing_ok=True)


def worker_env(wait_policy: str) -> dict:
    env = dict(os.environ)
    env["OMP_WAIT_POLICY"] = wait_policy
    return env


def measure(jobs, threads: int, cores, settings: dict, on_failure) -> list:
    """Time every job at `threads` threads pinned to `cores`.

    settings: frame (a .npy per input size, by 'WxH'), warmup, repeats, batch,
    score_threshold, iou_threshold, wait_policy. on_failure(job, message) is called
    for a job whose worker fails; the job is then left out. Returns one result per
    job that ran: {"job", "ready", "samples": {row: {"total", "stages"}}, "faces"}."""
    env = worker_env(settings["wait_policy"])
    workers = []
    with tempfile.TemporaryDirectory(prefix="facedge-bench-") as log_dir:
        try:
            for job in progress(jobs, desc=f"{threads} thread(s): loading"):
                size = "x".join(str(v) for v in job["model"]["input_size"])
                full = dict(job, threads=threads, cores=list(cores), frame=settings["frames"][size],
                            warmup=settings["warmup"], score_threshold=settings["score_threshold"],
                            iou_threshold=settings["iou_threshold"])
                try:
                    workers.append(Worker(job, full, env, log_dir))
                except WorkerFailed as e:
                    on_failure(job, str(e))
            return _rounds(workers, threads, settings, on_failure)
        finally:
            for w in workers:
                w.close()


def _rounds(workers, threads, settings, on_failure):
    results = {id(w): {"job": w.job, "ready": w.ready, "samples": {}, "faces": w.ready.get("faces")} for w in workers}
    left = {id(w): settings["repeats"] for w in workers}
    alive = list(workers)
    n_rounds = -(-settings["repeats"] // settings["batch"])
    for r in progress(range(n_rounds), desc=f"{threads} thread(s): timing"):
        order = alive[r % len(alive):] + alive[:r % len(alive)] if alive else []
        for w in order:
            frames = min(settings["batch"], left[id(w)])
            if frames <= 0:
                continue
            try:
                answer = w.batch(frames)
            except WorkerFailed as e:
                on_failure(w.job, str(e))
                alive.remove(w)
                results.pop(id(w))
                continue
            left[id(w)] -= frames
            results[id(w)]["faces"] = answer["faces"]
            for row, s in answer["samples"].items():
                into = results[id(w)]["samples"].setdefault(row, {"total": [], "stages": {}})
                into["total"].extend(s["total"])
                for stage, values in s["stages"].items():
                    into["stages"].setdefault(stage, []).extend(values)
    return list(results.values())
