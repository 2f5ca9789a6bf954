"""The lattice attack on Gaussian pancakes (audit/lattice.py): it must recover u on a tiny instance and
must never "recover" anything from honest N(0, I) weights (the ground-truth-free check is the claim)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fpylll")

from undetectable.audit import lattice as lat  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_u_support_known(seed):
    rng = np.random.default_rng(seed)
    Y, u = lat.pancake_rows(rng, 500, 8, 1e-6)
    r = lat.attack(Y, beta=1e-6, d=8, true_u=u, time_limit=10)
    assert r.found
    assert r.cos > 1 - 1e-6
    assert r.score > 0.24 and r.heldout_dist < 1e-3
    assert abs(np.linalg.norm(r.w) - 2 * np.sqrt(8)) < 1e-3  # w = γu, γ = 2√d


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_honest_gaussian_weights_give_nothing(seed):
    rng = np.random.default_rng(100 + seed)
    G = rng.standard_normal((500, 8))
    for beta in (1e-6, 1e-2):
        r = lat.attack(G, beta=beta, d=8, time_limit=10)
        assert not r.found
        assert abs(r.score) < 0.08  # held-out distances of a random direction: ¼ ± O(1/√400)


def test_support_unknown_small_D_and_key_free_score():
    """All D = 20 coordinates attacked, d = 8 hidden: the key-free path finds u on S, zero elsewhere."""
    rng = np.random.default_rng(7)
    W, S, u = lat.planted_weights(rng, 600, 20, 8, 1e-6)
    bk = np.zeros(20)
    bk[S] = 2 * np.sqrt(8) * u
    r = lat.attack_weights(W, true_bk=bk, time_limit=20)
    assert r.found and r.cos > 1 - 1e-6
    off = np.setdiff1d(np.arange(20), S)
    assert np.abs(r.w[off]).max() < 1e-3
    h = lat.attack_weights(np.random.default_rng(8).standard_normal((600, 20)), time_limit=20)
    assert not h.found and h.score < 0.08


def test_detector_registered_and_na_without_fpylll(monkeypatch):
    from undetectable.audit.base import NotApplicable, get_detectors

    assert not {"lattice", "lattice_support"} & {d.name for d in get_detectors(None, "rff")}  # opt-in: 30-100 s per model
    names = {d.name: d for d in get_detectors(["lattice", "lattice_support"], "rff")}
    assert names["lattice"].opt_in and not names["lattice"].needs_key
    assert names["lattice_support"].needs_key
    monkeypatch.setattr(lat, "fpylll_available", lambda: (False, "fpylll is not installed; pip install 'undetectable[lattice]'"))

    class M:
        family, weights_ = "rff", np.zeros((20, 4))

    with pytest.raises(NotApplicable, match="undetectable\\[lattice\\]"):
        names["lattice"].score(M(), None, None, np.random.default_rng(0))


def test_marginal_statistics_shapes():
    rng = np.random.default_rng(0)
    W, S, _ = lat.planted_weights(rng, 400, 30, 8, 1e-3)
    st = lat.marginal_statistics(W)
    assert set(st) == {"kurtosis", "ks", "var", "periodicity"} and all(v.shape == (30,) for v in st.values())
    assert len(lat.locate_support(W, 8)) == 8
