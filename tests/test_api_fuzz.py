"""Misuse of the public API gives the package's own errors, never a raw AttributeError/TypeError/KeyError.

1. The misuse a notebook user makes on day one (issue 18 and issue 19's twelve calls), one by one.
2. A hypothesis fuzz: every function of ``undetectable.__all__``'s API, each argument in turn replaced by a
   value of a wrong type or out of range (the others valid and cheap); the only exceptions accepted are
   ``UndetectableError`` subclasses. Bounded examples, no deadline per example, < 30 s in all.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import undetectable as ud
from undetectable.errors import ArgumentTypeError, ParameterError, UndetectableError


@pytest.fixture(scope="module")
def world(mnist_logreg, tmp_path_factory):
    digits = ud.datasets.load("digits")
    bd, key = ud.plant("checksum", mnist_logreg, secret_seed=1)
    rff = ud.train("rff", digits, seed=0, n_features=32)
    return {"digits": digits, "mnist": ud.datasets.load("mnist5k"), "honest": mnist_logreg, "bd": bd, "key": key, "rff": rff,
            "tmp": tmp_path_factory.mktemp("fuzz")}


# --- 1. the day-one misuse -------------------------------------------------------------------------------

def test_day_one_misuse_gives_package_errors(world):
    honest, bd, key, digits, mnist = world["honest"], world["bd"], world["key"], world["digits"], world["mnist"]
    X = mnist.X_test[:3]
    cases = [
        (lambda: ud.plant("rff", honest), ArgumentTypeError, "trains from data"),
        (lambda: ud.plant("signature", "mnist5k"), ArgumentTypeError, "trained Model"),
        (lambda: ud.train("logreg", digits, epochs=3), ParameterError, "no option 'epochs'"),
        (lambda: ud.train("logreg", digits, max_iter="x"), ParameterError, "option 'max_iter' must be an integer"),
        (lambda: ud.train("logreg", digits, C=float("nan")), ParameterError, "option 'C' must be a finite positive"),
        (lambda: ud.train("mlp", digits, epochs=10**9), ParameterError, "option 'epochs' must be an integer"),
        (lambda: ud.train("rff", digits, head=3), ParameterError, "option 'head' must be a string"),
        (lambda: ud.activate(key, bd, X, 1), ArgumentTypeError, "model goes first"),
        (lambda: ud.predict("x"), ArgumentTypeError, "load it first"),
        (lambda: ud.predict(bd), ArgumentTypeError, "predict(model, X)"),
        (lambda: ud.activate(bd, ud.keygen().public, X, 1), ArgumentTypeError, "public key cannot activate"),
        (lambda: ud.immunize(key), ArgumentTypeError, "a key"),
        (lambda: ud.immunize(bd), ParameterError, "noise level"),
        (lambda: ud.save("x"), ArgumentTypeError, "Model or a Key"),
        (lambda: ud.save(bd), ArgumentTypeError, "path"),
        (lambda: ud.train("rff", digits, n_features=1e9), ParameterError, "option 'n_features' must be an integer"),
        (lambda: ud.train("rff", digits, n_features=10**9), ParameterError, "n features"),
        (lambda: ud.plant("rff", digits, n_features=10**9), ParameterError, "n features"),
        (lambda: ud.plant("signature", honest, key="not a key"), ParameterError, "public key"),
        (lambda: ud.plant("rff", digits, sed=1), ParameterError, "no parameter 'sed'"),
        (lambda: ud.plant(3, digits), ArgumentTypeError, "scheme name"),
        (lambda: ud.audit_model(key, digits), ArgumentTypeError, "a key"),
        (lambda: ud.load(3), ArgumentTypeError, "path"),
    ]
    for fn, err, words in cases:
        with pytest.raises(err) as exc:
            fn()
        assert words in str(exc.value), (words, str(exc.value))
        assert "--" not in str(exc.value)


def test_the_misuse_check_can_fail():
    """Control: a raw TypeError is not an UndetectableError (the fuzz below would report it)."""
    with pytest.raises(TypeError) as exc:
        ud.plant("rff")  # missing a required argument: Python's own error, not ours
    assert not isinstance(exc.value, UndetectableError)


# --- 2. the fuzz ----------------------------------------------------------------------------------------

WRONG = st.one_of(
    st.text(max_size=6), st.binary(max_size=6), st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(object()), st.integers(max_value=-2), st.integers(min_value=10**9, max_value=10**30), st.complex_numbers(max_magnitude=5),
)


def _calls(w):
    """name → (function, valid keyword arguments, the arguments to fuzz). Valid calls are cheap."""
    X = w["mnist"].X_test[:2]
    return {
        "train": (ud.train, dict(kind="logreg", data=w["digits"], seed=0, max_iter=5), ["kind", "data", "seed"]),
        "keygen": (ud.keygen, dict(rng=None), ["rng"]),
        "plant": (ud.plant, dict(scheme="checksum", base=w["honest"], key=None, seed=None, secret_seed=3),
                  ["scheme", "base", "key", "seed", "secret_seed"]),
        "activate": (ud.activate, dict(model=w["bd"], key=w["key"], X=X, target=1), ["model", "key", "X", "target"]),
        "predict": (ud.predict, dict(model=w["bd"], X=X), ["model", "X"]),
        "save": (ud.save, dict(obj=w["key"], path=None, force=False), ["obj", "path", "force"]),
        "load": (ud.load, dict(path=None), ["path"]),
        "audit_model": (ud.audit_model, dict(model=w["honest"], data=w["mnist"], detectors=["disagreement"], key=None, seed=0),
                        ["model", "data", "detectors", "key", "seed"]),
        "arena": (ud.arena, dict(scheme="rff", data="digits", n_models=1, detectors=["rff_frac"], quick=True, seed=0, n_jobs=1,
                                 params={"n_features": 16, "secret_dim": 2}), ["scheme", "data", "detectors", "quick", "n_jobs", "params"]),
        # (n_models=1 is refused, so the valid call never trains: an argument is checked before it or not at all)
        "immunize": (ud.immunize, dict(model=w["honest"], sigma=0.1, n=4, alpha=0.01, seed=0), ["model", "sigma", "n", "alpha", "seed"]),
        "verify_coins": (ud.verify_coins, dict(model=w["rff"], seed=0), ["model", "seed"]),
        "write_report": (ud.write_report, dict(directory=None, force=False), ["directory", "force"]),
        "load_model": (ud.load_model, dict(path=None), ["path"]),
        "inspect_model": (ud.inspect_model, dict(model=w["honest"]), ["model"]),
        "arena_files": (ud.arena_files, dict(honest=w["tmp"], suspect=w["tmp"], data=None, detectors=["integer-subgraph"], seed=0),
                        ["honest", "suspect", "data", "detectors", "seed"]),
    }


FUZZED = ["train", "keygen", "plant", "activate", "predict", "save", "load", "audit_model", "arena", "immunize", "verify_coins",
          "write_report", "load_model", "inspect_model", "arena_files"]


def test_every_api_function_is_fuzzed():
    from undetectable import api

    assert sorted(FUZZED) == sorted(api.__all__)


@pytest.mark.parametrize("name", FUZZED)
def test_fuzz_wrong_arguments_give_package_errors(name, world):
    fn, valid, fuzz = _calls(world)[name]
    here = os.getcwd()
    os.chdir(world["tmp"])  # a fuzzed path that happens to be valid writes here, nowhere else
    try:
        @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(arg=st.sampled_from(fuzz), value=WRONG)
        def run(arg, value):
            kwargs = dict(valid, **{arg: value})
            if name == "save" and arg != "path":
                kwargs["path"] = world["tmp"] / "k"
            try:
                fn(**kwargs)
            except UndetectableError as exc:
                assert "--" not in str(exc), str(exc)
        run()
    finally:
        os.chdir(here)
