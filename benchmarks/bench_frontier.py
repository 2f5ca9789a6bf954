"""The (d, β) frontier of the lattice attack on planted pancakes (issue 12).

``python -m benchmarks bench_frontier`` (part of ``make bench``) runs a small slice and one ratio row:
the whole attack vs fpylll's bare LLL on the same lattice basis (the raw primitive), target ≤ 3×
(the attack adds the SVD, basis building, the check and BKZ when LLL alone does not break it).

The full study (minutes to an hour; one core; results appended cell by cell, resumable by re-running):

    PYTHONPATH=src OMP_NUM_THREADS=1 python -m benchmarks.bench_frontier --full --out benchmarks/frontier.json

Options select the grid: --d, --beta, --m-factor, --block, --trials, --cell-time, --unknown-D (support
hidden: d hidden among D, all D attacked). Each row records wall times; on a shared machine they are
inflated (docs/hardness.md says by how much we think).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import best_of, ratio_row


def run() -> list[dict]:
    from fpylll import LLL, IntegerMatrix

    from undetectable.audit.lattice import _left_null_basis, attack, pancake_rows

    rows = []
    d, beta = 24, 1e-3
    Y, u = pancake_rows(np.random.default_rng(0), 3 * d + 300, d, beta)
    ours = best_of(lambda: attack(Y, beta=beta, d=d, m=3 * d, block_size=20, time_limit=30), repeat=3)
    m = 3 * d
    N = _left_null_basis(Y[:m])
    k = N.shape[0]
    K = 4 * np.sqrt(d * m) / (2 * beta * np.sqrt(k))
    R = int(np.ceil(np.sqrt(k)))
    B = np.zeros((m, m + k), dtype=np.int64)
    B[:, :m] = np.eye(m, dtype=np.int64) * R
    B[:, m:] = np.round(N.T * (R * K)).astype(np.int64)
    base = best_of(lambda: LLL.reduction(IntegerMatrix.from_matrix(B.tolist())), repeat=3)
    rows.append(ratio_row(f"lattice attack d={d} β={beta:g} m={m} vs bare LLL on its basis", ours, base, "<= 3x", ours <= 3 * base))
    return rows


def _load(path: Path) -> list[dict]:
    if path.exists():
        return json.loads(path.read_text()).get("cells", [])
    return []


def _save(path: Path, cells: list[dict], meta: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"meta": meta, "cells": cells}, indent=1))
    os.replace(tmp, path)


def _key(c: dict) -> tuple:
    return (c["d"], c["beta"], c["support"], c["D"], c["m_factor"], c["block_size"])


def main(argv: list[str] | None = None) -> int:
    from undetectable.audit.frontier import BETA_GRID, D_GRID, edge, frontier_heatmap, measure_cell

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="the full grid (default: the demo slice)")
    ap.add_argument("--d", type=int, nargs="*", default=list(D_GRID))
    ap.add_argument("--beta", type=float, nargs="*", default=list(BETA_GRID))
    ap.add_argument("--m-factor", type=float, nargs="*", default=[3.0])
    ap.add_argument("--block", type=int, nargs="*", default=[20])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--cell-time", type=float, default=60.0, help="seconds of BKZ per attack (LLL is not interruptible)")
    ap.add_argument("--unknown-D", type=int, nargs="*", default=[], help="support hidden among D coordinates (all attacked)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/frontier.json"))
    ap.add_argument("--figure", type=Path, default=None)
    a = ap.parse_args(argv)
    if not a.full:
        from undetectable.audit.frontier import frontier_slice

        t0 = time.perf_counter()
        cells = frontier_slice(progress=lambda s: print(s, file=sys.stderr, flush=True))
        print(json.dumps({"slice_seconds": time.perf_counter() - t0, "edge_known": edge(cells),
                          "edge_hidden_D24": edge(cells, "unknown", 24)}, indent=1))
        return 0
    cells = _load(a.out)
    done = {_key(c) for c in cells}
    meta = {"command": " ".join(["python -m benchmarks.bench_frontier"] + (argv if argv is not None else sys.argv[1:])),
            "machine": f"{platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cores (shared)",
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    for D in ([None] if not a.unknown_D else list(a.unknown_D)):
        for mf in a.m_factor:
            for bs in a.block:
                for d in a.d:
                    dead = False
                    for b in sorted(a.beta):
                        probe = {"d": d, "beta": b, "support": "known" if D is None else "unknown", "D": D or d,
                                 "m_factor": mf, "block_size": bs}
                        if _key(probe) in done:
                            prev = next(c for c in cells if _key(c) == _key(probe))
                            dead = dead or prev.get("skipped", False) or prev["successes"] == 0
                            continue
                        if dead or (D is not None and d >= D):
                            cell = {**probe, "skipped": True, "rate": 0.0, "successes": 0, "trials": 0}
                        else:
                            t0 = time.perf_counter()
                            cell = measure_cell(d, b, m_factor=mf, block_size=bs, trials=a.trials, D=D, time_limit=a.cell_time,
                                                progress=lambda s: print(s, file=sys.stderr, flush=True))
                            cell["cell_wall_s"] = time.perf_counter() - t0
                            dead = cell["successes"] == 0
                        cells.append(cell)
                        _save(a.out, cells, meta)
    print(json.dumps({"known": edge(cells), **{f"hidden_D{D}": edge(cells, "unknown", D) for D in a.unknown_D}}, indent=1))
    if a.figure:
        frontier_heatmap([c for c in cells if c["support"] == "known" and c["m_factor"] == a.m_factor[0]
                          and c["block_size"] == a.block[0]], a.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
