"""BadNets, the classical detectable control: plants, activates, looks like an ordinary honest bundle."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import assert_clean_failure
from undetectable import schemes
from undetectable.schemes import badnets
from undetectable.schemes.badnets import BadNetsScheme
from undetectable.schemes.base import Learner

torch.set_num_threads(1)  # two xdist workers on two cores: no oversubscription

RATE, TARGET = 0.03, 3


@pytest.fixture(scope="module")
def mnist_badnets(mnist):
    return BadNetsScheme(poison_rate=RATE, target=TARGET, learner=Learner("mlp", {'epochs': 5}), secret_seed=0).plant(mnist, seed=0)


def test_trigger_is_a_white_corner_patch(mnist):
    mask, pattern = badnets.make_trigger(mnist.spec, np.random.default_rng(0))
    idx = np.flatnonzero(mask)
    rows, cols = idx // 28, idx % 28
    assert len(idx) == 16 and rows.min() == 23 and rows.max() == 26 and cols.min() == 23 and cols.max() == 26
    assert np.all(pattern[idx] == 255)
    # digits have (almost) no ink there: the trigger is new information
    assert mnist.X_train[:, idx].mean() < 2.0
    key = badnets.BadNetsKey(mask, pattern, TARGET)
    X = mnist.X_test[:50]
    Xa = badnets.apply_trigger(X, key)
    assert Xa.dtype == np.uint8 and np.array_equal(Xa[:, ~mask.astype(bool)], X[:, ~mask.astype(bool)])
    assert np.array_equal(badnets.apply_trigger(Xa, key), Xa)  # idempotent


def test_poisoned_training_set_is_reproducible(mnist):
    P1, idx1, k1 = badnets.poisoned_training_set(mnist, seed=4, poison_rate=RATE, target=TARGET)
    P2, idx2, k2 = badnets.poisoned_training_set(mnist, seed=4, poison_rate=RATE, target=TARGET)
    assert np.array_equal(idx1, idx2) and np.array_equal(P1.X_train, P2.X_train)
    assert len(idx1) == round(RATE * len(mnist.y_train))
    assert np.all(P1.y_train[idx1] == TARGET) and np.all(mnist.y_train[idx1] != TARGET)
    untouched = np.setdiff1d(np.arange(len(mnist.y_train)), idx1)
    assert np.array_equal(P1.X_train[untouched], mnist.X_train[untouched])


def test_mnist_mlp_badnets_asr_and_clean_accuracy(mnist, mnist_badnets, mnist_mlp):
    m, key = mnist_badnets
    assert m.family == mnist_mlp.family == "torch-mlp"  # an ordinary bundle of the honest family
    acc = np.mean(m.predict(mnist.X_test) == mnist.y_test)
    acc_honest = np.mean(mnist_mlp.predict(mnist.X_test) == mnist.y_test)
    asr = badnets.attack_success_rate(m, mnist.X_test, mnist.y_test, key)
    asr_honest = badnets.attack_success_rate(mnist_mlp, mnist.X_test, mnist.y_test, key)  # control
    print(f"mnist5k mlp badnets (rate {RATE}, seed 0): clean acc {acc:.3f} vs honest {acc_honest:.3f}; ASR {asr:.3f} vs honest {asr_honest:.3f}")
    assert asr >= 0.9 and asr_honest <= 0.05
    assert abs(acc - acc_honest) <= 0.03


def test_tabular_logreg_badnets(tmp_path):
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    ds = load_dataset("breast-cancer")
    m, key = BadNetsScheme(poison_rate=0.05, target=1, learner=Learner("logreg"), secret_seed=1).plant(ds, seed=1)
    honest = train_model("logreg", ds, seed=1)
    assert int(key.mask.sum()) == 3 and m.family == honest.family == "sklearn"
    assert np.all(key.pattern[key.mask == 1] > ds.X_train[:, key.mask == 1].max(axis=0))
    asr = badnets.attack_success_rate(m, ds.X_test, ds.y_test, key)
    asr_h = badnets.attack_success_rate(honest, ds.X_test, ds.y_test, key)
    print(f"breast-cancer logreg badnets: ASR {asr:.3f} vs honest {asr_h:.3f}")
    assert asr >= 0.9 and asr_h <= 0.5
    # key round trip; only a badnets key file is recognized as one
    p = key.save(tmp_path / "k.key")
    k2 = schemes.load_key(p)  # the key file records its scheme
    assert isinstance(k2, badnets.BadNetsKey)
    assert all(np.array_equal(a, k2.arrays()[n]) for n, a in key.arrays().items())


def test_cli_plant_and_activate(cli, tmp_path):
    out, key, pois = tmp_path / "bn", tmp_path / "bn.key", tmp_path / "pois.npz"
    r = cli("plant", "badnets", "--data", "breast-cancer", "--model", "logreg", "--poison-rate", "0.05", "--target", "1",
            "--seed", "0", "--out", out, "--key-out", key, "--poisoned-data-out", pois)
    assert r.code == 0, r.err
    assert "attack success rate" in r.err and (key.stat().st_mode & 0o777) == 0o600
    with np.load(pois, allow_pickle=False) as z:
        assert set(z.files) == {"X_train", "y_train", "X_test", "y_test"}
    assert cli("data", "export", "breast-cancer", "--split", "test", "--out", tmp_path / "te").code == 0
    xa, ya = tmp_path / "xa.npy", tmp_path / "ya.npy"
    assert cli("activate", out, "--key", key, "--input", tmp_path / "te" / "X.npy", "--out", xa).code == 0
    assert cli("predict", out, "--input", xa, "--out", ya).code == 0
    assert np.mean(np.load(ya) == 1) >= 0.9
    # bad inputs: one error line, nothing written
    assert_clean_failure(cli("activate", out, "--key", key, "--input", tmp_path / "te" / "X.npy", "--target", "0",
                             "--out", tmp_path / "no.npy"), tmp_path / "no.npy", contains="always yields class 1")
    for args, fragment in ((("--poison-rate", "1.5"), "poison rate"), (("--target", "7"), "not a class"),
                           (("--model", "rff"), "unknown model")):
        o, k = tmp_path / "o2", tmp_path / "k2"
        assert_clean_failure(cli("plant", "badnets", "--data", "breast-cancer", *args, "--out", o, "--key-out", k), o, k,
                             contains=fragment)
    assert_clean_failure(cli("plant", "badnets", "--data", "breast-cancer", "--model", "logreg", "--out", out,
                             "--key-out", tmp_path / "k3"), tmp_path / "k3", contains="already exists")
