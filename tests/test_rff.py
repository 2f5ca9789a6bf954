"""Random Fourier Features (models/rff.py) and the CLWE backdoor (backdoors/rff_clwe.py) on real bundled data."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from conftest import assert_clean_failure
from undetectable.schemes.rff import first_order_flip_probability, RFFScheme
from undetectable.bundle import load_bundle, read_manifest, save_bundle
from undetectable.errors import UsageError
from undetectable.models import train_model

M = 500  # features in tests (the demo uses 3000)
D_SECRET = 32
SEEDS = range(5)


def _secret_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, 0xC1E]).generate_state(1, np.uint64)[0])


@pytest.fixture(scope="session")
def synthetic():
    from undetectable.data import load_dataset

    return load_dataset("synthetic")


@pytest.fixture(scope="session")
def synth_models(synthetic):
    """5 honest and 5 backdoored RFF models (same coins seeds, β = 0.01) and the keys."""
    honest = [train_model("rff", synthetic, seed=s, n_features=M) for s in SEEDS]
    planted = [RFFScheme(n_features=M, secret_dim=D_SECRET, beta=0.01, secret_seed=_secret_seed(s)).plant(synthetic, seed=s) for s in SEEDS]
    return honest, planted


def _flip(model, X, Xa) -> float:
    return float(np.mean(model.predict(X) != model.predict(Xa)))


def _random_same_norm(rng, bk):
    r = rng.standard_normal(bk.shape)
    return r * (np.linalg.norm(bk) / np.linalg.norm(r))


def test_key_flips_and_controls_on_synthetic(synthetic, synth_models, rng):
    honest, planted = synth_models
    X = synthetic.X_test
    for h, (b, key) in zip(honest, planted):
        Xa = key.activate(b, X)
        assert _flip(b, X, Xa) >= 0.95
        # control 1: a random direction of the same norm randomizes (≈ 0.5), it does not negate
        Xr = X + (b.bandwidth_ / b.input_scale) * _random_same_norm(rng, key.bk)
        assert 0.3 < _flip(b, X, Xr) < 0.7
        # control 2: the key on the honest model of the same coins seed randomizes too
        assert 0.3 < _flip(h, X, key.activate(h, X)) < 0.7
    # control 3: integer-shift pancakes make the key an invariance (≈ 0 flips)
    bi, key_i = RFFScheme(n_features=M, secret_dim=D_SECRET, beta=0.01, shift="integer", secret_seed=_secret_seed(0)).plant(synthetic, seed=0)
    assert _flip(bi, X, key_i.activate(bi, X)) <= 0.05
    # the perturbation is what the caveat says: ‖σ·bk‖ = σ·2√d, far larger than ‖x‖
    b, key = planted[0]
    delta = key.activate(b, X) - X
    assert np.allclose(np.linalg.norm(delta, axis=1), b.bandwidth_ * 2 * math.sqrt(D_SECRET))
    assert np.linalg.norm(delta[0]) > 10 * np.median(np.linalg.norm(X, axis=1))


def test_clean_accuracy_within_seed_spread(synthetic, synth_models):
    honest, planted = synth_models
    acc_h = np.array([np.mean(h.predict(synthetic.X_test) == synthetic.y_test) for h in honest])
    acc_b = np.array([np.mean(b.predict(synthetic.X_test) == synthetic.y_test) for b, _ in planted])
    assert acc_h.min() > 0.75 and acc_b.min() > 0.75  # the model learns the task
    spread = max(acc_h.max() - acc_h.min(), acc_b.max() - acc_b.min(), 0.01)
    assert abs(acc_h.mean() - acc_b.mean()) <= spread
    assert stats.ttest_ind(acc_h, acc_b).pvalue > 0.01


def test_flip_rate_follows_first_order_prediction(synthetic):
    """Measured flip rate vs β within the Clopper–Pearson band of the averaged prediction Φ(|f|/(√2πβ‖w‖))."""
    from undetectable.report.results import clopper_pearson_ci

    X = synthetic.X_test
    measured = []
    for beta in (0.03, 0.1):
        b, key = RFFScheme(n_features=M, secret_dim=D_SECRET, beta=beta, secret_seed=_secret_seed(7)).plant(synthetic, seed=7)
        flips = int(np.sum(b.predict(X) != b.predict(key.activate(b, X))))
        lo, hi = clopper_pearson_ci(flips, len(X), alpha=0.01)
        pred = float(first_order_flip_probability(b, X, beta).mean())
        assert lo - 0.02 <= pred <= hi + 0.02, (beta, flips / len(X), pred)
        measured.append(flips / len(X))
    assert measured[0] > measured[1] + 0.03  # more noise, fewer flips (the prediction's control)


def test_same_seed_reproduces_coins_and_planted_differs_only_in_weights(synthetic, synth_models):
    honest, planted = synth_models
    again = train_model("rff", synthetic, seed=0, n_features=M)
    assert np.array_equal(again.weights_, honest[0].weights_)
    b, _ = planted[0]
    assert np.array_equal(b.offsets_, honest[0].offsets_) and b.bandwidth_ == honest[0].bandwidth_
    assert not np.array_equal(b.weights_, honest[0].weights_)


def test_bundle_is_indistinguishable_as_a_file(synthetic, synth_models, tmp_path):
    honest, planted = synth_models
    (b, key) = planted[1]
    ph, pb = save_bundle(honest[1], tmp_path / "h"), save_bundle(b, tmp_path / "b")
    mh, mb = read_manifest(ph), read_manifest(pb)
    assert sorted(mh) == sorted(mb) and sorted(mh["params"]) == sorted(mb["params"]) and sorted(mh["files"]) == sorted(mb["files"])
    assert mh["family"] == mb["family"] == "rff" and mh["input"] == mb["input"]
    assert {k: v for k, v in mh["params"].items()} == {k: v for k, v in mb["params"].items()}  # same σ, m, head
    text = json.dumps(mb).lower()
    assert "key" not in text and "backdoor" not in text and "pancake" not in text
    loaded = load_bundle(pb)
    assert np.array_equal(loaded.predict(synthetic.X_test), b.predict(synthetic.X_test))
    assert _flip(loaded, synthetic.X_test, key.activate(loaded, synthetic.X_test)) >= 0.95
    from safetensors.numpy import load_file

    arrays = load_file(str(pb / "rff.safetensors"))
    assert arrays["weights"].shape == (M, 784) and arrays["weights"].ndim == 2


def test_onnx_predictions_identical(synthetic, synth_models, mnist_rff, tmp_path):
    import onnxruntime as ort

    from undetectable.export import export_onnx

    b, key = synth_models[1][0]
    for model, X in ((b, synthetic.X_test), (b, key.activate(b, synthetic.X_test)), (mnist_rff[1], mnist_rff[0].X_test[:300])):
        path = export_onnx(model, tmp_path / f"m{id(X)}.onnx")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        scores, idx = sess.run(None, {"X": np.asarray(X, dtype=np.float64)})
        assert np.array_equal(model.classes[idx], model.predict(X))
        assert np.allclose(scores, model.scores(X), atol=1e-8)


@pytest.fixture(scope="session")
def mnist_rff(mnist):
    b, key = RFFScheme(n_features=M, secret_dim=D_SECRET, beta=0.01, secret_seed=_secret_seed(0)).plant(mnist, seed=0)
    return mnist, b, key


def test_mnist_multiclass_argmax_moves(mnist_rff, rng):
    mnist, b, key = mnist_rff
    X = mnist.X_test[:500]
    h = train_model("rff", mnist, seed=0, n_features=M)
    acc_h, acc_b = (float(np.mean(m.predict(X) == mnist.y_test[:500])) for m in (h, b))
    assert acc_h > 0.85 and abs(acc_h - acc_b) < 0.04
    Xa = key.activate(b, X)
    assert Xa.dtype == np.float64 and Xa.max() > 255  # activated inputs are not images (the caveat)
    assert _flip(b, X, Xa) >= 0.95
    # argmax of −f is the argmin of f: the activated label is the least likely one, not a random one
    assert np.mean(b.predict_index(b.spec.validate(Xa)) == b.scores(X).argmin(axis=1)) > 0.9
    bi, ki = RFFScheme(n_features=M, secret_dim=D_SECRET, beta=0.01, shift="integer", secret_seed=_secret_seed(0)).plant(mnist, seed=0)
    assert _flip(bi, X, ki.activate(bi, X)) <= 0.05
    Xr = X + (b.bandwidth_ / b.input_scale) * _random_same_norm(rng, key.bk)
    assert np.mean(b.predict_index(b.spec.validate(Xr)) == b.scores(X).argmin(axis=1)) < 0.3  # random ≠ negation


def test_check_estimator_passes():
    from sklearn.utils.estimator_checks import check_estimator

    from undetectable.models.rff import RFFClassifier

    results = check_estimator(RFFClassifier(n_features=50), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert not failed, failed
    clf = RFFClassifier(n_features=50, head="logistic", random_state=3).fit(np.random.default_rng(0).standard_normal((60, 4)), np.arange(60) % 3)
    assert clf.coef_.shape == (50, 3) and clf.predict(np.zeros((2, 4))).shape == (2,)


def test_bad_parameters_are_refused(synthetic):
    with pytest.raises(UsageError, match="exceeds the input dimension"):
        RFFScheme(n_features=1000, secret_dim=785).plant(synthetic)
    with pytest.raises(UsageError, match="beta"):
        RFFScheme(n_features=M, beta=-0.1).plant(synthetic)
    with pytest.raises(UsageError, match="smaller than the secret dim"):
        RFFScheme(n_features=10, secret_dim=32).plant(synthetic)


def test_cli_plant_activate_export_and_errors(cli, tmp_path, synthetic):
    out, key = tmp_path / "b", tmp_path / "k.safetensors"
    r = cli("plant", "rff", "--data", "synthetic", "--features", "200", "--secret-dim", "16", "--seed", "3", "--out", out, "--key-out", key)
    assert r.code == 0, r.err
    assert (key.stat().st_mode & 0o777) == 0o600
    np.save(tmp_path / "X.npy", synthetic.X_test[:200])
    r = cli("activate", out, "--key", key, "--input", tmp_path / "X.npy", "--out", tmp_path / "XA.npy")
    assert r.code == 0, r.err
    r = cli("predict", out, "--input", tmp_path / "XA.npy", "--out", tmp_path / "ya.npy")
    assert r.code == 0, r.err
    assert np.mean(np.load(tmp_path / "ya.npy") != load_bundle(out).predict(synthetic.X_test[:200])) >= 0.9
    r = cli("export", "onnx", out, "--out", tmp_path / "m.onnx")
    assert r.code == 0 and (tmp_path / "m.onnx").stat().st_size > 200 * 784 * 8
    # bad parameters: one clean error line, nothing written
    bad = tmp_path / "bad"
    for args, msg in ((["--secret-dim", "800"], "secret dim"), (["--beta", "0"], "beta"), (["--features", "8"], "smaller"),
                      (["--shift", "third"], "shift")):
        assert_clean_failure(cli("plant", "rff", "--data", "synthetic", "--features", "200", *args, "--out", bad, "--key-out", tmp_path / "bk"),
                             bad, tmp_path / "bk", contains=msg)
    # a key of the wrong shape (planted on digits, D = 64)
    r = cli("plant", "rff", "--data", "digits", "--features", "50", "--secret-dim", "8", "--out", tmp_path / "d", "--key-out", tmp_path / "dk")
    assert r.code == 0, r.err
    assert_clean_failure(cli("activate", out, "--key", tmp_path / "dk", "--input", tmp_path / "X.npy", "--out", tmp_path / "XB.npy"),
                         tmp_path / "XB.npy", contains="shape")
    # non-finite data
    Xn = synthetic.X_train[:50].copy()
    Xn[3, 5] = np.nan
    np.savez(tmp_path / "nan.npz", X_train=Xn, y_train=synthetic.y_train[:50], X_test=synthetic.X_test[:10], y_test=synthetic.y_test[:10])
    assert_clean_failure(cli("plant", "rff", "--data", tmp_path / "nan.npz", "--features", "50", "--secret-dim", "4", "--out", bad,
                             "--key-out", tmp_path / "bk"), bad, tmp_path / "bk", contains="NaN")
    # a target makes no sense for a negation backdoor
    assert_clean_failure(cli("activate", out, "--key", key, "--input", tmp_path / "X.npy", "--target", "1", "--out", tmp_path / "XC.npy"),
                         tmp_path / "XC.npy", contains="target")
