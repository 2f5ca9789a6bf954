"""The robustness illusion: key-less attacks see h̃ as robust as h; Activate succeeds on every input."""
from __future__ import annotations

import numpy as np
import pytest

from undetectable.audit.robustness import pgd_linf, random_search_linf, robustness_illusion
from undetectable.errors import UsageError


@pytest.fixture(scope="module")
def sig_over_mlp(mnist_mlp, ed25519_key):
    from undetectable.schemes.signature import SignatureScheme

    return SignatureScheme(key=ed25519_key.public_key()).plant(mnist_mlp)[0]


def test_illusion(mnist, mnist_mlp, sig_over_mlp, ed25519_key):
    X = mnist.X_test[:80]
    y = np.searchsorted(mnist_mlp.classes, mnist.y_test[:80])
    rows = robustness_illusion(mnist_mlp, sig_over_mlp, X, y, lambda Z, t: sig_over_mlp.activate(Z, ed25519_key, t),
                               [0.5 / 255, 1 / 255, 4 / 255, 32 / 255], trials=3, steps=10, rng=0)
    half, one, four, big = rows
    assert half["activate_key"] == 0.0  # Activate needs one grey level: it does not fit in half of one
    assert one["activate_key"] == 1.0 and big["activate_key"] == 1.0
    for r in rows:  # h̃ looks exactly as robust as h to key-less attackers
        assert abs(r["pgd_honest"] - r["pgd_backdoored"]) <= 0.05
        assert abs(r["random_honest"] - r["random_backdoored"]) <= 0.15
    assert one["pgd_honest"] < 0.2  # at the key's budget the key-less attacker mostly fails ...
    assert big["pgd_honest"] > 0.5  # ... while the same attack does work at a large budget (control)
    assert big["pgd_honest"] >= four["pgd_honest"] >= one["pgd_honest"]


def test_attack_boundaries(mnist, mnist_mlp):
    X = mnist.X_test[:20]
    y = mnist_mlp.predict_index(X)
    assert not random_search_linf(mnist_mlp, X, y, 0.0, trials=2, rng=0).any()
    assert not pgd_linf(mnist_mlp, X, y, 0.5 / 255, rng=0).any()
    with pytest.raises(UsageError):
        random_search_linf(mnist_mlp, X, y, float("nan"))
