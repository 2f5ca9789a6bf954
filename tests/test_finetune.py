"""Post-processing baselines: fine-tuning and fine-pruning touch weights; the signature verifier is not in them."""
from __future__ import annotations

import numpy as np
import pytest

from undetectable.bundle import Model
from undetectable.defend.finetune import fine_prune, finetune, last_hidden_activations
from undetectable.errors import UsageError
from undetectable.spec import InputSpec


@pytest.fixture(scope="module")
def sig_mlp(mnist_mlp, ed25519_key):
    from undetectable.schemes.signature import SignatureScheme

    return SignatureScheme(key=ed25519_key.public_key()).plant(mnist_mlp)[0]


@pytest.fixture(scope="module")
def badnets_mlp(mnist):
    from undetectable.schemes.badnets import BadNetsScheme
    from undetectable.schemes.base import Learner

    return BadNetsScheme(poison_rate=0.1, target=0, learner=Learner("mlp", {'epochs': 5}), secret_seed=0).plant(mnist, seed=0)


def _weights(m):
    return np.concatenate([p.detach().numpy().ravel() for p in m.net.parameters()])


def test_signature_backdoor_survives_finetuning_and_pruning(mnist, mnist_mlp, sig_mlp, ed25519_key):
    X = mnist.X_test[:60]
    t = (np.searchsorted(sig_mlp.classes, mnist.y_test[:60]) + 1) % 10
    Xc, yc = mnist.X_train[:1500], mnist.y_train[:1500]
    ft = finetune(sig_mlp, Xc, yc, epochs=1, seed=0)
    fp, info = fine_prune(sig_mlp, Xc, yc, epochs=1, seed=0)
    for m in (ft, fp):
        assert m.family == "signature" and m.base is not sig_mlp.base
        assert np.linalg.norm(_weights(m.base) - _weights(mnist_mlp)) > 1e-3  # the weights did move (control)
        assert np.mean(m.predict_index(m.activate(X, ed25519_key, t)) == t) == 1.0
    assert np.array_equal(sig_mlp.base.net[0].weight.detach().numpy(), mnist_mlp.net[0].weight.detach().numpy())  # input untouched
    assert info["pruned_units"] >= 1
    # pruned units stay at zero through fine-tuning
    act = last_hidden_activations(fp.base, mnist.X_test[:200])
    assert np.sum(act == 0) >= info["pruned_units"]


def test_post_processing_on_badnets(mnist, badnets_mlp):
    """Fine-tuning / fine-pruning on clean data: measured, with the badnets ASR before as the control."""
    from undetectable.schemes.badnets import attack_success_rate

    model, key = badnets_mlp
    X, y = mnist.X_test, mnist.y_test
    asr0 = attack_success_rate(model, X, y, key)
    acc0 = np.mean(model.predict(X) == y)
    fp, info = fine_prune(model, mnist.X_train, mnist.y_train, epochs=3, lr=1e-2, seed=0)
    asr1 = attack_success_rate(fp, X, y, key)
    acc1 = np.mean(fp.predict(X) == y)
    assert asr0 > 0.9  # control: the poisoned model is backdoored
    assert acc1 >= acc0 - 0.05
    assert asr1 < asr0 - 0.2, (asr0, asr1, info)


def test_refuses_non_mlp():
    class Toy(Model):
        family = "toy"

        def predict_index(self, X):
            return np.zeros(len(X), dtype=np.int64)

    with pytest.raises(UsageError, match="torch-mlp"):
        finetune(Toy(InputSpec((2,), "float64"), [0, 1]), np.zeros((4, 2)), np.zeros(4, dtype=int))
