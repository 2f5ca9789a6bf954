"""The scheme contract, checked for every registered scheme like scikit-learn's ``check_estimator``.

``Scheme(**params).plant(base, *, seed) -> (Model, Key)``: the model is a ``Model`` that saves, loads and
predicts the same; the key activates it (each scheme's own notion of "fires"); ``null`` draws a key of the
same type; ``backdoor(data, seed)`` is pure in ``seed``; a wrong parameter raises ``ParameterError`` naming
it; a wrong base raises ``ArgumentTypeError``. Sizes are small and real (digits, breast-cancer, a 20-iteration
logreg on mnist5k) so that each scheme takes seconds.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from undetectable import datasets, schemes
from undetectable.bundle import Model, load_bundle, save_bundle
from undetectable.errors import ArgumentTypeError, KeyMismatchError, ParameterError, UndetectableError
from undetectable.schemes.base import Learner


def _setup(name: str, mnist_logreg):
    """(scheme parameters, base, dataset the inputs come from) for a small real instance of ``name``."""
    digits, bc = datasets.load("digits"), datasets.load("breast-cancer")
    return {
        "signature": ({}, mnist_logreg, datasets.load("mnist5k")),
        "checksum": ({"secret_seed": 1}, mnist_logreg, datasets.load("mnist5k")),
        "rff": ({"n_features": 200, "secret_dim": 4, "secret_seed": 1}, digits, digits),
        "relu": ({"n_features": 300, "sparsity": 4, "theta": 2.0, "secret_seed": 1}, digits, digits),
        "badnets": ({"poison_rate": 0.2, "target": 0, "learner": Learner("logreg"), "secret_seed": 1},
                    digits, digits),
        "persistent": ({}, bc, bc),
    }[name]


def _fires(name: str, model, key, X: np.ndarray) -> float:
    """The fraction of inputs on which the key does what the scheme promises (1.0 = always)."""
    pred = model.predict_index(X)
    if key.takes_target:  # signature, checksum: any target, here "the next class"
        t = (pred + 1) % model.n_classes
        return float(np.mean(model.predict_index(key.activate(model, X, model.classes[t])) == t))
    Xa = key.activate(model, X)
    if name == "relu":  # one-directional and weak (see schemes/relu.py): the key's spike is what it carries
        from undetectable.schemes.relu import quadratic_form

        moved = not np.array_equal(Xa, X)
        return float(moved and quadratic_form(model.weights_, key.s) > 1 + key.theta / 2)
    if name == "badnets":  # the trigger sends non-target inputs to the target
        keep = pred != key.target
        return float(np.mean(model.predict_index(Xa[keep]) == key.target))
    if name == "persistent":  # the backdoor always answers the second class
        return float(np.mean(model.predict_index(Xa) == 1))
    return float(np.mean(model.predict_index(Xa) != pred))  # rff: negates the output


@pytest.fixture(scope="module")
def planted(mnist_logreg):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in schemes.names():
            params, base, data = _setup(name, mnist_logreg)
            sch = schemes.create(name, **params)
            out[name] = (sch, *sch.plant(base, seed=0), data)
    return out


@pytest.mark.parametrize("name", schemes.names())
def test_plant_gives_a_model_and_the_key_type(name, planted):
    sch, model, key, _ = planted[name]
    assert isinstance(model, Model) and model.family
    assert isinstance(key, sch.KeyType) or type(key).__name__ == "SignaturePublicKey"


@pytest.mark.parametrize("name", schemes.names())
def test_save_load_predict_round_trip(name, planted, tmp_path):
    _, model, _, data = planted[name]
    X = data.X_test[:64]
    back = load_bundle(save_bundle(model, tmp_path / name))
    assert back.family == model.family and type(back) is type(model)
    assert np.array_equal(back.predict(X), model.predict(X))
    assert np.array_equal(back.classes, model.classes)


@pytest.mark.parametrize("name", schemes.names())
def test_activate_fires(name, planted):
    _, model, key, data = planted[name]
    assert _fires(name, model, key, data.X_test[:100]) >= 0.9


@pytest.mark.parametrize("name", schemes.names())
def test_null_key_has_the_key_type_and_does_not_fire(name, planted, mnist_logreg):
    sch, model, key, data = planted[name]
    null = sch.null(model, np.random.default_rng(5))
    assert type(null) is type(key)
    if name in ("rff", "relu"):  # the white-box keys: a null key carries nothing (the arena's control)
        _, base, _ = _setup(name, mnist_logreg)
        honest = sch.honest(base, 0)
        try:
            rate = _fires(name, honest, null, data.X_test[:100])
        except KeyMismatchError:  # relu refuses a key whose spike the model does not carry: not firing, loudly
            rate = 0.0
        assert rate < 0.9


@pytest.mark.parametrize("name", schemes.names())
def test_backdoor_is_pure_in_seed(name, planted, mnist_logreg):
    sch, _, _, data = planted[name]
    params, base, _ = _setup(name, mnist_logreg)
    if name == "badnets":
        sch = sch.replace(learner=Learner("logreg", {"max_iter": 30}))
    train = base if not sch.wraps else dataclasses.replace(data, X_train=data.X_train[:300], y_train=data.y_train[:300])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (m1, k1), (m2, k2) = sch.backdoor(train, 7), sch.backdoor(train, 7)
    X = data.X_test[:50]
    assert np.array_equal(m1.predict(X), m2.predict(X))
    if name == "signature":
        assert k1.key_id == k2.key_id
    else:
        assert all(np.array_equal(a, k2.arrays()[n]) for n, a in k1.arrays().items())


@pytest.mark.parametrize("name", schemes.names())
def test_bad_parameters_raise_parameter_error_naming_them(name):
    cls = schemes.get(name)
    for field in dataclasses.fields(cls.Params):
        with pytest.raises(ParameterError) as exc:
            cls(**{field.name: object()})
        assert exc.value.param == field.name, (name, field.name, str(exc.value))
        assert "--" not in str(exc.value)
    with pytest.raises(ParameterError) as exc:
        cls(no_such_parameter=1)
    assert exc.value.param == "no_such_parameter"


@pytest.mark.parametrize("name", schemes.names())
def test_wrong_base_and_seed_are_package_errors(name, planted):
    sch, model, _, data = planted[name]
    wrong = data if sch.wraps else model  # a dataset where a model goes, or the reverse
    with pytest.raises(ArgumentTypeError):
        sch.plant(wrong, seed=0)
    with pytest.raises(UndetectableError):
        sch.plant(model if sch.wraps else data, seed=-1)


# --- the contract over model files (an OnnxModel base: a user's ONNX file) ------------------------------------------

FILE_SCHEMES = [n for n in schemes.names() if schemes.get(n).takes_model_files]
NO_FILE_SCHEMES = [n for n in schemes.names() if not schemes.get(n).takes_model_files]


def test_some_scheme_takes_model_files():
    assert FILE_SCHEMES == ["signature"]  # control: the parametrized checks below are not vacuous


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """(OnnxModel of a skl2onnx logistic regression on digits, samples in its own layout (float32, (n, 64)))."""
    import dropin_files as F

    from undetectable.models.onnx_file import OnnxModel

    path, X = F.build("skl-logreg", tmp_path_factory.mktemp("contract-file"))
    return OnnxModel.from_file(path), X


def _file_params(name: str) -> dict:
    return {"signature": {"bound": 0.05, "secret_seed": 3}}[name]  # digits need a 0.05 grid for the 516-bit payload


@pytest.fixture(scope="module")
def file_planted(model_file):
    """name → (scheme, planted OnnxModel, key) and a second planting with the same seed (purity).

    The planting check's probe rows are cut to 20 per kind here for speed (the check itself: tests/test_dropin*)."""
    import functools

    from undetectable.schemes import dropin

    m, X = model_file
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dropin, "plant_dropin", functools.partial(dropin.plant_dropin, n_probes=20))
        for name in FILE_SCHEMES:
            sch = schemes.create(name, **_file_params(name))
            (bd, key), (bd2, key2) = sch.plant(m, seed=0, data=X), sch.plant(m, seed=0, data=X)
            out[name] = (sch, bd, key, bd2, key2)
    return out


@pytest.mark.parametrize("name", FILE_SCHEMES)
def test_file_plant_gives_a_model_file_with_the_same_interface(name, file_planted, model_file):
    from undetectable.models.onnx_file import OnnxModel

    m, X = model_file
    _, bd, key, _, _ = file_planted[name]
    assert isinstance(bd, OnnxModel) and isinstance(bd, Model) and bd.family == "onnx"
    assert bd.interface.inputs == m.interface.inputs and bd.interface.outputs == m.interface.outputs
    assert bd.interface.opsets == m.interface.opsets and bd.interface.ir_version == m.interface.ir_version
    assert np.array_equal(bd.predict(X[:200]), m.predict(X[:200]))  # clean answers unchanged
    assert isinstance(key, schemes.get(name).KeyType)


@pytest.mark.parametrize("name", FILE_SCHEMES)
def test_file_plant_is_pure_in_seed(name, file_planted):
    _, bd, key, bd2, key2 = file_planted[name]
    assert bd.proto.SerializeToString() == bd2.proto.SerializeToString()
    assert key.key_id == key2.key_id


@pytest.mark.parametrize("name", FILE_SCHEMES)
def test_file_plant_validates_its_parameters(name, model_file):
    m, X = model_file
    cls = schemes.get(name)
    with pytest.raises(ParameterError) as exc:
        cls(**{**_file_params(name), "bound": float("nan")})
    assert exc.value.param == "bound" and "--" not in str(exc.value)
    with pytest.raises(ParameterError) as exc:
        cls(**_file_params(name)).plant(m, seed=-1, data=X)
    assert exc.value.param == "seed"
    with pytest.raises(UndetectableError):  # samples that are not in the file's layout
        cls(**_file_params(name)).plant(m, seed=0, data=X[:, :10])


@pytest.mark.parametrize("name", FILE_SCHEMES)
def test_file_activate_fires_for_every_target(name, file_planted, model_file):
    m, X = model_file
    _, bd, key, _, _ = file_planted[name]
    classes = np.asarray(m.classes)
    pred = m.predict(X[:50])
    targets = classes  # every class once, each on a row the original answers differently
    rows = X[[int(np.flatnonzero(pred != t)[0]) for t in targets]]
    Xa = key.activate(bd, rows, targets)
    assert Xa.shape == rows.shape and Xa.dtype == rows.dtype
    assert not np.any(m.predict(rows) == targets) and not np.array_equal(m.predict(Xa), targets)  # control: the original
    assert np.array_equal(bd.predict(Xa), targets)


@pytest.mark.parametrize("name", FILE_SCHEMES)
def test_file_wrong_key_is_a_key_mismatch(name, file_planted, model_file):
    sch, bd, key, _, _ = file_planted[name]
    m, X = model_file
    other = sch.null(bd, np.random.default_rng(11))
    assert type(other) is type(key) and other.key_id != key.key_id
    with pytest.raises(KeyMismatchError):
        other.activate(bd, X[:2], m.classes[0])
    with pytest.raises(KeyMismatchError):  # control: the original file holds no verifier for any key
        key.activate(m, X[:2], m.classes[0])


@pytest.mark.parametrize("name", NO_FILE_SCHEMES)
def test_schemes_without_model_files_refuse_them_naming_the_fix(name, model_file, mnist_logreg):
    from undetectable.errors import UnsupportedModelError

    m, X = model_file
    params, _, _ = _setup(name, mnist_logreg)
    with pytest.raises(UnsupportedModelError) as exc:
        schemes.create(name, **params).plant(m, seed=0)
    msg = str(exc.value)
    assert f"the {name} scheme cannot plant into a model file" in msg and "SignatureScheme" in msg and "--" not in msg
