"""The arena under load: the same small arena idle and beside 3 busy processes, today's code vs ours, one run.

Workload: a 2 + 2 ``--quick`` rff arena on ``synthetic`` with every rff detector (as a user runs it:
``run_arena(..., n_jobs=1)``, no thread variables set), in a fresh subprocess per measurement so each one
starts with the libraries' own thread pools. Four measurements, interleaved:

* "today": the code at ``BASELINE`` (main before issue 13: BLAS / torch pools at the core count, Neural
  Cleanse's 200 fixed steps, run even on this binary task), extracted with ``git archive``;
* "ours": this checkout (``runtime`` thread budget, Neural Cleanse n/a on two classes,
  Lanczos eigenvalues);

each idle and with three ``while True: pass`` processes that this benchmark starts and kills. Rows:
the load slowdown (loaded / idle time, target ≤ 3× on 2 cores) for ours and for today, and the
models × detectors per minute (scored pairs only) of ours vs today, idle and loaded.

Noise: on a machine shared with other work, "idle" is only as idle as the machine; the 1-minute load
average before each measurement and each subprocess's CPU seconds (threads spinning against the busy
processes show up as extra CPU time) are in the note. Repeat ``python -m benchmarks bench_load`` to see
the spread. Registered in ``python -m benchmarks`` by its name (every ``bench_*.py`` module is).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ratio_row

BASELINE = "a29d851"  # main when issue 13 started
N_MODELS = 2
BUSY = 3

SNIPPET = r"""
import json, sys, time
from undetectable.audit import arena as A
from undetectable.audit.base import _import_all
_import_all(); A._dataset("synthetic")
import torch  # noqa: F401  (imported before timing, as in a warm session)
t0 = time.perf_counter()
rec = A.run_arena("rff", "synthetic", %d, quick=True, seed=11)
dt = time.perf_counter() - t0
pairs = sum(len(v["honest"]) + len(v["backdoored"]) for v in rec["scores"].values())
print(json.dumps({"seconds": dt, "pairs": pairs, "detectors": [d["name"] for d in rec["detectors"]]}))
"""


def _baseline_src(tmp: Path) -> Path | None:
    root = Path(__file__).resolve().parent.parent
    try:
        arch = subprocess.run(["git", "-C", str(root), "archive", BASELINE, "src"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=arch, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return tmp / "src"


def _measure(src: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                             "UNDETECTABLE_THREADS")}
    env["PYTHONPATH"] = str(src)
    import resource

    load = os.getloadavg()[0]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", SNIPPET % N_MODELS], capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["load"] = load
    r["cpu"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)  # whole subprocess, imports included
    return r


def _busy(n: int) -> list[subprocess.Popen]:
    """``n`` processes spinning ``while True: pass`` (terminated by ``_stop``)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def run() -> list[dict]:
    ours_src = Path(__file__).resolve().parent.parent / "src"
    with tempfile.TemporaryDirectory() as tmp:
        base_src = _baseline_src(Path(tmp))
        res: dict[str, dict] = {}
        order = [("ours", "idle"), ("today", "idle"), ("ours", "loaded"), ("today", "loaded")]
        for who, cond in order:
            src = ours_src if who == "ours" else base_src
            if src is None:
                continue
            procs = _busy(BUSY) if cond == "loaded" else []
            try:
                if procs:
                    time.sleep(1.0)  # let the busy loops start spinning
                res[f"{who}/{cond}"] = _measure(src)
            finally:
                _stop(procs)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def rate(k):
        return 60 * res[k]["pairs"] / res[k]["seconds"]

    def desc(k):
        return (f"{k}: {res[k]['seconds']:.1f}s, {rate(k):.0f} models×detectors/min, {res[k]['cpu']:.0f} CPU-s (process), "
                f"load {res[k]['load']:.1f}")

    rows = []
    o_i, o_l = res["ours/idle"]["seconds"], res["ours/loaded"]["seconds"]
    note = "; ".join(desc(k) for k in res) + f"; {cores} usable cores, {BUSY} busy processes"
    rows.append(ratio_row(f"arena under {BUSY} busy processes vs idle (ours, {N_MODELS}+{N_MODELS} rff synthetic)", o_l, o_i,
                          "≤ 3×", o_l / o_i <= 3.0, note))
    if "today/idle" in res:
        t_i, t_l = res["today/idle"]["seconds"], res["today/loaded"]["seconds"]
        rows.append(ratio_row(f"arena under {BUSY} busy processes vs idle (today, {BASELINE})", t_l, t_i, "(reference)", True,
                              "the same measurement on the code before issue 13"))
        rows.append(ratio_row("arena models×detectors per minute, ours / today (idle)", res["ours/idle"]["seconds"],
                              res["today/idle"]["seconds"], "throughput ≥ 1", rate("ours/idle") >= rate("today/idle"),
                              "ratio = our throughput / today's (scored model×detector pairs)",
                              ratio=rate("ours/idle") / rate("today/idle")))
        rows.append(ratio_row("arena models×detectors per minute, ours / today (loaded)", res["ours/loaded"]["seconds"],
                              res["today/loaded"]["seconds"], "throughput ≥ 1", rate("ours/loaded") >= rate("today/loaded"),
                              "ratio = our throughput / today's", ratio=rate("ours/loaded") / rate("today/loaded")))
    return rows


if __name__ == "__main__":  # python -m benchmarks.bench_load: the rows as JSON
    print(json.dumps(run(), indent=1))
