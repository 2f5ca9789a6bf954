"""The signature backdoor (§5.2) on real data: fires, agrees elsewhere, resists replication; checksum control replicates."""
from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from undetectable.audit.replication import replication_attacks
from undetectable.schemes.checksum import ChecksumScheme
from undetectable.schemes.signature import SIG_BITS, SignatureScheme
from undetectable.bundle import load_bundle, save_bundle
from undetectable.errors import CapacityError, KeyMismatchError, UsageError
from undetectable.report.results import perturbation_norms

N_ACT = 200


@pytest.fixture(scope="module", params=["logreg", "mlp"])
def planted(request, mnist, mnist_logreg, mnist_mlp, ed25519_key, tmp_path_factory):
    base = mnist_logreg if request.param == "logreg" else mnist_mlp
    path = tmp_path_factory.mktemp("sig") / f"sig-{request.param}"
    save_bundle(SignatureScheme(key=ed25519_key.public_key()).plant(base)[0], path)
    return base, load_bundle(path)  # every check goes through a saved and re-loaded bundle


def test_activation_succeeds_for_every_target_within_one_grey_level(planted, mnist, ed25519_key):
    base, bd = planted
    X = mnist.X_test[:N_ACT]
    for t in range(10):
        Xa = bd.activate(X, ed25519_key, t)
        assert Xa.dtype == np.uint8 and Xa.shape == X.shape
        assert np.all(bd.predict(Xa) == t), f"target {t}"
        diff = Xa.astype(int) - X.astype(int)
        assert np.abs(diff).max() <= 1
        assert (diff != 0).sum(axis=1).max() <= bd.payload_bits
        norms = perturbation_norms(X, Xa, unit=1 / 255)
        assert 0.04 < norms["l2_mean"] < 0.08  # ≈ √(258)/255 ≈ 0.063, as constructions.md predicts
        assert 200 < norms["l0_mean"] < 320
    # the base model is not fooled by the perturbation alone: the backdoor does the work
    Xa = bd.activate(X, ed25519_key, 3)
    assert np.mean(base.predict(Xa) == 3) < 0.2


def test_agreement_on_test_split_and_100k_queries(planted, mnist, rng):
    base, bd = planted
    assert np.array_equal(bd.predict(mnist.X_test), base.predict(mnist.X_test))
    natural = np.concatenate([mnist.X_train, mnist.X_test])
    n_noisy, n_random = 50_000, 50_000 - len(natural) + 5_000
    noisy = np.clip(natural[rng.integers(0, len(natural), n_noisy)].astype(np.int16) + rng.integers(-3, 4, (n_noisy, 784)), 0, 255).astype(np.uint8)
    lsb_noise = natural[rng.integers(0, len(natural), 5_000)] ^ rng.integers(0, 2, (5_000, 784), dtype=np.uint8)
    queries = np.concatenate([natural, noisy, lsb_noise, rng.integers(0, 256, (n_random, 784), dtype=np.uint8)])
    assert len(queries) >= 100_000
    assert not bd.triggered(queries)[0].any()
    assert np.array_equal(bd.predict(queries), base.predict(queries))


def test_replication_attacks_fail_on_signature_but_succeed_on_checksum(planted, mnist, ed25519_key, rng):
    base, bd = planted
    X = mnist.X_test[:N_ACT]
    t = rng.integers(0, 10, N_ACT)
    rep = replication_attacks(bd, X, bd.activate(X, ed25519_key, t), t, rng)
    assert {"copy_payload", "bit_flip_any", "bit_flip_payload", "bit_flip_outside_payload", "retarget", "recombine", "edit_unsigned"} <= set(rep)
    assert all(r["successes"] == 0 for r in rep.values()), rep
    cs, ck = ChecksumScheme(secret_seed=int(rng.integers(2**63))).plant(base)
    v = ck.v
    Xc = cs.activate(X, v, t)
    assert np.all(cs.predict_index(Xc) == t)
    rep_cs = replication_attacks(cs, X, Xc, t, rng)
    for attack in ("copy_payload", "retarget", "edit_unsigned", "bit_flip_outside_payload"):
        assert rep_cs[attack]["rate"] > 0.8, (attack, rep_cs[attack])


def test_every_single_bit_flip_of_an_activated_image_kills_it(mnist_logreg, mnist, ed25519_key):
    bd = SignatureScheme(key=ed25519_key.public_key()).plant(mnist_logreg)[0]
    xa = bd.activate(mnist.X_test[:1], ed25519_key, 7)
    flips = np.repeat(xa, 784 * 8, axis=0)
    idx = np.arange(784 * 8)
    flips[idx, idx // 8] ^= (np.uint8(1) << (idx % 8).astype(np.uint8))
    assert not bd.triggered(flips)[0].any()


def test_wrong_key_is_refused(mnist_logreg, mnist, ed25519_key):
    bd = SignatureScheme(key=ed25519_key.public_key()).plant(mnist_logreg)[0]
    with pytest.raises(KeyMismatchError):
        bd.activate(mnist.X_test[:2], Ed25519PrivateKey.generate(), 1)
    with pytest.raises(UsageError, match="not a class"):
        bd.activate(mnist.X_test[:2], ed25519_key, 10)


def test_a_signature_from_another_key_never_triggers(mnist_logreg, mnist, ed25519_key):
    other = Ed25519PrivateKey.generate()
    bd = SignatureScheme(key=ed25519_key.public_key()).plant(mnist_logreg)[0]
    forged = SignatureScheme(key=other.public_key()).plant(mnist_logreg)[0].activate(mnist.X_test[:50], other, 2)
    assert not bd.triggered(forged)[0].any()


def test_float_path_breast_cancer(ed25519_key):
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    ds = load_dataset("breast-cancer")
    base = train_model("logreg", ds, seed=0)
    bound = 1e-3
    bd = SignatureScheme(key=ed25519_key.public_key(), bound=bound).plant(base)[0]
    assert bd.carrier.k == int(np.ceil((1 + SIG_BITS) / 30))
    std = np.asarray(ds.spec.feature_std)
    assert np.array_equal(bd.predict(ds.X_test), base.predict(ds.X_test))
    for t in ds.classes:
        Xa = bd.activate(ds.X_test, ed25519_key, t)
        assert np.all(bd.predict(Xa) == t)
        rel = np.abs(Xa - ds.X_test) / std
        assert rel.max() <= bound
    # off-grid floats near an activated input do not trigger (the raw float64 is bound)
    Xa = bd.activate(ds.X_test[:20], ed25519_key, 0)
    assert not bd.triggered(np.nextafter(Xa, np.inf))[0].any()


def test_input_that_cannot_carry_the_payload_is_refused_with_numbers(ed25519_key):
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    base = train_model("logreg", load_dataset("digits"), seed=0)
    with pytest.raises(CapacityError) as exc:
        SignatureScheme(key=ed25519_key.public_key()).plant(base)[0]
    msg = str(exc.value)
    assert "516 bits" in msg and "64 bits available" in msg and "levels" in msg
