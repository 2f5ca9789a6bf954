"""Random Fourier Features (Rahimi–Recht) with a linear head: the honest Train-RFF of §6.

φ_i(x) = cos(2π(⟨g_i, x/σ⟩ + b_i)),  g_i ~ N(0, I_D),  b_i ~ U[0, 1),  i = 1..m;
f(x) = Σ_i w_i φ_i(x) (binary: sign; multi-class: one column per class, argmax).

* The head is fitted **without an intercept** (ridge on ±1 targets, or logistic regression):
  then f is odd under negating every feature, which the CLWE backdoor does (an intercept would
  survive the negation and break the flip).
* σ (the bandwidth) by the median heuristic: σ = π·median‖x − x'‖ over a deterministic subsample of
  the training data, i.e. the kernel exp(−2π²‖x−x'‖²/σ²) = exp(−2‖x−x'‖²/median²). Measured: on
  synthetic this beats σ = 2π·median (length scale = median) by ~3 points; on mnist5k they tie (±1).
* Random coins come **only** from ``models.coins.coin_rng(seed, "rff/weights")`` (the m×D matrix G,
  drawn as one ``standard_normal((m, D))``) and ``coin_rng(seed, "rff/offsets")`` (b, one ``random(m)``).

``RFFClassifier`` is a scikit-learn estimator. ``RFFModel`` is the bundle family ``"rff"``: it stores
G as ONE 2-D safetensors array, b and the head, and the bandwidth in the manifest params. Pixel
inputs (uint8) are fed to the features in [0, 1] units (``input_scale`` = 1/255), and an rff bundle
built on uint8 data declares **float64 inputs in pixel units with no range limit**: the model is a
function on R^D, uint8 images are accepted as they are, and Activate-RFF's outputs (far outside
[0, 255], see the honest caveat in schemes/rff.py) are accepted too.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data import Dataset
from ..errors import UsageError
from ..spec import InputSpec
from .coins import coin_rng, seed_of
from .random_features import (RandomFeaturesClassifier, RandomFeaturesModel, check_feature_budget, onnx_classifier,
                              validate_fit_data)

MEDIAN_SUBSAMPLE = 1000
BANDWIDTH_FACTOR = math.pi  # σ = π · median pairwise distance
BLOCK_ROWS = 2048



#: The most random features a model may have (each is a D-vector of float64: bounded memory).
MAX_FEATURES = 100_000

def median_bandwidth(X: np.ndarray) -> float:
    """σ = π·median pairwise distance over ≤ 1000 evenly spaced training rows (deterministic; no coins)."""
    from scipy.spatial.distance import pdist

    n = len(X)
    idx = np.unique(np.linspace(0, n - 1, min(n, MEDIAN_SUBSAMPLE)).astype(np.int64))
    if len(idx) < 2:
        return 1.0
    med = float(np.median(pdist(np.asarray(X[idx], dtype=np.float64))))
    return BANDWIDTH_FACTOR * med if med > 0 and math.isfinite(med) else 1.0


def honest_weights(seed: int, m: int, D: int) -> np.ndarray:
    """The honest coins g_1..g_m ~ N(0, I_D) as rows: ``coin_rng(seed, "rff/weights").standard_normal((m, D))``."""
    return coin_rng(seed, "rff/weights").standard_normal((m, D))


def honest_offsets(seed: int, m: int) -> np.ndarray:
    """The offsets b_1..b_m ~ U[0, 1): ``coin_rng(seed, "rff/offsets").random(m)``."""
    return coin_rng(seed, "rff/offsets").random(m)


class RFFClassifier(RandomFeaturesClassifier):
    """Random Fourier Features + a linear head without intercept (scikit-learn estimator).

    Parameters
    ----------
    n_features : m, the number of random features.
    bandwidth : σ; None for the median heuristic (σ = π·median pairwise distance).
    head : "ridge" (closed form on ±1 targets, regularization ``alpha``) or "logistic" (``C``, ``max_iter``).
    random_state : the coins seed S (non-negative int; None draws one). Coins come only from
        ``coin_rng(S, "rff/weights")`` and ``coin_rng(S, "rff/offsets")``.

    Attributes
    ----------
    weights_ : (m, D) the g_i as rows.  offsets_ : (m,) the b_i.  bandwidth_ : σ.
    coef_ : (m,) (binary) or (m, C) (multi-class) head.  classes_, n_features_in_.
    """

    def __init__(self, n_features: int = 1000, bandwidth: float | None = None, head: str = "ridge",
                 alpha: float = 100.0, C: float = 1.0, max_iter: int = 300, random_state: int | None = 0) -> None:
        self.n_features = n_features
        self.bandwidth = bandwidth
        self.head = head
        self.alpha = alpha
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    # --- fitting ------------------------------------------------------------------------------
    def fit(self, X, y) -> RFFClassifier:
        """Train-RFF: draw honest coins, then fit the head on φ(X)."""
        return self._fit(X, y, weights=None)

    def _fit(self, X, y, weights: np.ndarray | None) -> RFFClassifier:
        """The one training path. ``weights`` replaces the g_i coins (Backdoor-RFF); nothing else differs."""
        X, y = validate_fit_data(self, X, y)
        if self.head not in ("ridge", "logistic"):
            raise ValueError(f"head must be 'ridge' or 'logistic'; got {self.head!r}")
        self.classes_, yi = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"RFFClassifier needs samples of at least 2 classes in the data; got 1 class ({self.classes_[0]!r})")
        seed = seed_of(self.random_state)
        m, D = int(self.n_features), X.shape[1]
        if self.bandwidth is None:
            self.bandwidth_ = median_bandwidth(X)
        else:
            if not (math.isfinite(float(self.bandwidth)) and float(self.bandwidth) > 0):
                raise ValueError(f"bandwidth must be a positive finite number or None; got {self.bandwidth!r}")
            self.bandwidth_ = float(self.bandwidth)
        if weights is None:
            weights = honest_weights(seed, m, D)
        elif weights.shape != (m, D):
            raise ValueError(f"weights must have shape ({m}, {D}); got {weights.shape}")
        self.weights_ = np.ascontiguousarray(weights, dtype=np.float64)
        self.offsets_ = honest_offsets(seed, m)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        Phi = self.features(X)
        C = len(self.classes_)
        if self.head == "ridge":
            Y = (2.0 * yi - 1.0) if C == 2 else (2.0 * np.eye(C)[yi] - 1.0)
            self.coef_ = _ridge(Phi, Y, float(self.alpha))
            self.n_iter_ = 1  # closed form
        else:
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=self.C, fit_intercept=False, max_iter=self.max_iter).fit(Phi, yi)
            self.coef_ = lr.coef_[0].copy() if C == 2 else lr.coef_.T.copy()
            self.n_iter_ = int(np.max(lr.n_iter_))
        return self

    # --- evaluation ---------------------------------------------------------------------------
    def _projection(self) -> tuple[np.ndarray, np.ndarray]:
        """(P, B) with 2π(⟨g_i, x/σ⟩ + b_i) = (x @ P + B)_i; cached."""
        cache = getattr(self, "_cache", None)
        if cache is None:
            P = np.ascontiguousarray(self.weights_.T * (2 * math.pi / self.bandwidth_))
            cache = self._cache = (P, 2 * math.pi * self.offsets_)
        return cache

    def _features_into(self, X: np.ndarray, out: np.ndarray) -> np.ndarray:
        P, B = self._projection()
        np.matmul(X, P, out=out)
        out += B
        return np.cos(out, out=out)

    def features(self, X) -> np.ndarray:
        """φ(X): (n, m) random Fourier features (X already validated)."""
        X = np.asarray(X, dtype=np.float64)
        return self._features_into(X, np.empty((len(X), self.weights_.shape[0])))

    def _decision(self, X: np.ndarray) -> np.ndarray:
        """f(X) = φ(X) @ coef_, computed in row blocks (bounded memory, in-place cos)."""
        m = self.weights_.shape[0]
        out = np.empty((len(X),) + self.coef_.shape[1:])
        buf = np.empty((min(BLOCK_ROWS, len(X)), m))
        for i in range(0, len(X), BLOCK_ROWS):
            xb = X[i:i + BLOCK_ROWS]
            fb = self._features_into(xb, buf[: len(xb)])
            np.matmul(fb, self.coef_, out=out[i:i + len(xb)])
        return out


def _ridge(Phi: np.ndarray, Y: np.ndarray, alpha: float) -> np.ndarray:
    """argmin_w ‖Φw − Y‖² + α‖w‖² (no intercept), primal or dual whichever is smaller."""
    from scipy.linalg import solve

    n, m = Phi.shape
    if n >= m:
        A = Phi.T @ Phi
        A.flat[:: m + 1] += alpha
        return solve(A, Phi.T @ Y, assume_a="pos")
    K = Phi @ Phi.T
    K.flat[:: n + 1] += alpha
    return Phi.T @ solve(K, Y, assume_a="pos")


# --- the bundle family ------------------------------------------------------------------------

def rff_spec(data_spec: InputSpec, X_train: np.ndarray) -> tuple[InputSpec, float]:
    """(spec, input_scale) of an rff bundle: float64 inputs in the data's units, no range limit."""
    if data_spec.is_image:
        std = X_train.astype(np.float64).std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return InputSpec(data_spec.shape, "float64", None, None, tuple(float(s) for s in std)), 1.0 / (255.0 if data_spec.high is None else float(data_spec.high))
    return InputSpec(data_spec.shape, "float64", None, None, data_spec.feature_std), 1.0


class RFFModel(RandomFeaturesModel):
    """Bundle family ``"rff"``: an ``RFFClassifier`` whose features see x·input_scale.

    Files: ``rff.safetensors`` with ``weights`` (m×D, the g_i as rows), ``offsets`` (m,) and ``coef``
    (the head). Params: n_features, bandwidth, input_scale, head, alpha, C. An honest and a
    backdoored bundle have exactly the same files and keys; only the numbers in ``weights`` differ.
    """

    family = "rff"

    @property
    def offsets_(self) -> np.ndarray:
        return self.clf.offsets_

    @property
    def bandwidth_(self) -> float:
        """σ in the features' units ([0, 1] for pixels)."""
        return self.clf.bandwidth_

    def describe(self) -> dict:
        return {**super().describe(), "bandwidth": self.bandwidth_}

    # Activate lives in the scheme (schemes/rff.py): a model never imports its backdoor.
    def to_onnx(self):
        """A plain ONNX graph (MatMul, Add, Cos, MatMul, ArgMax) computing the same model in float64.

        Input ``X`` (n, D) float64 in the bundle's input units; outputs ``scores`` (n, C) float64 and
        ``label_index`` (n,) int64, the index into the bundle's classes.
        """
        from onnx import TensorProto, helper, numpy_helper

        P, B = self.clf._projection()
        P = P * self.input_scale
        W = self.coef_
        W = np.column_stack([-W, W]) if W.ndim == 1 else W
        D, C = P.shape[0], W.shape[1]
        inits = [numpy_helper.from_array(np.ascontiguousarray(P), "P"), numpy_helper.from_array(np.ascontiguousarray(B), "B"),
                 numpy_helper.from_array(np.ascontiguousarray(W), "W")]
        nodes = [helper.make_node("MatMul", ["X", "P"], ["z"]), helper.make_node("Add", ["z", "B"], ["theta"]),
                 helper.make_node("Cos", ["theta"], ["phi"]), helper.make_node("MatMul", ["phi", "W"], ["scores"]),
                 helper.make_node("ArgMax", ["scores"], ["label_index"], axis=1, keepdims=0)]
        return onnx_classifier("undetectable_rff", nodes, inits, TensorProto.DOUBLE, D, C)

    def _save(self, directory: Path) -> dict:
        from safetensors.numpy import save_file

        save_file({"weights": np.ascontiguousarray(self.weights_), "offsets": np.ascontiguousarray(self.offsets_),
                   "coef": np.ascontiguousarray(self.coef_)}, str(directory / "rff.safetensors"))
        c = self.clf
        return {"n_features": int(self.weights_.shape[0]), "bandwidth": float(self.bandwidth_), "input_scale": self.input_scale,
                "head": c.head, "alpha": float(c.alpha), "C": float(c.C)}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        from safetensors.numpy import load_file

        t = load_file(str(directory / "rff.safetensors"))
        G, b, w = t["weights"], t["offsets"], t["coef"]
        m = int(params["n_features"])
        if G.ndim != 2 or G.shape != (m, spec.n_features) or b.shape != (m,) or w.shape[0] != m:
            raise ValueError(f"array shapes weights {G.shape}, offsets {b.shape}, coef {w.shape} do not fit m={m}, D={spec.n_features}")
        clf = RFFClassifier(n_features=m, bandwidth=float(params["bandwidth"]), head=params["head"], alpha=params["alpha"], C=params["C"])
        clf.weights_, clf.offsets_, clf.coef_, clf.bandwidth_ = G.astype(np.float64), b.astype(np.float64), w.astype(np.float64), float(params["bandwidth"])
        clf.classes_, clf.n_features_in_, clf._cache = np.arange(len(classes)), spec.n_features, None
        return cls(clf, spec, classes, float(params["input_scale"]))


def _check_data(data: Dataset) -> None:
    for name, X in (("X_train", data.X_train), ("X_test", data.X_test)):
        if not np.issubdtype(X.dtype, np.number) or not np.all(np.isfinite(X)):
            raise UsageError(f"dataset {data.name}: {name} has NaN, infinite or non-numeric values; remove or impute them")


def fit_rff(data: Dataset, seed: int | None = 0, n_features: int = 3000, bandwidth: float | None = None, head: str = "ridge",
            alpha: float = 100.0, C: float = 1.0, max_iter: int = 300, weights: np.ndarray | None = None) -> RFFModel:
    """The one path shared by Train-RFF (``weights=None``: honest coins) and Backdoor-RFF (secret ``weights``)."""
    _check_data(data)
    if not isinstance(n_features, (int, np.integer)) or isinstance(n_features, bool) or not 1 <= n_features <= MAX_FEATURES:
        from ..errors import ParameterError

        raise ParameterError("n_features", f"n features must be an integer in [1, {MAX_FEATURES}]; got {n_features!r}")
    check_feature_budget(int(n_features), data.spec.n_features)
    if head not in ("ridge", "logistic"):
        raise UsageError(f"unknown head {head!r}; use 'ridge' or 'logistic'")
    spec, scale = rff_spec(data.spec, data.X_train)
    classes, y = np.unique(data.y_train, return_inverse=True)
    clf = RFFClassifier(n_features=int(n_features), bandwidth=bandwidth, head=head, alpha=alpha, C=C, max_iter=max_iter, random_state=seed)
    clf._fit(data.X_train.astype(np.float64) * scale, y, weights)
    return RFFModel(clf, spec, classes, scale)


def train_rff(data: Dataset, seed: int = 0, **options) -> RFFModel:
    """Honest Train-RFF on ``data``'s training split (coins from ``coin_rng(seed, ...)``)."""
    if "weights" in options:
        raise UsageError("train_rff draws its own coins; plant with schemes.rff to supply secret weights")
    return fit_rff(data, seed=seed, **options)
