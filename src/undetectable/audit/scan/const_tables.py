"""constant-tables: constants with arithmetic rather than statistical structure.

Trained weights are noisy reals. A verifier carries curve points and limb constants: large
integer-valued float tables, runs of powers of two (bit extraction), rows in arithmetic progression
(precomputed multiples), and integer tables indexed by a *computed* input-derived index (an S-box or
point-table lookup). Honest integer data (a KNN's stored training pixels 0..16, shape constants)
is small in magnitude and not indexed by computed values.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import Finding, check
from ._common import ROUNDING, SELECTIONS, ancestor_ops, finding
from .graph import GraphView

MIN_ELEMENTS = 16
BIG = 1024.0
GATHERS = frozenset({"Gather", "GatherElements", "GatherND"})


def _integer_valued(a: np.ndarray) -> bool:
    return a.dtype.kind in "iu" or (a.dtype.kind == "f" and bool(np.all(np.isfinite(a))) and bool(np.all(a == np.round(a))))


def powers_of_two_run(a: np.ndarray) -> int:
    """Longest run of consecutive powers of two among the distinct absolute values of ``a``."""
    v = np.unique(np.abs(a[np.isfinite(a)].astype(np.float64)))
    v = v[v > 0]
    e = np.log2(v)
    e = np.unique(e[e == np.round(e)]).astype(np.int64)
    if len(e) == 0:
        return 0
    best = run = 1
    for x, y in itertools.pairwise(e):
        run = run + 1 if y == x + 1 else 1
        best = max(best, run)
    return best


def multiples_table(a: np.ndarray) -> bool:
    """Rows (≥ 8, along the first axis) in arithmetic progression with a non-trivial step: a precomputed multiples table."""
    if a.ndim == 0 or a.shape[0] < 8 or a.size < MIN_ELEMENTS:
        return False
    f = a.reshape(a.shape[0], -1).astype(np.float64)
    d = np.diff(f, axis=0)
    if not np.all(np.isfinite(d)) or np.all(d == 0):
        return False
    return bool(np.all(d == d[0])) and float(np.max(np.abs(f))) >= 256 and not np.all(np.abs(d[0]) <= 1)


@check("constant-tables")
def constant_tables(view: GraphView, ctx) -> list[Finding]:
    """Large integer-valued float tables, power-of-two runs, multiples tables, computed-index integer lookups."""
    used_hot = {i for r in view.nodes if view.node_tainted(r) for i in r.node.input}
    big, pow2, mult = [], [], []
    for name, a in view.const.items():
        if a.size < MIN_ELEMENTS or a.dtype.kind not in "fiu" or name not in used_hot:
            continue
        integral = _integer_valued(a)
        if a.dtype.kind == "f" and integral and float(np.max(np.abs(a))) >= BIG:
            big.append(name)
        if integral and powers_of_two_run(a) >= 8:
            pow2.append(name)
        if integral and multiples_table(a):
            mult.append(name)
    lookups: list = []
    computed: list = []
    for r in view.nodes:
        if r.op in GATHERS and len(r.node.input) > 1 and r.node.input[1] in view.tainted and r.node.input[0] in view.const \
                and r.node.input[1] not in view.inputs:
            ops = ancestor_ops(view, r.node.input[1])
            if ops & SELECTIONS and not ops & (ROUNDING | {"Mod", "Cast"}):
                continue  # a top-k / argmax selection (KNN votes, label decoding), not a computed index
            (computed if _integer_valued(view.const[r.node.input[0]]) else lookups).append(r)
    out = []

    def consumers(names):
        return [c for n in names for c in view.consumers.get(n, [])[:1]]

    if big:
        out.append(finding("constant-tables", "medium", consumers(big),
                           f"{len(big)} integer-valued float table(s) with entries ≥ {BIG:g} ({', '.join(big[:4])})"))
    if pow2:
        out.append(finding("constant-tables", "medium", consumers(pow2),
                           f"{len(pow2)} constant(s) holding a run of ≥ 8 consecutive powers of two (bit extraction) ({', '.join(pow2[:4])})"))
    if mult:
        out.append(finding("constant-tables", "medium", consumers(mult),
                           f"{len(mult)} table(s) of precomputed multiples (rows in arithmetic progression) ({', '.join(mult[:4])})"))
    if computed:
        out.append(finding("constant-tables", "high", computed,
                           f"{len(computed)} integer table lookup(s) at a computed input-derived index"))
    if lookups:
        out.append(finding("constant-tables", "low", lookups, f"{len(lookups)} table lookup(s) at a computed input-derived index"))
    return out
