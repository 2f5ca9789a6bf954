"""The measured (d, β) frontier of the lattice attack on planted pancakes, and where a plant sits against it.

* :func:`measure_cell` — success rate and time of :func:`audit.lattice.attack` on fresh pancake samples
  for one (d, β, samples m, BKZ block size, support known / unknown in D coordinates) cell.
* :func:`measure_grid` — a grid, β ascending per d, time-bounded per cell; once a cell breaks no trial
  the larger β of that d are recorded as ``skipped`` (the noise only grows). ``benchmarks/bench_frontier.py``
  runs the full grid; :func:`frontier_slice` is the demo's ≲ 30 s slice.
* :data:`FRONTIER` — the measured edge, shipped with its provenance (command, machine, date), and
  :func:`frontier_position` — a typed verdict for a plant's (d, β, support known?) point: inside /
  outside the broken region, the margin in decades of β, and the key flip rate β implies.
* :func:`frontier_heatmap` — the heat map (kept here until report/figures.py takes it over).

Honest caveats: "outside" means *this* attack (LLL + BKZ ≤ 30 on 2d–6d samples, fpylll without pruning
strategies, a few minutes per cell on a shared 2-core machine) failed, not that the point is secure; d ≤
100 is not cryptographically hard. Times are inflated by five other engineers sharing the machine.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from collections.abc import Callable

import numpy as np

from ..errors import UsageError

D_GRID = (8, 16, 24, 32, 48, 64)
UNKNOWN_REACH = 96  # all-D lattices beyond this many coordinates did not finish LLL in our runs (docs/hardness.md)
BETA_GRID = (0.0, 1e-6, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2)


def measure_cell(d: int, beta: float, *, m_factor: float = 3.0, block_size: int = 20, trials: int = 3, D: int | None = None,
                 seed: int = 0, time_limit: float = 60.0, n_holdout: int = 300,
                 progress: Callable[[str], None] | None = None) -> dict:
    """Success rate and times of the lattice attack on one cell.

    Support known: the attacked coordinates are exactly the d secret ones (t = d). Support unknown
    (``D`` given): W has D coordinates, the secret hides on d of them, all D are attacked (t = D).
    m = round(m_factor·t) samples in the lattice, ``n_holdout`` more for the check. A trial succeeds when
    the ground-truth-free check passes; ``agree`` counts trials where that verdict matched |cos| > 0.99.
    """
    from .lattice import attack, pancake_rows, planted_weights

    t = d if D is None else int(D)
    m = max(t + 2, int(round(m_factor * t)))
    ok, secs, coss, agree, timeouts = 0, [], [], 0, 0
    for i in range(trials):
        rng = np.random.default_rng([seed, d, int(round(beta * 1e9)), t, i])
        if D is None:
            Y, u = pancake_rows(rng, m + n_holdout, d, beta)
            true_u = u
        else:
            Y, S, u = planted_weights(rng, m + n_holdout, t, d, beta)
            true_u = np.zeros(t)
            true_u[S] = u
        r = attack(Y, beta=beta, d=d, m=m, block_size=block_size, time_limit=time_limit, n_holdout=n_holdout, true_u=true_u)
        ok += r.found
        secs.append(r.seconds)
        coss.append(r.cos if r.cos is not None else 0.0)
        agree += r.found == (coss[-1] > 0.99)
        timeouts += r.timed_out
        if progress:
            progress(f"d={d} β={beta:g} t={t} m={m} bkz={block_size} trial {i + 1}/{trials}: "
                     f"{'broken' if r.found else 'no'} in {r.seconds:.2f} s")
    return {"d": d, "beta": beta, "support": "known" if D is None else "unknown", "D": t, "m": m, "m_factor": m_factor,
            "block_size": block_size, "trials": trials, "successes": ok, "rate": ok / trials, "seconds_median": float(np.median(secs)),
            "seconds_max": float(np.max(secs)), "cos_median": float(np.median(coss)), "check_agrees_with_truth": agree,
            "timeouts": timeouts, "time_limit": time_limit}


def measure_grid(ds=D_GRID, betas=BETA_GRID, *, D: int | None = None, m_factor: float = 3.0, block_size: int = 20, trials: int = 3,
                 seed: int = 0, time_limit: float = 60.0, progress: Callable[[str], None] | None = None,
                 on_cell: Callable[[dict], None] | None = None) -> list[dict]:
    """Cells for every (d, β), β ascending per d; after a cell with 0 successes the rest of that d is skipped."""
    cells = []
    for d in ds:
        dead = False
        for b in sorted(betas):
            if dead or (D is not None and d > D):
                cell = {"d": d, "beta": b, "support": "known" if D is None else "unknown", "D": D or d, "skipped": True,
                        "m_factor": m_factor, "block_size": block_size, "rate": 0.0, "successes": 0, "trials": 0}
            else:
                cell = measure_cell(d, b, m_factor=m_factor, block_size=block_size, trials=trials, D=D, seed=seed,
                                    time_limit=time_limit, progress=progress)
                dead = cell["successes"] == 0
            cells.append(cell)
            if on_cell:
                on_cell(cell)
    return cells


def edge(cells: list[dict], support: str = "known", D: int | None = None) -> dict[int, dict]:
    """Per d: the largest β broken in every trial ('breaks_up_to') and the smallest β broken in none ('fails_from'),
    over the cells of one kind (support known, or hidden among ``D`` coordinates)."""
    cells = [c for c in cells if c["support"] == support and (D is None or c["D"] == D)]
    out: dict[int, dict] = {}
    for d in sorted({c["d"] for c in cells}):
        cs = sorted((c for c in cells if c["d"] == d), key=lambda c: c["beta"])
        full = [c["beta"] for c in cs if c.get("trials") and c["successes"] == c["trials"]]
        none = [c["beta"] for c in cs if c.get("skipped") or c["successes"] == 0]
        out[d] = {"breaks_up_to": max(full) if full else None, "fails_from": min(none) if none else None}
    return out


def frontier_slice(progress: Callable[[str], None] | None = None) -> list[dict]:
    """The demo's slice (≲ 30 s on a loaded laptop core): d ∈ {8, 16}, β ∈ {10⁻⁴, 10⁻², 3·10⁻²}, support
    known, 2 trials, plus support unknown at d = 8 hidden among D = 24 coordinates (β = 10⁻⁶, 10⁻²)."""
    cells = measure_grid((8, 16), (1e-4, 1e-2, 3e-2), trials=2, time_limit=10.0, progress=progress)
    cells += measure_grid((8,), (1e-6, 1e-2), D=24, trials=2, time_limit=10.0, progress=progress)
    return cells


# --- the shipped measurement -------------------------------------------------------------------
# From benchmarks/frontier.json (docs/hardness.md has the full table, the commands and the wall times).
FRONTIER: dict = {
    "provenance": ("measured 2026-11-29 with `python -m benchmarks.bench_frontier --full --trials 3 --cell-time 60` "
                   "(support known, m = 3d samples, LLL then BKZ-20, fpylll 0.6.4 unpruned) and "
                   "`--d 8 16 --unknown-D 32 64 --trials 2 --cell-time 60` (support hidden, all D attacked); "
                   "exact commands and results in docs/hardness.md and benchmarks/results/frontier_*.json; "
                   "one core of a 2-core machine shared by six sessions (load ≈ 5-11): times are inflated"),
    # d -> largest β broken in every trial, smallest β broken in none (β grid 0, 1e-6, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2)
    "known": {
        "8": {"breaks_up_to": 1e-2, "fails_from": 3e-2},
        "16": {"breaks_up_to": 1e-2, "fails_from": 2e-2},
        "24": {"breaks_up_to": 3e-3, "fails_from": 1e-2},
        "32": {"breaks_up_to": 1e-3, "fails_from": 1e-2},
        "48": {"breaks_up_to": 1e-4, "fails_from": 1e-3},
        # d = 64: 2 trials, β ∈ {1e-4, 1e-3} only (β = 0 did not finish LLL under load): 1/2 at 1e-4 (time-limited), 0/2 at 1e-3
        "64": {"breaks_up_to": None, "fails_from": 1e-3},
    },
    # D -> d -> the same, support hidden among D coordinates, all D attacked (m = 3D, BKZ-20, 2 trials;
    # D = 24 from the demo slice; β grid 1e-6, 1e-4, 1e-3, 1e-2)
    "unknown": {
        "24": {"8": {"breaks_up_to": 1e-6, "fails_from": 1e-2}},
        "32": {"8": {"breaks_up_to": 1e-3, "fails_from": 1e-2}, "16": {"breaks_up_to": 1e-3, "fails_from": 1e-2}},
        "64": {"8": {"breaks_up_to": 1e-4, "fails_from": 1e-3}},  # 1 trial per β
        # 1 trial: LLL alone took ≈ 9.5 min under load (dimension 288), the 60 s limit was spent before BKZ
        "96": {"8": {"breaks_up_to": None, "fails_from": 1e-4}},
    },
}


@dataclass(frozen=True)
class FrontierVerdict:
    """Where (d, β) sits against the measured frontier of the lattice attack.

    inside : the attack broke every trial at this d (or the nearest smaller measured d) for a β ≥ this β.
    margin_decades : log10(β / β_edge), β_edge the largest β broken in every trial — positive outside
        (this β is noisier than anything broken), ≤ 0 inside; None when nothing was broken at this d.
    negation_fidelity : e^{−(2πβ)²/2}, the fraction of f(x) that the key negates (model-free).
    implied_flip_rate : mean predicted key flip rate when the caller passed the model's normalized margins
        |f(x)|/‖w‖₂ (binary heads; ``rff_clwe.gaussian_flip_probability``), else None.
    basis : which measured row the verdict rests on.
    """

    d: int
    beta: float
    support_known: bool
    inside: bool
    margin_decades: float | None
    beta_edge: float | None
    basis: str
    negation_fidelity: float
    implied_flip_rate: float | None = None
    zone: str = "outside"

    def line(self) -> str:
        where = {"inside": "INSIDE", "edge": "AT THE EDGE OF"}.get(self.zone, "outside")
        m = "" if self.margin_decades is None else f" (β/β_edge = 10^{self.margin_decades:+.1f})"
        sup = "support known to the attacker" if self.support_known else "support hidden"
        flip = "" if self.implied_flip_rate is None else f", implied key flip rate {self.implied_flip_rate:.3f}"
        return (f"lattice frontier ({sup}): d={self.d}, β={self.beta:g} is {where} the measured broken region{m} "
                f"[{self.basis}]; the key negates a fraction {self.negation_fidelity:.4f} of f{flip}")

    def as_dict(self) -> dict:
        return asdict(self)


def negation_fidelity(beta: float) -> float:
    """E[−f(x + σbk)] / f(x) = e^{−(2πβ)²/2}: the phase noise 2πε, ε ~ N(0, β²), shrinks the negated output."""
    return float(math.exp(-((2 * math.pi * beta) ** 2) / 2))


def implied_flip_rate(beta: float, margins: np.ndarray) -> float:
    """Mean predicted flip probability Φ(e^{−s²/2}·μ / √((1 − e^{−s²})/2)), s = 2πβ, μ = |f(x)|/‖w‖₂ (binary heads)."""
    from scipy.special import ndtr

    s2 = (2 * math.pi * max(beta, 1e-12)) ** 2
    mu = np.abs(np.asarray(margins, dtype=np.float64))
    return float(np.mean(ndtr(math.exp(-s2 / 2) * mu / math.sqrt(-math.expm1(-s2) / 2))))


def _row(table: dict, k: int) -> dict:
    """A shipped table's entry for ``k`` (keys are strings in :data:`FRONTIER`, ints in a caller's table)."""
    return table[str(k)] if str(k) in table else table[k]


def _lookup(table: dict, d: int) -> tuple[float | None, float | None, str]:
    keys = sorted(int(k) for k in table)
    if not keys:
        return None, None, "no measurement shipped"
    if d in keys:
        row = _row(table, d)
        return row.get("breaks_up_to"), row.get("fails_from"), f"measured d={d}"
    # between measured d: the attack gets harder with d, so use the next measured d below for "inside"
    # (conservative for the warning) and say so
    lower = [k for k in keys if k <= d]
    k = lower[-1] if lower else keys[0]
    row = _row(table, k)
    return row.get("breaks_up_to"), row.get("fails_from"), f"nearest measured d={k} (≤ {d}: conservative)"


def _zone(beta: float, up: float | None, fail: float | None) -> str:
    if up is not None and beta <= up:
        return "inside"
    if (fail is not None and beta >= fail) or (up is None and fail is None):
        return "outside"
    return "edge"  # broken below this β, not yet failed at it


def frontier_position(d: int, beta: float, support_known: bool = False, D: int | None = None,
                      margins: np.ndarray | None = None) -> FrontierVerdict:
    """Typed verdict for a plant at (d, β) against the measured frontier (:data:`FRONTIER`).

    zone "inside": every trial broken at a β at least this large; "edge": some trials broken at a β at
    least this large, or this β lies between the last fully broken and the first unbroken measured β;
    "outside": the attack broke nothing at a β at most this large. ``inside`` is True for inside and edge
    (the warning is conservative). Support hidden among D: the all-D measurement when D was measured
    (``FRONTIER["unknown"]``); for larger D "outside", with the basis saying the all-D lattice was out of
    reach and marginal statistics do not locate S (measured), and the margin quoted against the
    support-known edge (what an attacker who located S would face).

    Examples
    --------
    >>> frontier_position(32, 0.01, support_known=False, D=784).inside
    False
    >>> frontier_position(8, 1e-3, support_known=True).zone
    'inside'
    """
    if not isinstance(d, (int, np.integer)) or d < 1:
        raise UsageError(f"secret dimension must be a positive integer; got {d!r}")
    if not (isinstance(beta, (int, float, np.floating)) and math.isfinite(beta) and beta >= 0):
        raise UsageError(f"beta must be a finite number ≥ 0; got {beta!r}")
    fid = negation_fidelity(beta)
    flip = None if margins is None else implied_flip_rate(beta, margins)
    known = FRONTIER["known"]
    up, fail, basis = _lookup(known, int(d))
    dmax = max((int(k) for k in known), default=0)
    if d > dmax:
        up, fail, basis = None, None, f"d={d} beyond the measured d ≤ {dmax}; nothing measured"

    def margin(edge_beta):
        return None if edge_beta is None else math.log10(max(beta, 1e-12) / edge_beta)

    if support_known or D is None:
        z = _zone(beta, up, fail)
        return FrontierVerdict(int(d), float(beta), True, z != "outside", margin(up), up, "support known: " + basis, fid, flip, z)
    unk = FRONTIER.get("unknown", {})
    measured_D = sorted(int(k) for k in unk)
    if measured_D and D <= max(measured_D):
        Dk = min(k for k in measured_D if k >= D)
        up_u, fail_u, b2 = _lookup(_row(unk, Dk), int(d))
        z = _zone(beta, up_u, fail_u)
        return FrontierVerdict(int(d), float(beta), False, z != "outside", margin(up_u), up_u,
                               f"support hidden, all D ≤ {Dk} coordinates attacked: {b2}", fid, flip, z)
    reach = "out of reach here" if D > UNKNOWN_REACH else "not measured"
    basis = (f"support hidden among D={D}: the all-D lattice (dimension ≈ {3 * D}) is {reach} (all-D attack measured up to "
             f"D={max(measured_D) if measured_D else '?'}) and marginal statistics do not locate S; margin quoted against "
             f"the support-known edge ({basis})")
    return FrontierVerdict(int(d), float(beta), False, False, margin(up), up, basis, fid, flip, "outside")


# --- the figure -----------------------------------------------------------------------------------

def frontier_heatmap(cells: list[dict], path, title: str = "lattice attack on planted pancakes: success rate"):
    """Heat map of success rate over (d, β) (skipped cells hatched as 'not run: beyond a failed β')."""
    from pathlib import Path

    from ..report.figures import plt, save

    ds = sorted({c["d"] for c in cells})
    bs = sorted({c["beta"] for c in cells})
    R = np.full((len(ds), len(bs)), np.nan)
    T = np.full((len(ds), len(bs)), np.nan)
    for c in cells:
        i, j = ds.index(c["d"]), bs.index(c["beta"])
        R[i, j] = np.nan if c.get("skipped") else c["rate"]
        T[i, j] = np.nan if c.get("skipped") else c.get("seconds_median", np.nan)
    p = plt()
    fig, ax = p.subplots(figsize=(1.2 * len(bs) + 2.0, 0.75 * len(ds) + 1.5))
    cmap = p.get_cmap("RdYlGn_r").with_extremes(bad="0.85")  # grey: not run (a smaller β of the same d already failed)
    im = ax.imshow(np.ma.masked_invalid(R), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for c in cells:
        i, j = ds.index(c["d"]), bs.index(c["beta"])
        txt = "not run" if c.get("skipped") else f"{c['successes']}/{c['trials']} broken\n{c.get('seconds_median', 0):.1f} s"
        dark = not c.get("skipped") and not 0.25 < c["rate"] < 0.75  # the colour map's saturated ends: white text
        ax.text(j, i, txt, ha="center", va="center", fontsize=9, color="white" if dark else "black", fontweight="bold")
    ax.set_xticks(range(len(bs)), [("0" if b == 0 else f"{b:g}") for b in bs], fontsize=8.5)
    ax.set_yticks(range(len(ds)), [str(d) for d in ds], fontsize=8.5)
    ax.set_xlabel("pancake noise β", fontsize=9)
    ax.set_ylabel("secret dimension d", fontsize=9)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="broken (fraction of trials)")
    return save(fig, Path(path))


def plant_message(d: int, beta: float, D: int, flip_rate: float | None = None) -> tuple[str, str | None]:
    """(the line ``plant rff`` prints, a warning or None): where (d, β) sits, hidden support among D, and the
    support-known margin (what an attacker who located S would face). Refuses nothing."""
    hidden = frontier_position(d, beta, support_known=False, D=D)
    known = frontier_position(d, beta, support_known=True)
    msg = hidden.line()
    msg += (f"; with the support known: {known.zone}"
            + ("" if known.margin_decades is None else f" (β/β_edge = 10^{known.margin_decades:+.1f})"))
    if flip_rate is not None:
        msg += f"; measured key flip rate on the test split {flip_rate:.3f}"
    warn = None
    if hidden.inside or known.inside:
        who = "even with the support hidden" if hidden.inside else "if an attacker locates the support"
        warn = (f"warning: (d={d}, β={beta:g}) is inside the measured lattice frontier {who}: the secret is "
                "recoverable in seconds (see docs/hardness.md); fine for research, not for undetectability claims")
    return msg, warn


def frontier_demo(out_dir, progress: Callable[[str], None] | None = None) -> dict:
    """What ``make demo`` can run (≲ 30 s): the slice, its heat map, and the shipped edges beside it.

    Writes ``frontier_slice.json`` and ``frontier_slice.png`` under ``out_dir``; returns
    {"cells", "edge_known", "edge_hidden_D24", "shipped", "seconds", "figure"}.
    """
    import json
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cells = frontier_slice(progress)
    rec = {"cells": cells, "edge_known": edge(cells), "edge_hidden_D24": edge(cells, "unknown", 24), "shipped": FRONTIER,
           "seconds": time.perf_counter() - t0}
    known = [c for c in cells if c["support"] == "known"]
    rec["figure"] = str(frontier_heatmap(known, out / "frontier_slice.png", title="lattice attack slice (support known, m=3d, BKZ-20)"))
    (out / "frontier_slice.json").write_text(json.dumps(rec, indent=1, default=str))
    return rec
