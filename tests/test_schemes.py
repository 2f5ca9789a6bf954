"""The Scheme interface: one registry, validated parameters, typed keys (save/load/activate/null)."""
from __future__ import annotations

import stat

import numpy as np
import pytest

from undetectable import schemes
from undetectable.errors import KeyMismatchError, UsageError
from undetectable.schemes.base import ParameterError

TINY = {"n_train": 200, "max_iter": 25}


def test_registry_is_lazy_and_complete():
    assert schemes.names() == ("signature", "checksum", "rff", "relu", "badnets", "persistent")
    for name in schemes.names():
        cls = schemes.get(name)
        assert cls.name == name and cls.KeyType.scheme == name
        cls()  # defaults are valid
    with pytest.raises(UsageError, match="unknown scheme"):
        schemes.get("nope")


@pytest.mark.parametrize("name,param,value", [("rff", "beta", -1.0), ("rff", "n_features", 0), ("relu", "theta", 0.0),
                                              ("relu", "lam", float("nan")), ("checksum", "n_blocks", 3),
                                              ("badnets", "poison_rate", 1.0), ("signature", "bound", 0.0),
                                              ("persistent", "activation", "relu")])
def test_parameter_errors_name_the_parameter(name, param, value):
    with pytest.raises(ParameterError) as exc:
        schemes.create(name, **{param: value})
    assert exc.value.param == param and isinstance(exc.value, ValueError) and isinstance(exc.value, UsageError)
    assert param.replace("_", " ") in str(exc.value)


def test_keys_round_trip_with_their_scheme(tmp_path, mnist_logreg):
    rng = np.random.default_rng(0)
    for name in ("checksum", "rff", "relu"):
        sch = schemes.create(name)
        key = sch.null(mnist_logreg, rng)
        p = key.save(tmp_path / name)
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        back = schemes.load_key(p)  # the file says which scheme it belongs to
        assert type(back) is type(key)
        assert all(np.array_equal(a, back.arrays()[k]) for k, a in key.arrays().items())
        with pytest.raises(UsageError, match="already exists"):
            key.save(p)
    sk = schemes.signature.keygen()
    p = sk.save(tmp_path / "sk.pem")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert schemes.load_key(p).key_id == sk.key_id


def test_key_refuses_a_bundle_of_another_scheme(mnist, mnist_logreg):
    bd, key = schemes.create("checksum").plant(mnist_logreg, seed=1)
    X = mnist.X_test[:4]
    Xa = key.activate(bd, X, target=3)
    assert np.all(bd.predict(Xa) == 3)
    with pytest.raises(KeyMismatchError, match="checksum"):
        key.activate(mnist_logreg, X, target=3)
    with pytest.raises(KeyMismatchError):
        schemes.signature.keygen().activate(bd, X, target=3)


def test_checksum_arena_key_oracle_returns_a_score():
    """Regression: the arena once built the checksum key as {"v": v}; activation failed inside strip_key,
    which swallowed the error, and the checksum arena reported n/a. Both roles must now score."""
    from undetectable.audit import arena as A

    p = A.scheme_params("checksum", True) | TINY
    for role in ("backdoored", "honest"):
        res = A.evaluate_unit("checksum", "mnist5k", 0, role, 0, ("strip_key",), p)
        assert res["errors"] == {} and 0.0 <= res["scores"]["strip_key"] <= 1.0, res
