"""Arena rows for the lattice detector (issue 12, item 5): one (d, β) inside the measured frontier, one outside.

Both on breast-cancer (D = 30, so the key-free ``lattice`` detector attacks all D coordinates; the
partial-knowledge oracle ``lattice_support`` is told only the support), with the key oracle and the
key-free weight statistics beside it:

    PYTHONPATH=src OMP_NUM_THREADS=1 python -m benchmarks.study_arena_lattice --models 10 --out benchmarks/arena_lattice.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DETECTORS = ["lattice", "lattice_support", "rff_frac", "ks_coord", "ks_proj", "kurtosis", "mp_edge", "spca_covthresh"]
POINTS = {"inside": {"n_features": 600, "secret_dim": 8, "beta": 1e-3},
          "outside": {"n_features": 600, "secret_dim": 24, "beta": 1e-2}}


def main(argv=None) -> int:
    from undetectable.audit.arena import run_arena

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--data", default="breast-cancer")
    ap.add_argument("--points", nargs="*", default=list(POINTS))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/arena_lattice.json"))
    a = ap.parse_args(argv)
    res = {}
    for name in a.points:
        t0 = time.perf_counter()
        rec = run_arena("rff", a.data, a.models, detectors=DETECTORS, params=POINTS[name], seed=12)
        res[name] = {"params": POINTS[name], "data": a.data, "n_models": a.models, "wall_s": time.perf_counter() - t0,
                     "construction": rec["construction"],
                     "detectors": [{k: d.get(k) for k in ("name", "needs_key", "auc", "auc_ci", "tpr_at_5fpr", "errors")} for d in rec["detectors"]],
                     "scores": rec["scores"]}
        for d in res[name]["detectors"]:
            print(f"{name:8s} {d['name']:16s} AUC {d['auc']:.3f} CI [{d['auc_ci'][0]:.2f}, {d['auc_ci'][1]:.2f}]"
                  f"{' (key)' if d['needs_key'] else ''}{'  errors: ' + str(d['errors']) if d.get('errors') else ''}",
                  file=sys.stderr, flush=True)
        a.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
