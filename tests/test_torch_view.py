"""One differentiable view per family: every torch forward (detectors, meta-classifier shadows, PGD) is
``torch_view.logits_fn`` and agrees with the model's own scores."""
from __future__ import annotations

import numpy as np
import pytest

import undetectable as ud
from undetectable.audit.base import CAPABILITIES
from undetectable.audit.meta import _torch_forward, torch_state
from undetectable.audit.robustness import _network
from undetectable.audit.torch_view import logits_fn


@pytest.mark.parametrize("kind,opts", [("mlp", {"epochs": 1, "hidden": 16}), ("logreg", {"max_iter": 30}), ("rff", {"n_features": 40})])
def test_views_agree_with_scores(kind, opts):
    import torch

    d = ud.datasets.load("digits")
    m = ud.train(kind, d, seed=0, **opts)
    X = d.X_test[:6]
    x = torch.from_numpy(X.astype(np.float32))
    assert CAPABILITIES["logits_torch"](m) and CAPABILITIES["scores"](m)
    s = m.scores(X)
    s = np.column_stack([-s, s]) if s.ndim == 1 else s
    assert np.allclose(logits_fn(m)(x).detach().numpy(), s, atol=1e-3)
    if kind != "rff":  # PGD works in [0, 1] units
        assert np.allclose(_network(m)(x / 16.0).detach().numpy(), s, atol=1e-3)
    if kind == "mlp":  # a shadow crosses processes as arrays and is rebuilt with the same view
        assert np.allclose(_torch_forward(torch_state(m))(x).detach().numpy(), s, atol=1e-5)


def test_label_only_and_weightless_models_lack_capabilities():
    d = ud.datasets.load("digits")
    m = ud.train("relu", d, seed=0, n_features=30)
    assert CAPABILITIES["weights"](m) and not CAPABILITIES["logits_torch"](m)
    assert not CAPABILITIES["weights"](ud.train("logreg", d, max_iter=20))
