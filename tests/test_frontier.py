"""Where a plant sits against the measured lattice frontier (audit/frontier.py) and what `plant rff` prints."""
from __future__ import annotations

import numpy as np
import pytest

from undetectable.audit import frontier as fr


def test_defaults_outside_and_small_d_inside():
    v = fr.frontier_position(32, 0.01, support_known=False, D=784)
    assert not v.inside and v.zone == "outside" and "784" in v.basis
    assert fr.frontier_position(8, 1e-3, support_known=True).zone == "inside"
    assert fr.frontier_position(8, 1e-3, support_known=True).margin_decades < 0
    assert fr.frontier_position(200, 1e-6, support_known=True).zone == "outside"  # nothing measured there
    assert 0.99 < fr.negation_fidelity(0.01) < 1.0


def test_implied_flip_rate_matches_formula():
    # large margins flip surely, zero margins are a coin toss
    assert fr.implied_flip_rate(0.01, np.array([10.0])) > 0.999
    assert abs(fr.implied_flip_rate(0.01, np.array([0.0])) - 0.5) < 1e-12


def test_plant_message_warns_inside_only():
    msg, warn = fr.plant_message(8, 1e-3, D=64, flip_rate=0.99)
    assert warn is not None and "inside" in warn and "0.990" in msg
    msg, warn = fr.plant_message(64, 0.03, D=784)
    assert warn is None and "outside" in msg


def test_bad_params_are_usage_errors():
    from undetectable.errors import UsageError

    with pytest.raises(UsageError):
        fr.frontier_position(0, 0.01)
    with pytest.raises(UsageError):
        fr.frontier_position(8, float("nan"))


def test_plant_rff_cli_prints_frontier_and_refuses_nothing(cli, tmp_path):
    r = cli("plant", "rff", "--data", "digits", "--features", "60", "--secret-dim", "8", "--beta", "0.001",
            "--out", tmp_path / "m", "--key-out", tmp_path / "k")
    assert r.code == 0, r.err
    assert "lattice frontier" in r.err and "warning" in r.err and "key flip rate" in r.err


def test_heatmap_writes_png(tmp_path):
    cells = [{"d": 8, "beta": b, "rate": r, "successes": int(3 * r), "trials": 3, "seconds_median": 0.1} for b, r in ((1e-3, 1.0), (1e-2, 0.0))]
    cells.append({"d": 16, "beta": 1e-3, "rate": 0.0, "successes": 0, "trials": 0, "skipped": True})
    p = fr.frontier_heatmap(cells, tmp_path / "f.png")
    assert p.exists() and p.stat().st_size > 1000


def test_edge_separates_support_kinds():
    cells = [{"d": 8, "beta": b, "support": "known", "D": 8, "successes": s, "trials": 2} for b, s in ((1e-3, 2), (1e-2, 1), (3e-2, 0))]
    cells += [{"d": 8, "beta": 1e-3, "support": "unknown", "D": 24, "successes": 0, "trials": 2}]
    assert fr.edge(cells) == {8: {"breaks_up_to": 1e-3, "fails_from": 3e-2}}
    assert fr.edge(cells, "unknown", 24) == {8: {"breaks_up_to": None, "fails_from": 1e-3}}
