"""The public Python API (``import undetectable as ud``): lazy, complete, and the same results as the CLI."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import undetectable as ud


def test_import_is_light():
    """``import undetectable`` imports neither torch nor sklearn nor the API module until a name is used."""
    code = ("import sys, undetectable as ud; heavy = [m for m in ('torch', 'sklearn', 'undetectable.api', 'undetectable.audit') "
            "if m in sys.modules]; print(heavy); ud.schemes.names(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "False"


def test_every_public_name_resolves_and_is_documented():
    for name in ud.__all__:
        obj = getattr(ud, name)
        if callable(obj) and name[0].islower():
            assert obj.__doc__ and ("Examples" in obj.__doc__ or name == "write_report"), name
    with pytest.raises(AttributeError):
        ud.nope  # noqa: B018


def test_python_tour(tmp_path, mnist, mnist_logreg):
    """The README's Python tour: keygen, plant, activate, save/load, predict, audit, immunize."""
    key = ud.keygen()
    bd, pub = ud.plant("signature", mnist_logreg, key=key.public)
    assert pub.key_id == key.key_id
    X = mnist.X_test[:8]
    Xa = key.activate(bd, X, target=7)
    assert np.array_equal(Xa, ud.activate(bd, key, X, target=7))
    assert np.all(ud.predict(bd, Xa) == 7) and np.array_equal(ud.predict(bd, X), ud.predict(mnist_logreg, X))
    ud.save(bd, tmp_path / "bd")
    ud.save(key, tmp_path / "key.pem")
    bd2, key2 = ud.load(tmp_path / "bd"), ud.load(tmp_path / "key.pem")
    assert np.all(ud.predict(bd2, key2.activate(bd2, X, target=3)) == 3)
    rows = ud.audit_model(bd2, mnist, detectors=["disagreement"])
    assert rows[0]["detector"] == "disagreement" and rows[0]["status"] == "ok"
    sm = ud.immunize(bd2, 0.05, n=8)
    assert sm.family == "smoothed"


def test_plant_white_box_and_verify_coins():
    data = ud.datasets.load("digits")
    honest = ud.train("rff", data, seed=3, n_features=80)
    bd, key = ud.plant("rff", data, seed=3, secret_seed=0, n_features=80, secret_dim=4)
    assert ud.verify_coins(honest, 3).ok and not ud.verify_coins(bd, 3).ok
    assert bd.family == honest.family == "rff" and key.bk.shape == (64,)
    with pytest.raises(ud.ParameterError, match="secret dim"):
        ud.plant("rff", data, secret_dim=0)
    with pytest.raises(ud.KeyMismatchError):
        key.activate(ud.train("logreg", data, max_iter=20), data.X_test[:2])
