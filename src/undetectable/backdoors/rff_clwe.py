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

import math
import os

import numpy as np

from ..crypto.pancakes import make_secret, sample_weights
from ..data import Dataset
from ..errors import KeyMismatchError, UsageError
from ..models.rff import RFFModel, fit_rff

KEY_SCHEME = "rff"


def plant_rff(data: Dataset, seed: int = 0, n_features: int = 3000, secret_dim: int = 32, beta: float = 0.01,
              shift: str = "half", gamma: float | None = None, secret_rng: np.random.Generator | None = None,
              **options) -> tuple[RFFModel, dict[str, np.ndarray]]:
    """Backdoor-RFF: returns (model, key) with key = {"bk": (D,) float64, γ·u on the secret support}.

    ``seed`` is the coins seed used for everything an honest run would draw except the g_i (offsets);
    ``secret_rng`` draws the secret and the pancake weights (default: fresh OS entropy).
    ``options`` are the honest learner's (bandwidth, head, alpha, C, max_iter).
    """
    D = int(np.prod(data.spec.shape))
    if not isinstance(n_features, (int, np.integer)) or n_features < 1:
        raise UsageError(f"--features must be a positive integer; got {n_features!r}")
    if not isinstance(secret_dim, (int, np.integer)) or secret_dim < 1:
        raise UsageError(f"--secret-dim must be a positive integer; got {secret_dim!r}")
    if secret_dim > D:
        raise UsageError(f"--secret-dim {secret_dim} exceeds the input dimension {D} of {data.name}; choose --secret-dim ≤ {D}")
    if n_features < secret_dim:
        raise UsageError(f"--features {n_features} is smaller than --secret-dim {secret_dim}; use at least {secret_dim} features")
    if not (isinstance(beta, (int, float, np.floating)) and math.isfinite(beta) and beta > 0):
        raise UsageError(f"--beta must be a positive finite number; got {beta!r} (try 0.01)")
    if shift not in ("half", "integer"):
        raise UsageError(f"--shift must be 'half' (the backdoor) or 'integer' (the invariance control); got {shift!r}")
    rng = np.random.default_rng() if secret_rng is None else secret_rng
    secret = make_secret(rng, D, int(secret_dim), float(beta), gamma, shift)
    G = sample_weights(rng, int(n_features), secret)
    model = fit_rff(data, seed=seed, n_features=int(n_features), weights=G, **options)
    return model, {"bk": secret.bk()}


def save_rff_key(path: str | os.PathLike, key: dict[str, np.ndarray], meta: dict, force: bool = False):
    """Write the key with ``keys.save_secret`` (scheme "rff", mode 0600)."""
    from ..keys import save_secret

    return save_secret(path, KEY_SCHEME, {"bk": np.asarray(key["bk"], dtype=np.float64)}, meta, force)


def load_rff_key(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an rff key file → {"bk": (D,)}; refuses other schemes and files without bk."""
    from ..keys import load_secret

    _, arrays, _ = load_secret(path, KEY_SCHEME)
    if "bk" not in arrays:
        raise UsageError(f"key file {path} has no 'bk' array; pass the --key-out file written by 'undetectable plant rff'")
    return {"bk": arrays["bk"]}


def _bk(model: RFFModel, key) -> np.ndarray:
    bk = key.get("bk") if isinstance(key, dict) else key
    if bk is None:
        raise UsageError("the rff key has no 'bk'; pass the --key-out file written by 'undetectable plant rff'")
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


def activate_rff(model: RFFModel, X, key, targets=None) -> np.ndarray:
    """Activate-RFF(x) = x + σ·bk (float64). The backdoor negates f; it cannot aim at a target."""
    if targets is not None:
        raise UsageError("the rff backdoor negates the output (flips the sign / moves the argmax); it takes no target, drop --target")
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
