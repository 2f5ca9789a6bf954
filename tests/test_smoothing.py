"""Randomized smoothing (Cohen et al. 2019) as immunization (Thm 2.4): statistics, radius, the signature backdoor."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, norm

from conftest import assert_clean_failure
from undetectable.bundle import Model, load_bundle, save_bundle
from undetectable.defend.smoothing import (ABSTAIN, Smooth, SmoothedModel, binomial_pvalue, immunize,
                                           lower_confidence_bound)
from undetectable.spec import InputSpec


class Threshold(Model):
    """f(x) = 1 if x_0 > 0 else 0: its distance to the boundary, x_0, is the exact L2 robustness radius."""

    family = "test-threshold"

    def predict_index(self, X):
        return (X[:, 0] > 0).astype(np.int64)


class Alternating(Model):
    """Answers 0, 1, 0, 1, ... regardless of the input: every vote is an exact tie."""

    family = "test-alternating"

    def predict_index(self, X):
        return (np.arange(len(X)) % 2).astype(np.int64)


FLOAT2 = InputSpec((2,), "float64")


@pytest.fixture(scope="module")
def signature_mlp(mnist_mlp, ed25519_key):
    from undetectable.schemes.signature import SignatureScheme

    return SignatureScheme(key=ed25519_key.public_key()).plant(mnist_mlp)[0]


def test_binomial_pvalue_matches_scipy():
    for n_a, n_b in [(10, 0), (9, 1), (30, 20), (5, 5), (1, 0), (60, 40), (3, 7), (100, 0)]:
        assert binomial_pvalue(n_a, n_b) == pytest.approx(binomtest(n_a, n_a + n_b, 0.5).pvalue, rel=1e-9)


def test_clopper_pearson_lower_bound_matches_scipy():
    for n_a, n, alpha in [(0, 10, 0.05), (7, 10, 0.05), (10, 10, 0.001), (950, 1000, 0.001), (500, 1000, 0.01)]:
        expected = binomtest(n_a, n, 0.5, alternative="greater").proportion_ci(1 - alpha, method="exact").low
        assert lower_confidence_bound(n_a, n, alpha) == pytest.approx(expected, abs=1e-12)


def test_certify_radius_formula_and_validity():
    """radius = σ·Φ⁻¹(p̲_A) on the estimation counts; never above the true distance to the boundary."""
    f = Threshold(FLOAT2, [0, 1])
    g = Smooth(f, sigma=0.5)
    t = np.array([0.05, 0.2, 0.5, 1.0, -0.7])
    X = np.column_stack([t, np.zeros_like(t)])
    cls, radius = g.certify(X, n0=50, n=2000, alpha=0.001, batch=1000, rng=np.random.default_rng(7))
    rng = np.random.default_rng(7)  # replay the same noise: selection, then estimation
    c_hat = g.sample_counts(X, 50, 1000, rng).argmax(axis=1)
    counts = g.sample_counts(X, 2000, 1000, rng)
    p_low = lower_confidence_bound(counts[np.arange(len(X)), c_hat], 2000, 0.001)
    expect = np.where(p_low >= 0.5, 0.5 * norm.ppf(p_low), 0.0)
    np.testing.assert_allclose(radius, expect, rtol=1e-12)
    assert np.all(cls[radius > 0] == (t[radius > 0] > 0))
    assert np.all(radius <= np.abs(t) + 1e-12)  # a linear f: the exact radius is |x_0|
    assert radius[3] > 0.8  # and the bound is not vacuous at n = 2000
    assert cls[0] == ABSTAIN or radius[0] < 0.05


def test_predict_matches_base_at_tiny_sigma(mnist, mnist_mlp):
    X = mnist.X_test[:300]
    base = mnist_mlp.predict_index(X)
    for sigma in (0.0, 1e-4):  # 1e-4 in [0,1] units never moves a pixel after re-quantization
        pred = Smooth(mnist_mlp, sigma).predict(X, n=20, alpha=0.001, rng=0)
        np.testing.assert_array_equal(pred, base)
    # control: large noise does change answers
    assert np.mean(Smooth(mnist_mlp, 0.5).predict(X, n=20, alpha=0.001, rng=0) != base) > 0.2


def test_abstains_on_ties_and_at_the_boundary():
    g = Smooth(Alternating(FLOAT2, [0, 1]), sigma=1.0)
    X = np.zeros((7, 2))
    assert np.all(g.predict(X, n=50, alpha=0.05, rng=0) == ABSTAIN)
    assert np.all(g.certify(X, n0=10, n=50, alpha=0.05, rng=0)[0] == ABSTAIN)
    f = Threshold(FLOAT2, [0, 1])
    on_boundary = Smooth(f, 0.3).predict(np.zeros((200, 2)), n=100, alpha=0.01, rng=1)
    far = Smooth(f, 0.3).predict(np.array([[2.0, 0.0]] * 50), n=100, alpha=0.01, rng=1)
    assert np.mean(on_boundary == ABSTAIN) > 0.9
    assert np.all(far == 1)


def test_smoothing_kills_the_signature_backdoor(mnist, mnist_mlp, signature_mlp, ed25519_key):
    """σ = 2/255 → ASR ≈ 0 with clean accuracy within a few points; σ = 0 (control) → ASR 100%."""
    X = mnist.X_test[:120]
    targets = (mnist_mlp.predict_index(X) + 1) % 10  # never h's own answer
    Xa = signature_mlp.activate(X, ed25519_key, targets)
    asr0 = np.mean(Smooth(signature_mlp, 0.0).predict(Xa, n=16, alpha=0.01, rng=0) == targets)
    g = Smooth(signature_mlp, 2 / 255)
    asr = np.mean(g.predict(Xa, n=16, alpha=0.01, rng=0) == targets)
    Xc, yc = mnist.X_test[:400], np.searchsorted(mnist_mlp.classes, mnist.y_test[:400])
    acc_base = np.mean(mnist_mlp.predict_index(Xc) == yc)
    acc = np.mean(Smooth(mnist_mlp, 2 / 255).predict(Xc, n=16, alpha=0.01, rng=0) == yc)
    assert asr0 == 1.0
    assert asr <= 0.01
    assert acc >= acc_base - 0.04


def test_smoothed_bundle_roundtrip_and_labels(tmp_path, mnist, signature_mlp):
    m = immunize(signature_mlp, 2 / 255, n=8, alpha=0.01, seed=3)
    save_bundle(m, tmp_path / "sm")
    m2 = load_bundle(tmp_path / "sm")
    assert isinstance(m2, SmoothedModel) and m2.base.family == "signature"
    X = mnist.X_test[:40]
    np.testing.assert_array_equal(m.predict(X), m2.predict(X))
    labels = m2.predict(X)
    assert set(np.unique(labels).tolist()) <= set(m2.classes.tolist()) | {-1}
    np.testing.assert_allclose(m2.scores(X).sum(axis=1), 1.0)


def test_immunize_cli(tmp_path, cli, mnist, signature_mlp, ed25519_key):
    save_bundle(signature_mlp, tmp_path / "sig")
    X = mnist.X_test[:30]
    Xa = signature_mlp.activate(X, ed25519_key, 7)
    np.save(tmp_path / "xa.npy", Xa)
    res = cli("immunize", tmp_path / "sig", "--sigma", 2 / 255, "--n", 8, "--alpha", 0.05, "--out", tmp_path / "imm")
    assert res.code == 0, res.err
    res = cli("predict", tmp_path / "imm", "--input", tmp_path / "xa.npy", "--out", tmp_path / "y.npy")
    assert res.code == 0, res.err
    y_imm = np.load(tmp_path / "y.npy")
    res = cli("predict", tmp_path / "sig", "--input", tmp_path / "xa.npy", "--out", tmp_path / "y0.npy")
    assert np.all(np.load(tmp_path / "y0.npy") == 7)  # control: the unsmoothed backdoor fires
    assert np.mean(y_imm == 7) < 0.2  # only inputs whose honest label is 7 (or noise) say 7
    for bad in (["--sigma", "-0.1"], ["--sigma", "nan"], ["--sigma", "0"], ["--sigma", "0.01", "--n", "0"],
                ["--sigma", "0.01", "--alpha", "1.5"], ["--sigma", "0.01", "--alpha", "0"]):
        out = tmp_path / "bad"
        assert_clean_failure(cli("immunize", tmp_path / "sig", *bad, "--out", out), out)
    out = tmp_path / "twice"
    assert_clean_failure(cli("immunize", tmp_path / "imm", "--sigma", "0.01", "--out", out), out, contains="already smoothed")
