"""Timing helpers shared by the benchmark modules."""
from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int = 3, timer: Callable[[], float] = time.perf_counter) -> float:
    """Best seconds of ``repeat`` calls by ``timer`` (default wall clock; the least noisy estimate on a shared
    machine; ``time.process_time`` for CPU seconds)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = timer()
        fn()
        best = min(best, timer() - t0)
    return best


def ratio_row(name: str, ours: float, baseline: float, target: str, ok: bool, note: str = "",
              ratio: float | None = None) -> dict:
    """One benchmark result: ``ours`` and ``baseline`` in seconds, the ratio (default ours/baseline, i.e. a
    time ratio; pass ``ratio`` for a throughput ratio baseline/ours), the target and the verdict."""
    if ratio is None:
        ratio = ours / baseline if baseline else float("nan")
    return {"name": name, "ours_s": ours, "baseline_s": baseline, "ratio": ratio, "target": target, "ok": bool(ok), "note": note}
