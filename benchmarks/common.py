"""Timing helpers shared by the benchmark modules."""
from __future__ import annotations

import time
from typing import Callable


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall-clock seconds of ``repeat`` calls (the least noisy estimate on a shared machine)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def ratio_row(name: str, ours: float, baseline: float, target: str, ok: bool, note: str = "") -> dict:
    """One benchmark result: ``ours`` and ``baseline`` in seconds, their ratio, the target and verdict."""
    return {"name": name, "ours_s": ours, "baseline_s": baseline, "ratio": ours / baseline if baseline else float("nan"),
            "target": target, "ok": bool(ok), "note": note}
