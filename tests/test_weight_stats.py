"""White-box weight detectors and key oracles on synthetic weight matrices with known answers.

Honest weights: N(0, I_D). Controls that CAN fail: a spiked covariance above the BBP edge must be
detected; the key oracles must separate the populations. Hardness side: Gaussian pancakes
(a local sampler, independent of the RFF engineer's) and a spike below the BBP edge and near the
statistical threshold must leave every key-free detector near chance.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from undetectable.audit import key_oracles as ko
from undetectable.schemes.relu import ReLUScheme
from undetectable.schemes.rff import RFFScheme
from undetectable.audit import weight_stats as ws
from undetectable.audit.arena import roc_auc
from undetectable.audit.base import get_detectors

M, D, K = 600, 120, 10  # weights per model, input dimension, spike sparsity; BBP edge √(D/M) ≈ 0.447
N_POP = 16  # models per population


def spiked(rng, theta: float, k: int = K, m: int = M, d: int = D):
    """g_i ~ N(0, I + θ s sᵀ), s k-sparse unit: G = Z + (√(1+θ) − 1)(Z s) sᵀ."""
    s = np.zeros(d)
    s[rng.choice(d, k, replace=False)] = rng.standard_normal(k)
    s /= np.linalg.norm(s)
    Z = rng.standard_normal((m, d))
    return Z + (np.sqrt(1 + theta) - 1) * np.outer(Z @ s, s), s


def pancakes(rng, dsec: int = 8, beta: float = 0.01, m: int = M, d: int = D):
    """Rows N(0, I) except an S-block conditioned on γ⟨y,u⟩ + e ∈ Z + ½ (exact layer sampler); returns (W, bk)."""
    gamma = 2 * np.sqrt(dsec)
    u = rng.standard_normal(dsec)
    u /= np.linalg.norm(u)
    S = rng.choice(d, dsec, replace=False)
    V = beta**2 + gamma**2
    a = np.arange(-40, 40) + 0.5
    w = np.exp(-(a**2) / (2 * V))
    layers = a[rng.choice(len(a), size=m, p=w / w.sum())]
    t = gamma * layers / V + (beta / np.sqrt(V)) * rng.standard_normal(m)
    z = rng.standard_normal((m, dsec))
    y = t[:, None] * u + z - (z @ u)[:, None] * u
    W = rng.standard_normal((m, d))
    W[:, S] = y
    bk = np.zeros(d)
    bk[S] = gamma * u
    return W, bk


KEYFREE = list(ws.STATS)


def _scores(mats, rng):
    return {name: [ws.STATS[name](W, rng) for W in mats] for name in KEYFREE}


@pytest.fixture(scope="module")
def pops():
    rng = np.random.default_rng(2024)
    honest = [rng.standard_normal((M, D)) for _ in range(N_POP)]
    above = [spiked(rng, 3.0)[0] for _ in range(N_POP)]
    below = [spiked(rng, 0.15)[0] for _ in range(N_POP)]
    cakes = [pancakes(rng) for _ in range(N_POP)]
    srng = np.random.default_rng(7)
    return {"honest": _scores(honest, srng), "above": _scores(above, srng), "below": _scores(below, srng),
            "pancakes": _scores([W for W, _ in cakes], srng), "honest_W": honest, "cakes": cakes}


def test_vectorized_ks_ad_match_scipy():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((200, 6)) * np.array([1, 1, 1.3, 1, 0.8, 1]) + np.array([0, 0.2, 0, 0, 0, 0])
    ks = ws.ks_columns(W)
    assert np.allclose(ks, [stats.kstest(W[:, j], "norm").statistic for j in range(6)], atol=1e-12)
    ad = ws.ad_columns(W)
    ref = [stats.goodness_of_fit(stats.norm, W[:, j], known_params={"loc": 0, "scale": 1}, statistic="ad",
                                 n_mc_samples=2, rng=1).statistic for j in range(6)]
    assert np.allclose(ad, ref, rtol=1e-8)


def test_spike_above_bbp_is_detected(pops):
    """θ = 3 ≫ √(D/m): the MP edge and both sparse-PCA tests must separate perfectly (the control that can fail)."""
    for name in ("mp_edge", "spca_diag", "spca_covthresh"):
        auc = roc_auc(pops["honest"][name], pops["above"][name])
        assert auc >= 0.97, (name, auc)


def test_spike_below_thresholds_is_not_detected(pops):
    """θ = 0.15: below the BBP edge 0.447 and the statistical threshold √(k log(D/k)/m) ≈ 0.20."""
    for name in KEYFREE:
        auc = roc_auc(pops["honest"][name], pops["below"][name])
        assert 0.2 <= auc <= 0.8, (name, auc)


def test_pancakes_pass_every_keyfree_test(pops):
    """Gaussian pancakes (d = 8, β = 0.01): marginals and spectrum are Gaussian; no key-free test sees them."""
    for name in KEYFREE:
        auc = roc_auc(pops["honest"][name], pops["pancakes"][name])
        assert 0.2 <= auc <= 0.8, (name, auc)


def test_key_oracles_separate_with_the_key(pops):
    rng = np.random.default_rng(5)
    hon = [ko.frac_score(W, RFFScheme(secret_dim=8).null_for(D, rng).bk) for W in pops["honest_W"]]
    bd = [ko.frac_score(W, bk) for W, bk in pops["cakes"]]
    assert roc_auc(hon, bd) == 1.0
    assert abs(np.mean(hon)) < 0.02 and np.mean(bd) > 0.2  # uniform fractional parts vs concentrated at ½
    # a wrong key on a backdoored model looks honest: the oracle needs *the* key
    wrong = [ko.frac_score(W, RFFScheme(secret_dim=8).null_for(D, rng).bk) for W, _ in pops["cakes"]]
    assert roc_auc(hon, wrong) < 0.85
    # ReLU: sᵀĈs − 1 ≈ θ with the key even where key-free tests fail (θ = 0.3, below BBP)
    hq, bq = [], []
    for _ in range(10):
        W, s = spiked(rng, 0.3)
        bq.append(ko.quad_score(W, s))
        hq.append(ko.quad_score(rng.standard_normal((M, D)), ReLUScheme(sparsity=K).null_for(D, rng).s))
    assert roc_auc(hq, bq) == 1.0


def test_registry_flags_and_model_errors():
    dets = {d.name: d for d in get_detectors(None)}
    for name in KEYFREE:
        assert not dets[name].needs_key and set(dets[name].schemes) == {"rff", "relu"}
    assert dets["rff_frac"].needs_key and dets["rff_frac"].schemes == ("rff",)
    assert dets["relu_quad"].needs_key and dets["relu_quad"].schemes == ("relu",)

    class NoWeights:
        family = "torch-mlp"

    from undetectable.errors import UsageError

    with pytest.raises(UsageError, match="weights_"):
        dets["mp_edge"].score(NoWeights(), None, None, np.random.default_rng(0))
