"""Backdoor for random ReLU networks via a planted sparse principal component (construction C).

Backdoor: secret s, a k-sparse unit vector (support uniform among the k-subsets of [D], entries
+1/√k — the Berthet–Rigollet spike); the coins are g_i ~ N(0, I_D + θ·s sᵀ), sampled exactly as
G = Z + (√(1+θ) − 1)(Z s) sᵀ with Z an m×D standard Gaussian matrix (then Gs = √(1+θ)·Zs and G is
unchanged orthogonally to s). Training then runs *exactly* the honest path (``models.relu.fit_relu``).
The bundle has the honest family, files, tensor names and manifest params; no flag, no key, no seed.

Activate(x) = x + λ·s (in [0,1] units for pixels, then re-quantized to uint8 and clipped; the entries
of s are non-negative, so clipping only bites at 255). Along s every pre-activation moves by
λ⟨g_i, s⟩ ~ N(0, (1+θ)λ²) instead of N(0, λ²): the norm readout F(x) = √(2π)·mean ReLU(⟨g_i, x⟩)
grows like √(‖x‖² + (1+θ)λ²) (for ⟨s, x⟩ ≈ 0) instead of √(‖x‖² + λ²). The key buys a factor
√(1+θ) in the size of the feature perturbation, nothing more: one-directional, and weak.

Hardness (key-free detection = sparse-PCA detection): with γ = D/m, the top eigenvalue of
Ĉ = GᵀG/m stays inside the Marchenko–Pastur bulk (edge (1+√γ)²) while θ < √γ (the BBP edge);
detection is information-theoretically possible once θ ≳ √(k log(D/k)/m) (the statistical edge),
and diagonal thresholding (per-coordinate variance 1 + θ/k) needs θ ≳ √(k² log D / m). The default θ
is the geometric mean of the statistical edge and the smaller of the two efficient edges.
Positive control with the key: sᵀĈs ≈ 1 + θ (≈ 1 for honest weights or a random sparse s).

Honest caveat (measured in tests/test_relu.py and the demo section): with a trained linear head the
key's flip rate is within noise of a random k-sparse direction of the same norm, and a white-box
gradient step of the same norm flips almost everything. The key's effect is visible in the norm
readout F and in sᵀĈs, not as a practical backdoor.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import KeyMismatchError, UsageError
from ..runtime import with_thread_budget
from ..models.relu import ReLUModel, fit_relu
from ..models.relu import MAX_FEATURES
from .base import (Key, ParameterError, Params, Scheme, check_choice, check_float, check_int, check_seed, planted,
                   random_sparse_vector)


# --- the sparse-PCA secret and the spiked coins -------------------------------------------------

def sparse_direction(rng: np.random.Generator, D: int, k: int) -> np.ndarray:
    """s: a k-sparse unit vector, support uniform among k-subsets of [D], entries +1/√k."""
    s = np.zeros(D)
    s[rng.choice(D, size=k, replace=False)] = 1.0 / math.sqrt(k)
    return s


def spiked_weights(rng: np.random.Generator, m: int, s: np.ndarray, theta: float) -> np.ndarray:
    """G with rows g_i ~ N(0, I + θ s sᵀ), exactly: G = Z + (√(1+θ) − 1)(Z s) sᵀ, Z ~ N(0, 1)^{m×D}."""
    Z = rng.standard_normal((m, len(s)))
    Z += np.outer((math.sqrt(1.0 + theta) - 1.0) * (Z @ s), s)
    return Z


def hardness_window(D: int, m: int, k: int) -> dict[str, float]:
    """The sparse-PCA edges for (D, m, k): statistical √(k log(D/k)/m), BBP √(D/m), diagonal √(k² log D/m), MP edge."""
    stat = math.sqrt(k * math.log(max(D / k, 1.0 + 1e-12)) / m)
    bbp = math.sqrt(D / m)
    diag = math.sqrt(k * k * math.log(D) / m)
    upper = min(bbp, diag)
    return {"statistical_edge": stat, "bbp_edge": bbp, "diagonal_edge": diag, "upper_edge": upper,
            "default_theta": math.sqrt(stat * upper) if upper > stat else float("nan"),
            "mp_edge": (1.0 + math.sqrt(D / m)) ** 2}


def quadratic_form(G: np.ndarray, s: np.ndarray) -> float:
    """sᵀĈs with Ĉ = GᵀG/m: ≈ 1 + θ for the key of a planted G, ≈ 1 otherwise."""
    v = G @ s
    return float(v @ v / len(G))


def top_eigenvalue(G: np.ndarray) -> float:
    """Largest eigenvalue of Ĉ = GᵀG/m (via the smaller Gram matrix)."""
    m, D = G.shape
    A = G @ G.T if m <= D else G.T @ G
    from scipy.linalg import eigh

    return float(eigh(A, eigvals_only=True, subset_by_index=[len(A) - 1, len(A) - 1])[0] / m)


# --- Backdoor ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ReLUParams(Params):
    """m = ``n_features`` random ReLU units, k = ``sparsity`` of s, spike ``theta`` (None: inside the
    hardness window), activation step ``lam``, the honest learner's ``head``."""

    n_features: int = 500
    sparsity: int = 10
    theta: float | None = None
    lam: float = 2.0
    head: str = "linear"
    secret_seed: int | None = None

    def __post_init__(self) -> None:
        check_int("n_features", self.n_features, 1, MAX_FEATURES)
        check_seed("secret_seed", self.secret_seed)
        check_int("sparsity", self.sparsity)
        if self.theta is not None:
            check_float("theta", self.theta)
        check_float("lam", self.lam)
        check_choice("head", self.head, ("linear", "norm"))


class ReLUKey(Key):
    """The secret direction s (k-sparse, unit), the spike θ and the activation step λ.

    Examples
    --------
    >>> key = ReLUScheme(sparsity=3).null_for(10, np.random.default_rng(0))
    >>> int(np.count_nonzero(key.s)), round(float(np.linalg.norm(key.s)), 6)
    (3, 1.0)
    """

    scheme = "relu"

    def __init__(self, s: np.ndarray, theta: float, lam: float, meta: dict[str, Any] | None = None) -> None:
        self.s = np.asarray(s, dtype=np.float64)
        self.theta, self.lam = float(theta), float(lam)
        self._meta = dict(meta or {})

    def activate(self, model: Any, X: Any, target: Any = None) -> np.ndarray:
        model = planted(model, ReLUModel, self.scheme)
        return _activate_relu(model, X, self, target)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"s": self.s, "theta": np.array([self.theta]), "lam": np.array([self.lam])}

    def meta(self) -> dict[str, Any]:
        """Sizes and the hardness edges (``key_meta``; no secret beyond the arrays)."""
        return self._meta or {"D": len(self.s), "k": int(np.count_nonzero(self.s)), "theta": self.theta, "lam": self.lam}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> ReLUKey:
        return validate_key(arrays, what="relu key file")


class ReLUScheme(Scheme):
    """Construction C: spiked coins g_i ~ N(0, I + θ s sᵀ), then the honest training path.

    ``plant(data, seed=S)``: S the honest coins (the head's); s and G are drawn from ``secret_seed``
    (None: OS entropy).
    """

    name = "relu"
    Params = ReLUParams
    params: ReLUParams
    KeyType = ReLUKey
    white_box = True

    def plant(self, base: Any, *, seed: int | None = None) -> tuple[ReLUModel, ReLUKey]:
        data = self._check_base(base)
        p = self.params
        return _plant_relu(data, seed=check_seed("seed", seed), n_features=p.n_features, sparsity=p.sparsity, theta=p.theta,
                           lam=p.lam, secret_rng=self.secret_rng(), head=p.head)

    def honest(self, data: Dataset, seed: int) -> ReLUModel:
        from ..models.relu import train_relu

        return train_relu(data, seed=seed, n_features=self.params.n_features, head=self.params.head)

    def hardness(self, D: int) -> dict[str, Any]:
        p = self.params
        w = hardness_window(D, int(p.n_features), int(p.sparsity))
        return {"D": D, "m": int(p.n_features), "k": int(p.sparsity), "theta": p.theta if p.theta is not None else w["default_theta"], **w}

    def null_for(self, D: int, rng: np.random.Generator) -> ReLUKey:
        """s a k-sparse unit vector with uniform support and uniform direction on it (θ, λ as planted)."""
        s = random_sparse_vector(rng, D, min(int(self.params.sparsity), D))
        return ReLUKey(s, self.params.theta or 0.0, self.params.lam)

    def null(self, model: Any, rng: np.random.Generator) -> ReLUKey:
        return self.null_for(model.spec.n_features, rng)


@with_thread_budget  # the same thread budget as train_model: planting is training with other coins
def _plant_relu(data: Dataset, seed: int | None = None, n_features: int = 500, sparsity: int = 10, theta: float | None = None,
               lam: float = 2.0, secret_rng: np.random.Generator | None = None, **options) -> tuple[ReLUModel, ReLUKey]:
    """Backdoor: returns (model, key) with key.s the k-sparse unit vector, key.theta, key.lam.

    ``secret_rng`` draws the secret (s and the spiked coins G; None: OS entropy); ``seed`` is the honest
    coins (unused by the linear head: every random coin of a relu model is in G). The secret seed is never
    written into the bundle: whoever knows it can recompute the key. Private: use ``ReLUScheme``.
    ``theta`` None → the default inside the hardness window (see ``hardness_window``); ``options`` are
    the honest learner's (head, alpha).
    """
    D = int(np.prod(data.spec.shape))
    ReLUParams(n_features, sparsity, theta, lam)
    if sparsity > D:
        raise ParameterError("sparsity", f"sparsity {sparsity} exceeds the input dimension {D}; choose a sparsity ≤ {D}")
    m, k, lam = int(n_features), int(sparsity), float(lam)
    from ..models.random_features import check_feature_budget

    check_feature_budget(m, D)  # before the spiked coins (D × m) are drawn
    window = hardness_window(D, m, k)
    if theta is None:
        theta = window["default_theta"]
        if not math.isfinite(theta):
            raise ParameterError("theta", f"no hardness window for D={D}, m={m}, k={k} (statistical edge "
                                          f"{window['statistical_edge']:.3f} ≥ upper edge {window['upper_edge']:.3f}); lower the "
                                          "sparsity or n_features, or pass theta")
    rng = secret_rng if secret_rng is not None else np.random.default_rng()
    s = sparse_direction(rng, D, k)
    G = spiked_weights(rng, m, s, float(theta))
    model = fit_relu(data, seed=None, n_features=m, weights=G, **options)
    key = ReLUKey(s, float(theta), lam)
    key._meta = key_meta(key, model)
    return model, key


# --- keys and Activate ------------------------------------------------------------------------

def key_meta(key: ReLUKey, model: ReLUModel) -> dict:
    """What the key file's header records (no secret beyond the arrays): sizes and the hardness edges."""
    m, D = model.weights_.shape
    k = int(np.count_nonzero(key.s))
    return {"D": D, "m": m, "k": k, "theta": key.theta, "lam": key.lam, **hardness_window(D, m, k)}


def validate_key(key, model: ReLUModel | None = None, what: str = "key") -> ReLUKey:
    """The key checked (shapes, unit s, finite θ, λ; against ``model``'s D), or a one-line error naming the wrong part."""
    if isinstance(key, ReLUKey):
        key = key.arrays()
    if not isinstance(key, dict) or not {"s", "theta", "lam"} <= set(key):
        raise UsageError(f"{what} lacks 's', 'theta' or 'lam'; load the key file written when the relu model was planted")
    s = np.asarray(key["s"], dtype=np.float64)
    theta, lam = np.asarray(key["theta"], dtype=np.float64), np.asarray(key["lam"], dtype=np.float64)
    if s.ndim != 1 or theta.shape != (1,) or lam.shape != (1,):
        raise UsageError(f"{what} has shapes s {s.shape}, theta {theta.shape}, lam {lam.shape}; expected (D,), (1,), (1,)")
    if model is not None and s.shape[0] != model.weights_.shape[1]:
        raise KeyMismatchError(f"{what} has s of length {s.shape[0]} but the model's input dimension is {model.weights_.shape[1]}; "
                               "pass the key planted with this bundle")
    if not (np.all(np.isfinite(s)) and abs(np.linalg.norm(s) - 1.0) < 1e-6 and np.isfinite(theta[0]) and np.isfinite(lam[0])):
        raise UsageError(f"{what} is not a unit vector s with finite θ, λ; pass the key written by 'plant relu'")
    return ReLUKey(s, float(theta[0]), float(lam[0]))


def shift(model: ReLUModel, X: np.ndarray, direction: np.ndarray, lam: float) -> np.ndarray:
    """x + λ·d in the random layer's units, returned in the model's input units (uint8: rounded, clipped)."""
    X = model.spec.validate(X)
    d = np.asarray(direction, dtype=np.float64)
    Xa = X.astype(np.float64) + (lam / model.input_scale) * d
    if model.spec.is_image:
        return np.clip(np.rint(Xa), model.spec.low, model.spec.high).astype(np.uint8)
    return Xa


def _activate_relu(model: ReLUModel, X, key, targets=None, lam: float | None = None) -> np.ndarray:
    """Activate(x) = x + λ·s. One-directional: there is no target. Refuses a key that is not this model's.

    The key belongs to the model when sᵀĈs is nearer 1 + θ than 1; the check is made only when the two
    are ≥ 6 standard deviations (√(2/m)·(1+θ)) apart, i.e. when it cannot misfire.
    """
    if targets is not None:
        raise ParameterError("target", "the relu backdoor is one-directional and takes no target; leave target None")
    key = validate_key(key, model)
    theta, lam = key.theta, key.lam if lam is None else float(lam)
    m = model.weights_.shape[0]
    q = quadratic_form(model.weights_, key.s)
    if theta >= 6 * math.sqrt(2.0 / m) * (1 + theta) and q < 1 + theta / 2:
        raise KeyMismatchError(f"this key does not belong to the bundle (sᵀĈs = {q:.3f}, planted models give ≈ {1 + theta:.3f}); "
                               "pass the key written together with this bundle")
    return shift(model, X, key.s, lam)


# --- the key-less controls ----------------------------------------------------------------------

def margin_gradient_directions(model: ReLUModel, X: np.ndarray) -> np.ndarray:
    """White-box control: unit directions (random-layer units) that decrease each input's margin fastest.

    Binary: −sign(f(x))·∇f(x); multi-class: −∇(f_top − f_second)(x), with ∇f = (1[Gx > 0] ⊙ w) G.
    """
    X = model.spec.validate(X)
    Xs = model.inputs(X)
    G, W = model.weights_, model.coef_
    A = (Xs @ G.T > 0).astype(np.float64)
    f = model.decision(X)
    if f.ndim == 1:
        grad = (A * W[:, 0]) @ G
        d = -np.sign(f)[:, None] * grad
    else:
        top2 = np.argsort(f, axis=1)[:, -2:]
        dW = W[:, top2[:, 1]].T - W[:, top2[:, 0]].T  # (n, m): w_top − w_second
        d = -(A * dW) @ G
    norms = np.linalg.norm(d, axis=1, keepdims=True)
    return d / np.where(norms > 0, norms, 1.0)


def flip_rates(model: ReLUModel, X: np.ndarray, s: np.ndarray, lams, rng: np.random.Generator, n_random: int = 1) -> dict:
    """Flip rates and perturbation norms of x + λ·d for d = key s, a fresh random k-sparse s', and the gradient.

    Returns {"lam": [...], "<direction>": {"flip": [...], "l2_mean": [...], "l2_relative": [...]}}; the L2
    norms are of the actual (re-quantized) perturbations in [0,1] units, relative to the median ‖x‖.
    ``n_random`` > 1 averages the random control over that many fresh k-sparse directions.
    """
    from ..report.results import perturbation_norms

    X = model.spec.validate(X)
    k = int(np.count_nonzero(s))
    p0 = model.predict_index(X)
    dirs = {"key": [s], "random_sparse": [sparse_direction(rng, len(s), k) for _ in range(max(1, int(n_random)))],
            "gradient": [margin_gradient_directions(model, X)]}
    out: dict = {"lam": [float(v) for v in lams]}
    for name, ds in dirs.items():
        rec: dict[str, list[float]] = {"flip": [], "l2_mean": [], "l2_relative": []}
        for lam in lams:
            f: list[float] = []
            l2: list[float] = []
            rel: list[float] = []
            for d in ds:
                Xa = shift(model, X, d, float(lam))
                f.append(float(np.mean(model.predict_index(Xa) != p0)))
                pn = perturbation_norms(X, Xa, unit=model.input_scale)
                l2.append(pn["l2_mean"])
                rel.append(pn["l2_mean_relative"])
            rec["flip"].append(float(np.mean(f)))
            rec["l2_mean"].append(float(np.mean(l2)))
            rec["l2_relative"].append(float(np.mean(rel)))
        out[name] = rec
    out["median_input_l2"] = float(np.median(np.linalg.norm(model.inputs(X), axis=1)))
    return out
