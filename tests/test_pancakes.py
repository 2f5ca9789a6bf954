"""Gaussian pancakes (crypto/pancakes.py): the exact sampler against its analytic law, N(0, I), and the rejection sampler."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from undetectable.crypto.pancakes import (
    layer_cdf,
    make_secret,
    sample_pancakes,
    sample_pancakes_rejection,
    sample_weights,
)
from undetectable.errors import UsageError


def test_backdoored_weights_look_standard_normal(rng):
    """Mean ≈ 0 and covariance ≈ I within Monte-Carlo error, on and off the secret support."""
    m, D, d = 40_000, 48, 16
    secret = make_secret(rng, D, d, beta=0.01)
    G = sample_weights(rng, m, secret)
    se = 1 / math.sqrt(m)
    assert np.abs(G.mean(axis=0)).max() < 5 * se
    cov = np.cov(G, rowvar=False)
    # entries of the sample covariance of N(0, I) have sd ≈ 1/√m (off-diagonal) and √2/√m (diagonal)
    assert np.abs(cov - np.eye(D)).max() < 6 * math.sqrt(2) * se
    # the direction of the key itself: variance 1 as for any direction
    bk = secret.bk()
    assert abs(np.var(G @ bk / secret.gamma) - 1) < 6 * math.sqrt(2) * se


def test_density_along_u_is_the_analytic_mixture(rng):
    """KS against the mixture CDF accepts; KS against N(0,1) (the control) rejects the comb."""
    d, beta, n = 16, 0.01, 20_000
    gamma = 2 * math.sqrt(d)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    Y = sample_pancakes(rng, n, u, gamma, beta)
    t = Y @ u
    assert stats.kstest(t, lambda s: layer_cdf(s, gamma, beta)).pvalue > 1e-3
    assert stats.kstest(t, "norm").pvalue < 1e-6  # the layers are visible along u ...
    # ... and invisible orthogonally to u: a direction orthogonal to u is N(0,1)
    v = rng.standard_normal(d)
    v -= (v @ u) * u
    v /= np.linalg.norm(v)
    assert stats.kstest(Y @ v, "norm").pvalue > 1e-3


@pytest.mark.parametrize("shift,center", [("half", 0.5), ("integer", 0.0)])
def test_key_inner_products_sit_on_the_layers(rng, shift, center):
    """frac(⟨g, bk⟩) concentrates at ½ (half shift) or 0 (integer) with spread ≈ β; honest weights: uniform."""
    D, d, beta, m = 784, 32, 0.01, 5000
    secret = make_secret(rng, D, d, beta=beta, shift=shift)
    v = sample_weights(rng, m, secret) @ secret.bk() - center
    resid = v - np.round(v)
    assert abs(resid.mean()) < 5 * beta / math.sqrt(m)
    assert 0.9 * beta < resid.std() < 1.1 * beta
    honest = rng.standard_normal((m, D)) @ secret.bk()
    assert stats.kstest(honest % 1.0, "uniform").pvalue > 1e-3
    assert np.mean(np.abs(honest % 1.0 - 0.5) < 3 * beta) < 0.1  # control: honest mass near ½ ≈ 6β


def test_exact_and_rejection_samplers_agree(rng):
    """Same law along u (two-sample KS on t and on the layer phase frac(γt)); control: integer-shift pancakes differ."""
    d, beta, n = 8, 0.05, 3000
    gamma = 2 * math.sqrt(d)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    exact = sample_pancakes(rng, n, u, gamma, beta) @ u
    rej = sample_pancakes_rejection(rng, n, u, gamma, beta) @ u
    assert stats.ks_2samp(exact, rej).pvalue > 1e-3
    assert stats.ks_2samp((gamma * exact) % 1.0, (gamma * rej) % 1.0).pvalue > 1e-3
    control = sample_pancakes(rng, n, u, gamma, beta, shift="integer") @ u
    assert stats.ks_2samp((gamma * control) % 1.0, (gamma * rej) % 1.0).pvalue < 1e-6


def test_bad_parameters_are_refused(rng):
    with pytest.raises(UsageError, match="exceeds the input dimension"):
        make_secret(rng, 10, 11, beta=0.01)
    with pytest.raises(UsageError, match="beta"):
        make_secret(rng, 10, 4, beta=0.0)
    with pytest.raises(UsageError, match="beta"):
        make_secret(rng, 10, 4, beta=float("nan"))
    with pytest.raises(UsageError, match="shift"):
        make_secret(rng, 10, 4, beta=0.01, shift="quarter")
