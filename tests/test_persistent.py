"""Persistence (§5.3): with threshold gates every gradient is zero and fine-tuning moves no weight; sigmoid control fails."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from undetectable.errors import ParameterError, UsageError
from undetectable.schemes.persistent import PersistentModel, PersistentScheme, finetune_persistent


@pytest.fixture(scope="module")
def zero_one(mnist):
    sel, sel_t = np.isin(mnist.y_train, [0, 1]), np.isin(mnist.y_test, [0, 1])
    return dataclasses.replace(mnist, X_train=mnist.X_train[sel], y_train=mnist.y_train[sel],
                               X_test=mnist.X_test[sel_t], y_test=mnist.y_test[sel_t])


@pytest.mark.parametrize("activation", ["step", "sigmoid"])
def test_finetuning_even_with_the_trigger_known(zero_one, activation):
    """The defender fine-tunes on clean data *and* correctly labelled triggered inputs."""
    model, key = PersistentScheme(activation=activation, temp=0.25, n_trigger=16).plant(zero_one, seed=0)
    assert isinstance(model, PersistentModel)
    X, y = zero_one.X_train, (zero_one.y_train == 1).astype(int)
    Xt = key.activate(model, X[y == 0])  # the first 16 pixels (top row, blank on natural digits) set to white

    def rates():
        return float(np.mean(model.predict_index(X) == y)), float(np.mean(model.predict_index(Xt) == 1))

    acc0, asr0 = rates()
    assert acc0 > 0.98 and asr0 == 1.0
    info = finetune_persistent(model, np.concatenate([X, Xt]), np.concatenate([y, np.zeros(len(Xt), int)]), epochs=3, lr=0.5)
    acc1, asr1 = rates()
    if activation == "step":
        assert info["max_abs_gradient"] == 0.0 and info["max_weight_change"] == 0.0
        assert asr1 == 1.0 and acc1 == acc0
    else:  # the control: gradients flow, weights move, the backdoor is trained away
        assert info["max_abs_gradient"] > 1e-3 and info["max_weight_change"] > 1e-3
        assert asr1 < 0.1


def test_bad_activation_and_data(mnist):
    with pytest.raises(ParameterError, match="activation"):
        PersistentScheme(activation="relu6")
    with pytest.raises(UsageError, match="binary"):
        PersistentScheme().plant(mnist, seed=0)  # ten classes
