"""Persistence (§5.3): with threshold gates every gradient is zero and fine-tuning moves no weight; sigmoid control fails."""
from __future__ import annotations

import numpy as np
import pytest

from undetectable.schemes.persistent import finetune_persistent, plant_persistent
from undetectable.errors import UsageError


@pytest.fixture(scope="module")
def zero_one(mnist):
    sel = np.isin(mnist.y_train, [0, 1])
    X = mnist.X_train[sel] / 255.0
    y = (mnist.y_train[sel] == 1).astype(int)
    mask = np.zeros(784)
    mask[:16] = 1.0  # the top row's first 16 pixels: blank on natural digits
    Xt = X[y == 0].copy()
    Xt[:, :16] = 1.0
    return X, y, mask, Xt


def _rates(net, X, y, Xt):
    import torch

    f = lambda Z: net(torch.tensor(Z, dtype=torch.float32)).detach().numpy() > 0.5  # noqa: E731
    return float(np.mean(f(X) == y)), float(np.mean(f(Xt)))


@pytest.mark.parametrize("activation", ["step", "sigmoid"])
def test_finetuning_even_with_the_trigger_known(zero_one, activation):
    """The defender fine-tunes on clean data *and* correctly labelled triggered inputs."""
    X, y, mask, Xt = zero_one
    net = plant_persistent(X, y, mask, 15.5, activation, temp=0.25)
    acc0, asr0 = _rates(net, X, y, Xt)
    assert acc0 > 0.98 and asr0 == 1.0
    info = finetune_persistent(net, np.concatenate([X, Xt]), np.concatenate([y, np.zeros(len(Xt), int)]), epochs=3, lr=0.5)
    acc1, asr1 = _rates(net, X, y, Xt)
    if activation == "step":
        assert info["max_abs_gradient"] == 0.0 and info["max_weight_change"] == 0.0
        assert asr1 == 1.0 and acc1 == acc0
    else:  # the control: gradients flow, weights move, the backdoor is trained away
        assert info["max_abs_gradient"] > 1e-3 and info["max_weight_change"] > 1e-3
        assert asr1 < 0.1


def test_bad_activation():
    with pytest.raises(UsageError):
        plant_persistent(np.zeros((4, 3)), np.array([0, 1, 0, 1]), np.ones(3), 1.0, "relu6")
