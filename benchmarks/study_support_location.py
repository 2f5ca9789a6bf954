"""Can marginal statistics LOCATE the hidden support of planted pancakes? (issue 12; measured, not assumed)

For each d: planted weights W (m × D, pancakes on a uniform support S of size d, N(0, 1) elsewhere), the
per-coordinate statistics of ``audit.lattice.marginal_statistics`` (kurtosis, KS, variance, periodicity =
largest excess empirical Fourier coefficient over 64 frequencies ≤ 16), and for each statistic the AUC of
"support coordinate vs other coordinate" (0.5 = blind) and how many of the top-2d coordinates are in S.
d = 1, 2 are sanity rows where the theory says a marginal *must* show the comb (u has a coordinate ≈ ±1).

    PYTHONPATH=src OMP_NUM_THREADS=1 python -m benchmarks.study_support_location --out benchmarks/support_location.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from undetectable.audit.arena import roc_auc
    from undetectable.audit.lattice import marginal_statistics, planted_weights

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--m", type=int, default=3000)
    ap.add_argument("--D", type=int, default=784)
    ap.add_argument("--d", type=int, nargs="*", default=[1, 2, 4, 8, 32])
    ap.add_argument("--beta", type=float, default=0.01)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/support_location.json"))
    a = ap.parse_args(argv)
    rows = []
    for d in a.d:
        for i in range(a.trials):
            t0 = time.perf_counter()
            W, S, u = planted_weights(np.random.default_rng([d, i, 77]), a.m, a.D, d, a.beta)
            st = marginal_statistics(W)
            inS = np.zeros(a.D, bool)
            inS[S] = True
            row = {"d": d, "trial": i, "m": a.m, "D": a.D, "beta": a.beta, "max_abs_u": float(np.abs(u).max())}
            for k, v in st.items():
                row[f"auc_{k}"] = roc_auc(v[~inS], v[inS])
                row[f"top2d_hits_{k}"] = int(inS[np.argsort(-v)[: 2 * d]].sum())
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    a.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
