"""Payload carriers (bits in pixels / fixed point), datasets, bundle save/load, keys."""
from __future__ import annotations

import numpy as np
import pytest

from undetectable.crypto.payload import FixedPointCarrier, LSBCarrier, carrier_for, carrier_from_json
from undetectable.data import load_dataset
from undetectable.errors import UsageError
from undetectable.spec import InputSpec


def test_lsb_carrier_roundtrip_and_residual(rng):
    spec = InputSpec((784,), "uint8", 0, 255)
    c = carrier_for(spec, 516)
    assert c.n_bits == 516 and len(np.unique(c.positions)) == 516
    X = rng.integers(0, 256, (20, 784), dtype=np.uint8)
    bits = rng.integers(0, 2, (20, 516), dtype=np.uint8)
    Xa = c.write_bits(X, bits)
    assert np.array_equal(c.read_bits(Xa), bits)
    assert np.array_equal(c.residual(Xa), c.residual(X))  # the residual ignores exactly the payload bits
    assert np.abs(Xa.astype(int) - X).max() <= 1
    other = np.setdiff1d(np.arange(784), c.positions)
    assert np.array_equal(Xa[:, other], X[:, other])
    c2 = carrier_from_json(c.to_json())
    assert np.array_equal(c2.positions, c.positions)


def test_lsb_carrier_keeps_range_when_top_is_even(rng):
    spec = InputSpec((600,), "uint8", 0, 16)
    c = LSBCarrier.for_spec(spec, 516)
    X = np.full((3, 600), 16, dtype=np.uint8)
    Xa = c.write_bits(X, np.ones((3, 516), dtype=np.uint8))
    assert Xa.max() <= 16 and np.array_equal(c.read_bits(Xa), np.ones((3, 516)))


def test_fixed_point_carrier_roundtrip_bound_and_grid(rng):
    std = rng.uniform(0.1, 100, 30)
    spec = InputSpec((30,), "float64", feature_std=tuple(std))
    c = FixedPointCarrier.for_spec(spec, 513, bound=1e-3)
    assert c.k == 18
    X = rng.normal(0, 1, (50, 30)) * std * 3 + 5 * std
    bits = rng.integers(0, 2, (50, 513), dtype=np.uint8)
    Xa = c.write_bits(X, bits)
    assert np.array_equal(c.read_bits(Xa), bits)
    assert np.all(c.on_grid(Xa)) and not np.any(c.on_grid(X))
    assert (np.abs(Xa - X) / std).max() <= 1e-3
    assert np.array_equal(c.residual(Xa), c.residual(c.write_bits(X, np.zeros_like(bits))))
    neg = c.write_bits(-X, bits)
    assert np.array_equal(c.read_bits(neg), bits)


def test_datasets_are_bundled_and_fixed():
    mn = load_dataset("mnist5k")
    assert mn.X_train.shape == (4000, 784) and mn.X_test.shape == (1000, 784) and mn.X_train.dtype == np.uint8
    assert np.all(np.bincount(mn.y_test) == 100)
    bc = load_dataset("breast-cancer")
    assert bc.X_train.shape[1] == 30 and bc.spec.feature_std is not None
    dg = load_dataset("digits")
    assert dg.spec.high == 16 and dg.X_train.max() <= 16
    syn = load_dataset("synthetic")
    assert syn.X_train.shape[1] == 784 and set(np.unique(syn.y_train)) == {0, 1}
    assert 0.4 < syn.y_train.mean() < 0.6


def test_synthetic_is_learnable_but_not_linear():
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    syn = load_dataset("synthetic")
    Xtr, ytr = syn.X_train[:2000], syn.y_train[:2000]
    rbf = SVC(kernel="rbf", gamma="scale").fit(Xtr, ytr).score(syn.X_test, syn.y_test)
    lin = LogisticRegression(max_iter=500).fit(Xtr, ytr).score(syn.X_test, syn.y_test)
    assert rbf > 0.85 and rbf > lin + 0.1, (rbf, lin)


def test_npz_dataset_and_errors(tmp_path, rng):
    X = rng.normal(size=(40, 5))
    np.savez(tmp_path / "ok.npz", X_train=X[:30], y_train=(X[:30, 0] > 0).astype(int), X_test=X[30:], y_test=(X[30:, 0] > 0).astype(int))
    ds = load_dataset(str(tmp_path / "ok.npz"))
    assert ds.X_train.shape == (30, 5)
    np.savez(tmp_path / "missing.npz", X_train=X)
    with pytest.raises(UsageError, match="lacks"):
        load_dataset(str(tmp_path / "missing.npz"))
    Xn = X.copy()
    Xn[0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", X_train=Xn[:30], y_train=np.zeros(30), X_test=X[30:], y_test=np.zeros(10))
    with pytest.raises(UsageError, match="NaN"):
        load_dataset(str(tmp_path / "nan.npz"))
    with pytest.raises(UsageError, match="unknown dataset"):
        load_dataset("imagenet")


def test_spec_validation_messages():
    spec = InputSpec((4,), "float64")
    with pytest.raises(UsageError, match="NaN"):
        spec.validate(np.array([[1.0, np.nan, 0, 0]]))
    with pytest.raises(UsageError, match="shape"):
        spec.validate(np.zeros((2, 3)))
    assert spec.validate(np.zeros(4)).shape == (1, 4)


def test_mlp_bundle_roundtrip_is_exact(mnist_mlp, mnist, tmp_path):
    from undetectable.bundle import load_bundle, save_bundle

    save_bundle(mnist_mlp, tmp_path / "m")
    m2 = load_bundle(tmp_path / "m")
    assert np.array_equal(m2.scores(mnist.X_test[:100]), mnist_mlp.scores(mnist.X_test[:100]))
    assert np.mean(mnist_mlp.predict(mnist.X_test) == mnist.y_test) > 0.85


def test_skops_untrusted_types_are_refused(tmp_path, mnist_logreg):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    from undetectable.bundle import BundleError, load_bundle, save_bundle
    from undetectable.models.sklearn_model import SklearnModel

    rf = RandomForestClassifier(n_estimators=2, random_state=0).fit(np.eye(4), [0, 1, 0, 1])
    save_bundle(SklearnModel(rf, InputSpec((4,), "float64"), np.array([0, 1])), tmp_path / "rf")
    with pytest.raises(BundleError, match="untrusted"):
        load_bundle(tmp_path / "rf")
    assert sio  # the refusal came from the allow-list, not from skops being absent
