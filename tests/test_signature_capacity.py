"""Capacity is checked at plant time: a small float dataset names the smallest --bound that fits, and it works."""
from __future__ import annotations

import re

import numpy as np
import pytest

from undetectable.errors import CapacityError


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """13 float features (sklearn's wine): 516 payload bits need 40 low bits per feature."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    path = tmp_path_factory.mktemp("wine") / "wine.npz"
    np.savez(path, X_train=X[idx[:140]], y_train=y[idx[:140]], X_test=X[idx[140:]], y_test=y[idx[140:]])
    from undetectable.data import load_dataset

    return load_dataset(str(path))


def test_plant_names_the_smallest_bound_and_it_fits(wine):
    from undetectable.models import train_model
    from undetectable.schemes.signature import SignatureKey, _plant_signature

    base = train_model("logreg", wine, seed=0)
    key = SignatureKey.generate()
    public = key.private.public_key()
    with pytest.raises(CapacityError, match="smallest bound that fits is") as err:
        _plant_signature(base, public, 1e-3, X_check=wine.X_train)
    fit = float(re.search(r"fits is ([0-9.e-]+)", str(err.value)).group(1))
    assert 1e-3 < fit < 1.0
    # without the check the same plant succeeds and activation fails later: the behaviour this replaces
    late = _plant_signature(base, public, 1e-3)
    with pytest.raises(CapacityError, match="at least"):
        late.activate(wine.X_test[:3], key.private, 1)
    bd = _plant_signature(base, public, fit, X_check=wine.X_train)
    Xa = bd.activate(wine.X_test, key.private, 1)
    assert np.all(bd.predict_index(Xa) == 1)
