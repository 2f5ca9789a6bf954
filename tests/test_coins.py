"""Client-controlled coins: honest rff/relu bundles verify with their seed; planted ones never do."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_clean_failure
from undetectable.bundle import save_bundle
from undetectable.defend.coins import verify_coins
from undetectable.defend.oblivious import make_task


@pytest.fixture(scope="session")
def coins_task():
    return make_task("linear", D=20, n=500, n_test=100, seed=3)


@pytest.fixture(scope="session")
def coins_npz(tmp_path_factory, coins_task):
    p = tmp_path_factory.mktemp("coins") / "task.npz"
    d = coins_task
    np.savez(p, X_train=d.X_train, y_train=d.y_train, X_test=d.X_test, y_test=d.y_test)
    return p


@pytest.fixture(scope="session")
def coin_bundles(tmp_path_factory, coins_task):
    """Honest and planted rff/relu bundles (seed 11) and a logreg bundle, saved to disk."""
    from undetectable.schemes.relu import ReLUScheme
    from undetectable.schemes.rff import RFFScheme
    from undetectable.models import train_model

    root = tmp_path_factory.mktemp("coin_bundles")
    ds = coins_task
    models = {
        "rff": train_model("rff", ds, seed=11, n_features=300),
        "rff_planted": RFFScheme(n_features=300, secret_dim=8, secret_seed=1).plant(ds, seed=11)[0],
        "rff_integer": RFFScheme(n_features=300, secret_dim=8, shift="integer", secret_seed=2).plant(ds, seed=11)[0],
        "relu": train_model("relu", ds, seed=11, n_features=200),
        "relu_planted": ReLUScheme(n_features=200, sparsity=4, secret_seed=5).plant(ds)[0],
        "logreg": train_model("logreg", ds, seed=11),
    }
    paths = {}
    for name, m in models.items():
        paths[name] = save_bundle(m, root / name)
    return paths


@pytest.mark.parametrize("name", ["rff", "relu"])
def test_honest_bundle_passes_with_its_seed(cli, coin_bundles, name):
    res = cli("verify-coins", coin_bundles[name], "--seed", "11")
    assert res.code == 0, res.err
    assert res.out.strip().startswith("OK") and "seed 11" in res.out
    assert len(res.out.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["rff", "relu"])
def test_honest_bundle_fails_with_another_seed(cli, coin_bundles, name):
    """Control: the check is not vacuous — the same honest bundle with the wrong seed fails on every row."""
    res = cli("verify-coins", coin_bundles[name], "--seed", "12")
    m = 300 if name == "rff" else 200
    assert_clean_failure(res, contains=f"{m}/{m} rows differ")
    assert "not trained honestly from seed 12" in res.err


@pytest.mark.parametrize("name", ["rff_planted", "rff_integer", "relu_planted"])
def test_planted_bundle_fails(cli, coin_bundles, name):
    res = cli("verify-coins", coin_bundles[name], "--seed", "11")
    assert_clean_failure(res, contains="weights do not match the coins of seed 11")
    assert res.code == 1


def test_planted_rff_details(coin_bundles):
    """Every row of a pancake-planted model differs; offsets (honest coins in RFFScheme) still match."""
    from undetectable.bundle import load_bundle

    r = verify_coins(load_bundle(coin_bundles["rff_planted"]), 11)
    assert not r.ok and r.rows_differ == 300 and r.max_abs_delta > 1.0 and r.offsets_differ == 0
    h = verify_coins(load_bundle(coin_bundles["rff"]), 11)
    assert h.ok and h.rows_differ == 0 and h.max_abs_delta == 0.0 and h.offsets_differ == 0


def test_single_tampered_row_is_caught(coin_bundles):
    """Exact comparison: one changed weight in one row (by 1e-12) is enough to fail."""
    from undetectable.bundle import load_bundle

    m = load_bundle(coin_bundles["relu"])
    m.clf.weights_ = m.weights_.copy()
    m.clf.weights_[7, 3] += 1e-12
    r = verify_coins(m, 11)
    assert not r.ok and r.rows_differ == 1 and 0 < r.max_abs_delta < 1e-11


def test_json_output(cli, coin_bundles):
    res = cli("verify-coins", coin_bundles["rff"], "--seed", "11", "--json")
    assert res.code == 0
    d = json.loads(res.out)
    assert d["ok"] and d["family"] == "rff" and d["n_features"] == 300 and d["input_dim"] == 20 and d["coins_version"] == 1


def test_cli_trained_bundle_verifies(cli, coins_npz, tmp_path):
    """End to end through 'train --seed S': what train derives, verify-coins recomputes."""
    out = tmp_path / "b"
    res = cli("train", "--data", coins_npz, "--model", "rff", "--seed", "42", "--out", out)
    assert res.code == 0, res.err
    assert cli("verify-coins", out, "--seed", "42").code == 0
    assert cli("verify-coins", out, "--seed", "43").code == 1


def test_not_applicable_and_bad_inputs(cli, coin_bundles, tmp_path):
    res = cli("verify-coins", coin_bundles["logreg"], "--seed", "11")
    assert_clean_failure(res, contains="coins verification does not apply")
    assert res.code == 2
    assert_clean_failure(cli("verify-coins", tmp_path / "nope", "--seed", "1"), contains="does not exist")
    assert_clean_failure(cli("verify-coins", coin_bundles["rff"], "--seed", "-1"), contains="seed")
    assert cli("verify-coins", coin_bundles["rff"]).code == 2  # --seed is required
