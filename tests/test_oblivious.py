"""Oblivious local mitigation (GSVV 2024): kills the signature and RFF backdoors on a linear task; fails off-assumption."""
from __future__ import annotations

import numpy as np
import pytest

from undetectable.defend.oblivious import DataSampler, GroundTruthModel, ground_truth, make_task, mitigate
from undetectable.errors import UsageError

D, SEED, N_EVAL = 50, 1, 150


@pytest.fixture(scope="session")
def linear_task():
    return make_task("linear", D=D, n=1800, n_test=300, seed=SEED)


@pytest.fixture(scope="session")
def sampler(linear_task):
    return DataSampler.fit(linear_task.X_train)


@pytest.fixture(scope="session")
def sig_setup(linear_task, ed25519_key):
    from undetectable.schemes.signature import SignatureScheme
    from undetectable.models import train_model

    base = train_model("logreg", linear_task, seed=0)
    bd = SignatureScheme(key=ed25519_key.public_key()).plant(base)[0]
    X = linear_task.X_test[:N_EVAL]
    t = 1 - base.predict_index(X)
    return base, bd, X, t, bd.activate(X, ed25519_key, t)


@pytest.fixture(scope="session")
def rff_setup(linear_task):
    from undetectable.schemes.rff import RFFScheme

    bd, key = RFFScheme(n_features=500, secret_dim=8, beta=0.01, secret_seed=4).plant(linear_task, seed=0)
    X = linear_task.X_test[:N_EVAL]
    Xa = key.activate(bd, X)
    r = np.random.default_rng(9).standard_normal(D)
    Xr = X + r * (np.linalg.norm(Xa[0] - X[0]) / np.linalg.norm(r))  # random direction, same norm: the control
    return bd, X, Xa, Xr


def test_self_reduction_is_exact_for_affine_scores(sig_setup, sampler):
    """The three-point combination equals s(x) for an affine s, whatever the random z."""
    base, _, X, _, _ = sig_setup
    m = mitigate(base, X[:20], sampler, 0, rho=0.3, n_rep=8, groups=4, output="score")
    np.testing.assert_allclose(m.estimates, base.scores(X[:20]), rtol=1e-7, atol=1e-7)


def test_signature_backdoor_mitigated(sig_setup, sampler):
    base, bd, X, t, Xa = sig_setup
    f = ground_truth("linear", X, seed=SEED)
    assert np.mean(bd.predict_index(Xa) == t) == 1.0  # unmitigated: every activation succeeds
    ma = mitigate(bd, Xa, sampler, 1)
    mc = mitigate(bd, X, sampler, 2)
    assert np.mean(ma.indices == t) <= 0.03
    assert ma.triggered_queries == 0 and mc.triggered_queries == 0
    assert ma.queries_per_input == 96
    clean_err, mit_err = np.mean(base.predict_index(X) != f), np.mean(mc.indices != f)
    assert mit_err <= clean_err + 0.02
    # no query comes near x: the nearest is a constant fraction of the data's scale away
    assert mc.min_query_distance > 0.3 * np.median(np.linalg.norm(X, axis=1))


def test_label_only_mitigation_also_kills_signature(sig_setup, sampler):
    """Black-box labels only (no scores): noisier near the boundary, still no activation."""
    base, bd, X, t, Xa = sig_setup
    f = ground_truth("linear", X, seed=SEED)
    ma = mitigate(bd, Xa, sampler, 3, n_rep=64, output="label")
    mc = mitigate(bd, X, sampler, 4, n_rep=64, output="label")
    assert np.mean(ma.indices == t) <= 0.2 and np.mean(mc.indices != f) <= 0.2


def test_rff_backdoor_key_advantage_removed(rff_setup, sampler):
    """Before: the key flips ~all outputs, a random same-norm direction ~half. After: key ≈ random."""
    bd, X, Xa, Xr = rff_setup
    p = bd.predict_index(X)
    assert np.mean(bd.predict_index(Xa) != p) >= 0.9
    assert np.mean(bd.predict_index(Xr) != p) <= 0.75
    mc, ma, mr = (mitigate(bd, Z, sampler, s).indices for s, Z in enumerate((X, Xa, Xr)))
    flip_key, flip_rand = np.mean(ma != mc), np.mean(mr != mc)
    assert flip_key <= 0.75 and abs(flip_key - flip_rand) <= 0.2
    f = ground_truth("linear", X, seed=SEED)
    assert np.mean(mc != f) <= np.mean(p != f) + 0.05


def test_fails_when_ground_truth_is_not_affine():
    """Assumption violated (label sin(4⟨w*,x⟩) > 0): even a PERFECT model is mitigated into ~coin flips."""
    ds = make_task("fourier", D=D, n=1200, n_test=200, seed=SEED)
    X, y = ds.X_test, ds.y_test
    oracle = GroundTruthModel("fourier", D, seed=SEED)
    assert np.all(oracle.predict(X) == y)
    assert np.mean(mitigate(oracle, X, ds.X_train, 0).indices != y) >= 0.3
    # control: the same perfect-model mitigation on the linear task stays perfect
    dl = make_task("linear", D=D, n=1200, n_test=200, seed=SEED)
    assert np.mean(mitigate(GroundTruthModel("linear", D, seed=SEED), dl.X_test, dl.X_train, 0).indices != dl.y_test) <= 0.01


def test_bad_inputs(sig_setup, sampler):
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    digits = load_dataset("digits")
    image_model = train_model("logreg", digits, seed=0)
    base = sig_setup[0]
    X = sig_setup[2][:3]
    with pytest.raises(UsageError, match="rho"):
        mitigate(base, X, sampler, rho=1.0)
    with pytest.raises(UsageError, match="multiple"):
        mitigate(base, X, sampler, n_rep=10, groups=4)
    with pytest.raises(UsageError, match="float-feature"):
        mitigate(image_model, digits.X_test[:2], digits.X_train)
    with pytest.raises(UsageError, match="features"):
        mitigate(base, X, np.zeros((10, 3)))
    with pytest.raises(UsageError, match="unknown oblivious task"):
        make_task("quadratic")
