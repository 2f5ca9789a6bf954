"""The replication game with k activated examples: signature → 0 successes, checksum control → ≈ 1."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_clean_failure
from undetectable.audit.replication import replication_game
from undetectable.schemes.checksum import ChecksumKey
from undetectable.schemes.signature import SignatureKey

K = 16


@pytest.fixture(scope="module")
def wrapped(mnist_logreg, ed25519_key):
    from undetectable.schemes.checksum import ChecksumScheme
    from undetectable.schemes.signature import SignatureScheme

    chk, ck = ChecksumScheme(secret_seed=3).plant(mnist_logreg)
    v = ck.v
    return SignatureScheme(key=ed25519_key.public_key()).plant(mnist_logreg)[0], chk, v


def test_signature_resists_every_attack(mnist, wrapped, ed25519_key):
    sig, _, _ = wrapped
    res = replication_game(sig, SignatureKey(ed25519_key), mnist.X_test, K, np.random.default_rng(0), steps=30)
    print("signature:", {n: a["successes"] for n, a in res["attacks"].items()}, "of", res["total_attempts"])
    assert res["activation_success"] == 1.0
    assert res["total_successes"] == 0 and res["total_attempts"] >= 10 * K
    assert {"recombine_chunks", "majority", "hill_climb", "copy_payload", "retarget"} <= set(res["attacks"])
    assert res["attacks"]["hill_climb"]["moved_fraction"] < 0.5  # no step was ever accepted


def test_checksum_control_is_replicable(mnist, wrapped):
    _, chk, v = wrapped
    res = replication_game(chk, ChecksumKey(v), mnist.X_test, K, np.random.default_rng(0), steps=30)
    rates = {n: a["rate"] for n, a in res["attacks"].items()}
    print("checksum:", rates)
    # the control can fail: these attacks must work on a replicable backdoor
    for name in ("copy_payload", "recombine_chunks", "retarget", "edit_unsigned", "hill_climb"):
        assert rates[name] >= 0.8, (name, rates)
    assert res["attacks"]["hill_climb"]["moved_fraction"] > 0.7  # the walk reached the other input


def test_cli_replication(cli, tmp_path, mnist_logreg):
    from undetectable.schemes.checksum import ChecksumScheme, secret_id
    from undetectable.schemes.signature import SignatureScheme
    from undetectable.bundle import save_bundle
    from undetectable.keys import generate_keys, load_public_key, save_secret

    priv, pub = generate_keys(tmp_path / "keys")
    save_bundle(SignatureScheme(key=load_public_key(pub)).plant(mnist_logreg)[0], tmp_path / "sig")
    chk, ck = ChecksumScheme(secret_seed=5).plant(mnist_logreg)
    v = ck.v
    save_bundle(chk, tmp_path / "chk")
    save_secret(tmp_path / "chk.key", "checksum", {"v": v}, {"secret_id": secret_id(v)})
    r = cli("audit", "replication", tmp_path / "sig", "--key", priv, "--k", "8", "--steps", "10", "--json")
    assert r.code == 0, r.err
    sig_res = json.loads(r.out)
    r = cli("audit", "replication", tmp_path / "chk", "--key", tmp_path / "chk.key", "--k", "8", "--steps", "10", "--json")
    assert r.code == 0, r.err
    chk_res = json.loads(r.out)
    print("CLI replication: signature", sig_res["total_successes"], "/", sig_res["total_attempts"],
          "checksum", chk_res["total_successes"], "/", chk_res["total_attempts"])
    assert sig_res["total_successes"] == 0 and sig_res["k"] == 8
    assert chk_res["total_successes"] / chk_res["total_attempts"] >= 0.6
    assert cli("audit", "replication", tmp_path / "sig", "--key", priv, "--k", "4", "--steps", "2").code == 0  # table
    # bad inputs: one error line each
    save_bundle(mnist_logreg, tmp_path / "honest")
    assert_clean_failure(cli("audit", "replication", tmp_path / "honest", "--key", tmp_path / "chk.key"), contains="no backdoor")
    assert_clean_failure(cli("audit", "replication", tmp_path / "sig", "--key", priv, "--k", "1"), contains="k must be")
    assert_clean_failure(cli("audit", "replication", tmp_path / "sig", "--key", tmp_path / "nope.pem"), contains="does not exist")
    assert_clean_failure(cli("audit", "replication", tmp_path / "chk", "--key", priv), contains="PEM")
    assert_clean_failure(cli("audit", tmp_path / "sig", "--data", "mnist5k", "--detectors", "nope"), contains="unknown detector")
    assert_clean_failure(cli("audit", tmp_path / "missing", "--data", "mnist5k"), contains="does not exist")
    assert_clean_failure(cli("audit", "run", tmp_path / "sig", "--data", "nodata"), contains="unknown dataset")


def test_cli_audit_run_json(cli, tmp_path, mnist_logreg):
    """``audit BUNDLE`` (= ``audit run``): scores as JSON; inapplicable detectors say why."""
    from undetectable.bundle import save_bundle

    save_bundle(mnist_logreg, tmp_path / "honest")
    r = cli("audit", tmp_path / "honest", "--data", "mnist5k", "--detectors", "strip,disagreement", "--json")
    assert r.code == 0, r.err
    rows = {d["detector"]: d for d in json.loads(r.out)["detectors"]}
    assert rows["strip"]["status"] == "ok" and 0.0 <= rows["strip"]["score"] <= 1.0
    assert rows["disagreement"]["status"] == "n/a" and "base" in rows["disagreement"]["note"]
