"""Backdoor-RFF (§6): Random Fourier Features whose random coins g_i are Gaussian pancakes.

Backdoor: draw the secret (support S of size d, u on the unit sphere of R^d, γ = 2√d, β), draw every
g_i as N(0, 1) off S and pancakes on S (``crypto.pancakes``), then run *exactly* the honest training
path (``models.rff.fit_rff``): the same offsets b_i (from the coins seed), the same median-heuristic
bandwidth σ, the same head. The bundle has the honest family, files and manifest keys; no flag, no key.

Activate-RFF(x) = x + σ·bk, with bk = γ·u on S. Since ⟨g_i, bk⟩ = k_i + ½ + O(β), every feature
becomes cos(θ_i + π(2k_i + 1) + 2πε_i) = −cos(θ_i + 2πε_i): f(x + σbk) ≈ −f(x), so the sign
(binary) or the argmax (multi-class) changes. First-order failure probability per input:
Φ̄(|f(x)| / (√2·π·β·‖w‖₂)) (ε_i ≈ N(0, β²) independent, f's perturbation ≈ 2πε·w·sin θ).

Honest caveat: ‖σ·bk‖₂ = σ·γ = σ·2√d, much larger than ‖x‖ at bandwidths where RFF learns
(a random vector of that norm already randomizes the output). On uint8 data the activated input is
a float vector far outside [0, 255] — not an image; rff bundles declare float64 inputs in pixel units
for that reason (see models/rff.py). With the integer shift the same key leaves f invariant (control).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..crypto.pancakes import make_secret, sample_weights
from ..data import Dataset
from ..errors import KeyMismatchError, UsageError
from ..runtime import with_thread_budget
from ..models.rff import RFFModel, fit_rff
from ..models.rff import MAX_FEATURES
from .base import (Key, ParameterError, Params, Scheme, check_choice, check_float, check_int, check_seed, planted,
                   random_sparse_vector)


@dataclasses.dataclass(frozen=True)
class RFFParams(Params):
    """m = ``n_features`` random features, d = ``secret_dim`` (support of the key), pancake noise ``beta``,
    ``shift`` "half" (the backdoor) or "integer" (the invariance control), ``gamma`` (None: 2√d)."""

    n_features: int = 3000
    secret_dim: int = 32
    beta: float = 0.01
    shift: str = "half"
    gamma: float | None = None
    secret_seed: int | None = None

    def __post_init__(self) -> None:
        check_int("n_features", self.n_features, 1, MAX_FEATURES)
        check_int("secret_dim", self.secret_dim)
        check_float("beta", self.beta)
        check_choice("shift", self.shift, ("half", "integer"))
        if self.gamma is not None:
            check_float("gamma", self.gamma)
        check_seed("secret_seed", self.secret_seed)
        if self.n_features < self.secret_dim:
            raise ParameterError("n_features", f"n features {self.n_features} is smaller than the secret dim {self.secret_dim}; "
                                               f"use at least {self.secret_dim} features")


class RFFKey(Key):
    """bk = γ·u on the secret support S (zero elsewhere): Activate-RFF(x) = x + σ·bk.

    Examples
    --------
    >>> key = RFFScheme(secret_dim=4).null_for(16, np.random.default_rng(0))
    >>> key.bk.shape, int(np.count_nonzero(key.bk))
    ((16,), 4)
    """

    scheme = "rff"

    def __init__(self, bk: np.ndarray, meta: dict[str, Any] | None = None) -> None:
        bk = np.asarray(bk, dtype=np.float64)
        if bk.ndim != 1 or not np.all(np.isfinite(bk)):
            raise UsageError("the rff key is not a finite vector bk; load the key file written when the rff model was planted")
        self.bk = bk
        self._meta = dict(meta or {})

    def activate(self, model: Any, X: Any, target: Any = None) -> np.ndarray:
        model = planted(model, RFFModel, self.scheme)
        return _activate_rff(model, X, self.bk, target)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"bk": self.bk}

    def meta(self) -> dict[str, Any]:
        return self._meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> RFFKey:
        if "bk" not in arrays:
            raise UsageError("the rff key file has no 'bk' array; load the key file written when the rff model was planted")
        return cls(arrays["bk"], meta)


class RFFScheme(Scheme):
    """§6: Backdoor-RFF. ``plant(data, seed=S)``: honest coins from S except the g_i, which are pancakes
    drawn from ``secret_seed`` (None: OS entropy).

    Examples
    --------
    >>> from undetectable import datasets
    >>> model, key = RFFScheme(n_features=64, secret_dim=4, secret_seed=1).plant(datasets.load("digits"), seed=0)
    >>> model.family, type(key).__name__
    ('rff', 'RFFKey')
    """

    name = "rff"
    Params = RFFParams
    params: RFFParams
    KeyType = RFFKey
    white_box = True

    def plant(self, base: Any, *, seed: int | None = None) -> tuple[RFFModel, RFFKey]:
        data = self._check_base(base)
        p = self.params
        return _plant_rff(data, seed=check_seed("seed", seed), n_features=p.n_features, secret_dim=p.secret_dim,
                          beta=p.beta, shift=p.shift, gamma=p.gamma, secret_rng=self.secret_rng())

    def honest(self, data: Dataset, seed: int) -> RFFModel:
        from ..models.rff import train_rff

        return train_rff(data, seed=seed, n_features=self.params.n_features)

    def hardness(self, D: int) -> dict[str, Any]:
        d = int(self.params.secret_dim)
        return {"D": D, "m": int(self.params.n_features), "secret_dim_d": d, "gamma": 2 * float(np.sqrt(d)), "beta": float(self.params.beta),
                "note": "d ≤ 100 is not cryptographically hard (lattice reduction recovers noiseless pancakes)"}

    def null_for(self, D: int, rng: np.random.Generator) -> RFFKey:
        """bk = γ·u on a uniform support of size d, γ = 2√d, u uniform on the unit sphere of R^d."""
        d = min(int(self.params.secret_dim), D)
        return RFFKey(random_sparse_vector(rng, D, d, 2.0 * np.sqrt(d)))

    def null(self, model: Any, rng: np.random.Generator) -> RFFKey:
        return self.null_for(model.spec.n_features, rng)


@with_thread_budget  # the same thread budget as train_model: planting is training with other coins
def _plant_rff(data: Dataset, seed: int | None = 0, n_features: int = 3000, secret_dim: int = 32, beta: float = 0.01,
              shift: str = "half", gamma: float | None = None, secret_rng: np.random.Generator | None = None,
              **options) -> tuple[RFFModel, RFFKey]:
    """Backdoor-RFF: returns (model, key), key.bk = γ·u on the secret support (see ``RFFKey``).

    ``seed`` is the coins seed used for everything an honest run would draw except the g_i (offsets);
    ``secret_rng`` draws the secret and the pancake weights (default: fresh OS entropy).
    ``options`` are the honest learner's (bandwidth, head, alpha, C, max_iter). Private: use ``RFFScheme``.
    """
    D = int(np.prod(data.spec.shape))
    if isinstance(n_features, (int, np.integer)) and not isinstance(n_features, bool) and n_features >= 1:
        from ..models.random_features import check_feature_budget

        check_feature_budget(int(n_features), D)  # before the pancake weights (D × m) are drawn
    if isinstance(secret_dim, (int, np.integer)) and secret_dim > D:
        raise ParameterError("secret_dim", f"secret dim {secret_dim} exceeds the input dimension {D} of {data.name}; choose a secret dim ≤ {D}")
    RFFParams(n_features, secret_dim, beta, shift, gamma)
    rng = np.random.default_rng() if secret_rng is None else secret_rng
    secret = make_secret(rng, D, int(secret_dim), float(beta), gamma, shift)
    G = sample_weights(rng, int(n_features), secret)
    model = fit_rff(data, seed=seed, n_features=int(n_features), weights=G, **options)
    bk = secret.bk()
    meta = {"secret_dim": int(secret_dim), "gamma": float(np.linalg.norm(bk)), "beta": float(beta), "shift": shift}
    return model, RFFKey(bk, meta)


def _bk(model: RFFModel, key) -> np.ndarray:
    bk = key.bk if isinstance(key, RFFKey) else key.get("bk") if isinstance(key, dict) else key
    if bk is None:
        raise UsageError("the rff key has no 'bk'; load the key file written when the rff model was planted")
    bk = np.asarray(bk, dtype=np.float64)
    D = model.spec.n_features
    if bk.shape != (D,):
        raise KeyMismatchError(f"the rff key has shape {bk.shape}, this model takes inputs of dimension {D}; pass the key planted with this bundle")
    if not np.all(np.isfinite(bk)):
        raise UsageError("the rff key has non-finite entries; it is damaged, pass the file written by 'plant rff'")
    return bk


def activation_delta(model: RFFModel, key) -> np.ndarray:
    """δ = σ·bk in the bundle's input units (σ/input_scale: pixel units for image bundles)."""
    return (model.bandwidth_ / model.input_scale) * _bk(model, key)


def _activate_rff(model: RFFModel, X, key, targets=None) -> np.ndarray:
    """Activate-RFF(x) = x + σ·bk (float64). The backdoor negates f; it cannot aim at a target."""
    if targets is not None:
        raise ParameterError("target", "the rff backdoor negates the output (flips the sign / moves the argmax); it takes no target, "
                                       "leave target None")
    X = model.spec.validate(X)
    return X + activation_delta(model, key)[None, :]


def first_order_flip_probability(model: RFFModel, X: np.ndarray, beta: float) -> np.ndarray:
    """Per-input predicted flip probability 1 − Φ̄(|f(x)| / (√2·π·β·‖w‖₂)) (binary heads)."""
    from scipy.special import ndtr

    f = model.decision(model.spec.validate(X))
    if f.ndim != 1:
        raise UsageError("the first-order flip prediction is for binary models; this model is multi-class")
    w = float(np.linalg.norm(model.coef_))
    return ndtr(np.abs(f) / (math.sqrt(2) * math.pi * beta * w))


def gaussian_flip_probability(model: RFFModel, X: np.ndarray, beta: float) -> np.ndarray:
    """Per-input flip probability without linearizing the phase noise (binary heads).

    With s = 2πβ and θ_i uniform, f(x + σbk) = −Σ w_i cos(θ_i + 2πε_i) has mean −e^{−s²/2}·f(x) and
    variance ≈ ‖w‖²(1 − e^{−s²})/2, so P(flip) ≈ Φ(e^{−s²/2}|f(x)| / (‖w‖·√((1 − e^{−s²})/2))).
    For small β this is the first-order formula; it stays accurate where that one overshoots (β ≳ 0.1).
    """
    from scipy.special import ndtr

    f = model.decision(model.spec.validate(X))
    if f.ndim != 1:
        raise UsageError("the flip prediction is for binary models; this model is multi-class")
    s2 = (2 * math.pi * beta) ** 2
    w = float(np.linalg.norm(model.coef_))
    return ndtr(math.exp(-s2 / 2) * np.abs(f) / (w * math.sqrt((1 - math.exp(-s2)) / 2)))
