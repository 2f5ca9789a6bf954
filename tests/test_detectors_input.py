"""Input- and data-level detectors against the BadNets control, with honest and signature controls.

Neural Cleanse, STRIP, activation clustering and spectral signatures must *see* a BadNets model
(that proves they work) and must not flag an honest one; the black-box disagreement search must
find nothing on a signature backdoor in 10^5 queries and must find disagreements where they exist.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from undetectable.audit.activation_clustering import activation_clustering
from undetectable.audit.disagreement import disagreement_search
from undetectable.audit.neural_cleanse import neural_cleanse
from undetectable.audit.spectral import spectral_scores, spectral_signature
from undetectable.audit.strip import roc_auc, strip_entropy, tpr_and_threshold_at_fpr
from undetectable.audit.torch_view import hidden_activations
from undetectable.schemes import badnets
from undetectable.schemes.badnets import BadNetsScheme
from undetectable.schemes.base import Learner

torch.set_num_threads(1)  # two xdist workers on two cores: no oversubscription

RATE, TARGET = 0.03, 3


@pytest.fixture(scope="module")
def poisoned(mnist):
    """(badnets model, key, poisoned dataset, poison mask) on mnist5k, 3% poison, seed 0."""
    m, key = BadNetsScheme(poison_rate=RATE, target=TARGET, learner=Learner("mlp", {'epochs': 5}), secret_seed=0).plant(mnist, seed=0)
    P, idx, _ = badnets.poisoned_training_set(mnist, seed=0, poison_rate=RATE, target=TARGET)
    is_poison = np.zeros(len(P.y_train), dtype=bool)
    is_poison[idx] = True
    return m, key, P, is_poison


def test_neural_cleanse_flags_badnets_not_honest(mnist, poisoned, mnist_mlp):
    m, key, _, _ = poisoned
    X = mnist.X_test[:256]
    bd = neural_cleanse(m, X, np.random.default_rng(0), steps=150)
    hon = neural_cleanse(mnist_mlp, X, np.random.default_rng(0), steps=150)
    print(f"neural cleanse: badnets norms {np.round(bd.norms, 1)} anomaly {bd.score:.2f}; honest anomaly {hon.score:.2f}")
    assert bd.score > 2.0 and list(bd.flagged) == [TARGET]
    assert bd.norms[TARGET] <= 2 * key.mask.sum()  # about the size of the real 16-pixel trigger
    assert hon.score < 2.0 and len(hon.flagged) == 0
    assert all(p.requires_grad for p in mnist_mlp.net.parameters())  # the shared model comes back unchanged


def test_strip_flags_triggered_inputs(mnist, poisoned, mnist_mlp, ed25519_key):
    from undetectable.schemes.signature import SignatureScheme

    m, key, _, _ = poisoned
    rng = np.random.default_rng(1)
    keep = mnist.y_test != TARGET
    clean, trig_src, overlay = mnist.X_test[:300], mnist.X_test[300:][keep[300:]][:300], mnist.X_train
    Xt = badnets.apply_trigger(trig_src, key)
    Hc, Ht = strip_entropy(m, clean, overlay, rng), strip_entropy(m, Xt, overlay, rng)
    tpr, _ = tpr_and_threshold_at_fpr(Hc, Ht)
    # control 1: the same trigger through the honest model is not low-entropy
    tpr_h, _ = tpr_and_threshold_at_fpr(strip_entropy(mnist_mlp, clean, overlay, rng), strip_entropy(mnist_mlp, Xt, overlay, rng))
    # control 2: signature-activated inputs: superimposition destroys the signature, STRIP sees nothing
    sig = SignatureScheme(key=ed25519_key.public_key()).plant(mnist_mlp)[0]
    Xs = sig.activate(trig_src[:200], ed25519_key, np.full(200, TARGET))
    assert np.all(sig.predict(Xs) == TARGET)
    tpr_s, _ = tpr_and_threshold_at_fpr(strip_entropy(sig, clean, overlay, rng), strip_entropy(sig, Xs, overlay, rng))
    print(f"STRIP TPR@5%FPR: badnets {tpr:.3f} (AUC {roc_auc(Hc, Ht):.3f}); honest+trigger {tpr_h:.3f}; signature {tpr_s:.3f}")
    assert tpr >= 0.6 and tpr_h <= 0.2 and tpr_s <= 0.2


def test_activation_clustering_and_spectral_find_the_poison(poisoned, mnist_mlp, mnist):
    from sklearn.metrics import roc_auc_score

    m, key, P, is_poison = poisoned
    ac = activation_clustering(m, P.X_train, P.y_train, np.random.default_rng(0))
    tp, fp = int((ac.flagged & is_poison).sum()), int((ac.flagged & ~is_poison).sum())
    ac_clean = activation_clustering(mnist_mlp, mnist.X_train, mnist.y_train, np.random.default_rng(0))  # control
    sp = spectral_signature(m, P.X_train, P.y_train, eps=RATE)
    cls = P.y_train == TARGET
    auc = roc_auc_score(is_poison[cls], sp.tau[cls])
    sp_tp = int((sp.removed & is_poison).sum())
    print(f"AC: {tp}/{is_poison.sum()} poisoned flagged, {fp} clean flagged, score {ac.score:.3f} "
          f"(honest on clean data: {int(ac_clean.flagged.sum())} flagged, score {ac_clean.score:.3f}); "
          f"spectral: AUC in target class {auc:.3f}, removed {sp_tp} poisoned of {int(sp.removed.sum())}")
    assert tp >= 0.9 * is_poison.sum() and fp <= 0.01 * len(is_poison)
    assert ac_clean.flagged.sum() <= 0.01 * len(is_poison)
    assert auc >= 0.6
    # removal beats chance: the poisoned fraction among removed rows exceeds the training set's
    assert sp_tp / sp.removed.sum() > 2 * is_poison.mean()


def test_agrees_with_art(poisoned):
    """Same first-hidden-layer representation given to ART 1.x (ActivationDefence, PCA to 10 dims, 2 clusters).

    ART runs k-means once, unseeded (sklearn's n_init=1 from the global RNG), and often stops in a
    worse local optimum; we use 10 restarts. So: over 8 seeded ART runs on the target class, the
    ART split with the lowest k-means inertia must be ours, and no ART split may beat ours.
    ART's spectral score must be our uncentred variant exactly (ART projects R, the paper R − R̄)."""
    pytest.importorskip("art")
    from art.defences.detector.poison import ActivationDefence, SpectralSignatureDefense
    from art.estimators.classification import PyTorchClassifier

    from undetectable.audit.activation_clustering import reduce_dims

    m, key, P, is_poison = poisoned
    cls = P.y_train == TARGET
    rows = np.flatnonzero(cls)
    body = torch.nn.Sequential(*list(m.net[:2]))
    others = np.concatenate([np.flatnonzero(P.y_train == c)[:20] for c in range(10) if c != TARGET])  # ART needs every class
    sel = np.concatenate([rows, others])
    Xin = m.torch_input(P.X_train[sel]).numpy()
    clf = PyTorchClassifier(model=body, loss=torch.nn.CrossEntropyLoss(), input_shape=(784,), nb_classes=10)
    R = hidden_activations(m, P.X_train, layer=0)
    assert np.allclose(clf.get_activations(Xin, layer=len(clf.layer_names) - 1, batch_size=1024), R[sel], atol=1e-5)
    ours = activation_clustering(m, P.X_train, P.y_train, np.random.default_rng(0)).flagged[rows]
    Z = reduce_dims(R[rows], 10)

    def inertia(flag):
        return sum(((Z[g] - Z[g].mean(axis=0)) ** 2).sum() for g in (flag, ~flag) if g.any())

    state = np.random.get_state()
    try:
        runs = []
        for s in range(8):
            np.random.seed(s)
            _, is_clean = ActivationDefence(clf, Xin, np.eye(10)[P.y_train[sel]]).detect_poison(
                nb_clusters=2, nb_dims=10, reduce="PCA")
            runs.append(np.asarray(is_clean)[: len(rows)] == 0)
    finally:
        np.random.set_state(state)
    best = min(runs, key=inertia)
    jac = (best & ours).sum() / (best | ours).sum()
    print(f"AC vs ART (best of 8 ART runs by inertia) in the target class: Jaccard {jac:.3f}; "
          f"ART runs matching ours: {sum(np.array_equal(r, ours) for r in runs)}/8; ours flags {int(ours.sum())}")
    assert jac >= 0.95 and inertia(ours) <= min(inertia(r) for r in runs) * (1 + 1e-9)
    rows = np.flatnonzero(cls)
    art_tau = SpectralSignatureDefense.spectral_signature_scores(R[rows]).ravel() ** 2
    y = np.where(cls, TARGET, -1)
    ours_unc = spectral_scores(R, y, centered=False).tau[rows]
    assert np.allclose(art_tau, ours_unc, rtol=1e-6, atol=1e-8)


def test_disagreement_search(mnist, mnist_mlp, poisoned, ed25519_key, rng):
    from undetectable.schemes.checksum import ChecksumScheme
    from undetectable.schemes.signature import SignatureScheme

    sig = SignatureScheme(key=ed25519_key.public_key()).plant(mnist_mlp)[0]
    rep = disagreement_search(sig, sig.base, mnist.X_test, rng, n_random=40_000, n_noisy=40_000, n_climb=20_000)
    assert rep.total_queries >= 100_000 and rep.total_disagreements == 0, rep.to_json()
    chk, _ = ChecksumScheme(secret_seed=int(rng.integers(2**63))).plant(mnist_mlp)
    rep_c = disagreement_search(chk, chk.base, mnist.X_test, rng, n_random=5_000, n_noisy=5_000, n_climb=5_000)
    assert rep_c.total_disagreements == 0  # 64 parity blocks: 2^-64 per query (its weakness is replication)
    # control that can fail: the search does find disagreements where they exist (BadNets vs honest)
    m, _, _, _ = poisoned
    rep_b = disagreement_search(m, mnist_mlp, mnist.X_test, rng, n_random=2_000, n_noisy=2_000, n_climb=2_000)
    print(f"disagreement: signature {rep.to_json()}; checksum {rep_c.total_disagreements}/{rep_c.total_queries}; badnets {rep_b.to_json()}")
    assert rep_b.disagreements["climb"] > 0 and rep_b.total_disagreements > 0


def test_differentiable_views_match_the_models(mnist, mnist_logreg, mnist_mlp):
    """The torch views Neural Cleanse differentiates are the bundles' own scores (logreg, mlp, rff)."""
    from undetectable.audit.base import NotApplicable
    from undetectable.audit.torch_view import logits_fn
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    digits = load_dataset("digits")
    rff = train_model("rff", digits, seed=0, n_features=200)
    for m, X in ((mnist_logreg, mnist.X_test[:50]), (mnist_mlp, mnist.X_test[:50]), (rff, digits.X_test[:50])):
        got = logits_fn(m)(torch.from_numpy(X.astype(np.float32))).detach().numpy()
        assert np.allclose(got, m.scores(X), atol=1e-3 * (1 + np.abs(m.scores(X)).max())), m.family
    relu = train_model("relu", digits, seed=0, n_features=100)
    with pytest.raises(NotApplicable):
        logits_fn(relu)
