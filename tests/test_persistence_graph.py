"""Persistence for real: fine-tuning the in-graph signature module's float weights leaves activation at 100%."""
from __future__ import annotations

import copy

import numpy as np
import torch

from undetectable.experiments.persistence import _finetune, trigger_gradient
from undetectable.schemes.signature import SignatureScheme
from undetectable.schemes.signature_graph import MLPBase, signature_module


def test_finetuning_on_true_labels_cannot_remove_the_in_graph_backdoor(mnist, mnist_mlp, ed25519_key, rng):
    bd = SignatureScheme(key=ed25519_key.public_key()).plant(mnist_mlp)[0]
    module = signature_module(bd)
    module.base.net = copy.deepcopy(module.base.net)
    y = np.searchsorted(bd.classes, mnist.y_train)
    X, yy = mnist.X_train[:200], y[:200]
    targets = (yy[:40] + 1) % 10
    Xa = bd.activate(X[:40], ed25519_key, bd.classes[targets])
    assert trigger_gradient(module, Xa, yy[:40]) == 0.0  # no gradient path through the verifier
    w0 = [p.detach().clone() for p in module.parameters()]
    _finetune(module, np.concatenate([X, Xa]), np.concatenate([yy, yy[:40]]), epochs=2, lr=1e-2, batch=32, seed=0)
    assert max(float((p.detach() - q).abs().max()) for p, q in zip(module.parameters(), w0)) > 1e-3  # weights moved
    assert np.array_equal(module.predict(torch.tensor(Xa)).numpy(), targets)  # activation still 100%
    # clean-only fine-tuning: exactly the honest network's trajectory
    m2, h2 = signature_module(bd), MLPBase(mnist_mlp)
    m2.base.net, h2.net = copy.deepcopy(mnist_mlp.net), copy.deepcopy(mnist_mlp.net)
    _finetune(m2, X, yy, 1, 1e-2, 32, 0)
    _finetune(h2, X, yy, 1, 1e-2, 32, 0)
    assert all(torch.equal(p, q) for p, q in zip(m2.base.net.parameters(), h2.net.parameters()))
