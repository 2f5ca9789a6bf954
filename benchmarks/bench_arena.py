"""Arena throughput (models × detectors per minute) and the speed-up of 2 local joblib workers over 1.

Both runs use one BLAS / torch thread per worker (``run_arena`` sets it whenever n_jobs ≠ 1; the
1-worker baseline here is forced to the same, so the ratio measures parallelism, not threading).
Both are warmed up first (imports, dataset load, loky workers) so start-up is not counted.
"""
from __future__ import annotations

import os
import time

from .common import ratio_row

SCHEME, DATA, N_MODELS = "rff", "mnist5k", 4


def _run(n_jobs: int) -> tuple[float, dict]:
    from undetectable.audit import arena as A

    kw = dict(quick=True, seed=11, detectors=["ks_coord", "ad_coord", "ks_proj", "mp_edge", "kurtosis", "spca_diag", "spca_covthresh", "rff_frac"])
    if n_jobs == 1:  # same one-thread-per-worker setting as the parallel run
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            A.run_arena(SCHEME, DATA, 2, n_jobs=1, **(kw | {"seed": 99}))  # warm up: imports, dataset cache
            t0 = time.perf_counter()
            rec = A.run_arena(SCHEME, DATA, N_MODELS, n_jobs=1, **kw)
    else:
        A.run_arena(SCHEME, DATA, 2, n_jobs=n_jobs, **(kw | {"seed": 99}))  # warm the workers
        t0 = time.perf_counter()
        rec = A.run_arena(SCHEME, DATA, N_MODELS, n_jobs=n_jobs, **kw)
    return time.perf_counter() - t0, rec


def run() -> list[dict]:
    t1, r1 = _run(1)
    t2, r2 = _run(2)
    units = 2 * N_MODELS * len(r1["detectors"])
    import numpy as np

    diffs = [np.max(np.abs(np.subtract(r1["scores"][k][role], r2["scores"][k][role])) / (1e-12 + np.abs(r1["scores"][k][role])))
             for k in r1["scores"] for role in ("honest", "backdoored")]
    same = bool(max(diffs) < 1e-9)
    load = os.getloadavg()[0]
    note = (f"{SCHEME} quick, {N_MODELS}+{N_MODELS} models × {len(r1['detectors'])} detectors; "
            f"1 worker {60 * units / t1:.1f}, 2 workers {60 * units / t2:.1f} models×detectors/min; "
            f"speed-up {t1 / t2:.2f}×; same scores (max rel. diff {max(diffs):.1e}): {same}; 1-min load average {load:.1f} on {os.cpu_count()} cores")
    return [ratio_row("arena: 2 joblib workers vs 1 (time)", t2, t1, "≤ 0.625 (speed-up ≥ 1.6×)", t1 / t2 >= 1.6 and same, note)]
