"""Random ReLU network with a trained head: the honest learner of construction C (appendix).

Features: φ_i(x) = ReLU(⟨g_i, x⟩), g_i ~ N(0, I_D), i = 1..m, no bias (φ is positively homogeneous).
Inputs are fed in [0, 1] units for uint8 images (``input_scale`` = 1/255) and as they are for floats.

Two heads (``head``):

* ``"linear"`` (default) — a ridge head with intercept on the standardized features, one ±1 column
  per class (one column for binary); prediction = sign / argmax. This is the head that works on real
  data (measured, m = 500: mnist5k ≈ 0.90, synthetic ≈ 0.78, breast-cancer ≈ 0.96). Chosen over
  logistic regression because it is closed-form (fast, deterministic) and loses < 1 point here.
* ``"norm"`` — the appendix's classifier literally: F(x) = √(2π)·(1/m)·Σ_i ReLU(⟨g_i, x⟩) ≈ ‖x‖
  (E ReLU(N(0, ‖x‖²)) = ‖x‖/√(2π)), h(x) = [F(x) > τ], τ and the side chosen to maximize training
  accuracy. Binary only, and only useful when the label is a function of the norm (breast-cancer:
  ≈ 0.91, since tumour size dominates ‖x‖; synthetic ≈ 0.53, i.e. useless).

Random coins come **only** from ``models.coins.coin_rng(seed, "relu/weights")``, drawn as one
``standard_normal((m, D))``: re-training with the same seed reproduces ``weights_`` exactly.

``RandomReLUClassifier`` is a scikit-learn estimator. ``ReLUModel`` is the bundle family ``"relu"``:
``relu.safetensors`` holds ``weights`` (the m×D matrix G, ONE 2-D array, the g_i as rows), ``coef``
(m × C', C' = 1 for binary) and ``intercept`` (C',), the standardization folded in. The manifest params
are n_features, head, alpha, input_scale. A planted bundle (``schemes.relu``) has exactly the
same files, tensor names, shapes and params: only the numbers in ``weights`` (and hence the head) differ.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data import Dataset
from ..errors import UsageError
from .coins import coin_rng, seed_of
from .random_features import (RandomFeaturesClassifier, RandomFeaturesModel, check_feature_budget, onnx_classifier,
                              validate_fit_data)
from .sklearn_model import input_scale as _input_scale

HEADS = ("linear", "norm")
SQRT_2PI = math.sqrt(2 * math.pi)
BLOCK_ROWS = 4096



#: The most random features a model may have (each is a D-vector of float64: bounded memory).
MAX_FEATURES = 100_000

def honest_weights(seed: int, m: int, D: int) -> np.ndarray:
    """The honest coins g_1..g_m ~ N(0, I_D) as rows: ``coin_rng(seed, "relu/weights").standard_normal((m, D))``."""
    return coin_rng(seed, "relu/weights").standard_normal((m, D))


def relu_features(X: np.ndarray, G: np.ndarray) -> np.ndarray:
    """φ(X) = ReLU(X Gᵀ): (n, m)."""
    Z = np.asarray(X, dtype=np.float64) @ G.T
    return np.maximum(Z, 0.0, out=Z)


def norm_readout(X: np.ndarray, G: np.ndarray) -> np.ndarray:
    """F(x) = √(2π)·(1/m)·Σ_i ReLU(⟨g_i, x⟩) ≈ ‖x‖ for honest g_i (≈ √(‖x‖² + θ⟨s,x⟩²) for spiked ones)."""
    out = np.empty(len(X))
    for i in range(0, len(X), BLOCK_ROWS):
        out[i:i + BLOCK_ROWS] = relu_features(X[i:i + BLOCK_ROWS], G).mean(axis=1)
    return SQRT_2PI * out


class RandomReLUClassifier(RandomFeaturesClassifier):
    """Random ReLU features ReLU(⟨g_i, x⟩) + a trained head (scikit-learn estimator).

    Parameters
    ----------
    n_features : m, the number of random ReLU units.
    head : "linear" (ridge with intercept on standardized features) or "norm" (F(x) = √(2π)·mean ReLU
        ≈ ‖x‖ thresholded at a learned τ; binary only).
    alpha : ridge regularization of the linear head.
    random_state : the coins seed S (non-negative int; None draws one). The g_i come only from
        ``coin_rng(S, "relu/weights")``.

    Attributes
    ----------
    weights_ : (m, D) the g_i as rows.  coef_ : (m, C') and intercept_ : (C',) of the head in
    feature units (C' = 1 for binary: positive → classes_[1]). For head="norm": coef_ = √(2π)/m·1,
    intercept_ = −τ (negated when the small-norm side is classes_[1]).  classes_, n_features_in_.
    """

    def __init__(self, n_features: int = 500, head: str = "linear", alpha: float = 1.0, random_state: int | None = 0) -> None:
        self.n_features = n_features
        self.head = head
        self.alpha = alpha
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.head == "norm":  # thresholds F(x) ≈ ‖x‖: binary only, and poor unless the label is a function of ‖x‖
            tags.classifier_tags.multi_class = False
            tags.classifier_tags.poor_score = True
        return tags

    def fit(self, X, y) -> RandomReLUClassifier:
        """Train: draw the honest coins G, then fit the head on φ(X)."""
        return self._fit(X, y, weights=None)

    def _fit(self, X, y, weights: np.ndarray | None) -> RandomReLUClassifier:
        """The one training path. ``weights`` replaces the coins G (Backdoor, relu_spca); nothing else differs."""
        X, y = validate_fit_data(self, X, y)
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}; got {self.head!r}")
        if not (math.isfinite(float(self.alpha)) and float(self.alpha) > 0):
            raise ValueError(f"alpha must be a positive finite number; got {self.alpha!r}")
        self.classes_, yi = np.unique(y, return_inverse=True)
        C = len(self.classes_)
        if C < 2:
            raise ValueError(f"RandomReLUClassifier needs samples of at least 2 classes in the data; got 1 class ({self.classes_[0]!r})")
        if self.head == "norm" and C != 2:
            raise ValueError(f"Only binary classification is supported by head='norm' (it thresholds F(x) ≈ ‖x‖); got {C} classes, use head='linear'")
        m, D = int(self.n_features), X.shape[1]
        if weights is None:
            weights = honest_weights(seed_of(self.random_state), m, D)
        elif weights.shape != (m, D):
            raise ValueError(f"weights must have shape ({m}, {D}); got {weights.shape}")
        self.weights_ = np.ascontiguousarray(weights, dtype=np.float64)
        if self.head == "linear":
            self.coef_, self.intercept_ = _ridge_head(relu_features(X, self.weights_), yi, C, float(self.alpha))
        else:
            self.coef_, self.intercept_ = _norm_head(norm_readout(X, self.weights_), yi, m)
        return self

    def _decision(self, X: np.ndarray) -> np.ndarray:
        """f(X) = φ(X) coef_ + intercept_, in row blocks: (n,) binary, (n, C) multi-class."""
        out = np.empty((len(X), self.coef_.shape[1]))
        for i in range(0, len(X), BLOCK_ROWS):
            out[i:i + BLOCK_ROWS] = relu_features(X[i:i + BLOCK_ROWS], self.weights_) @ self.coef_ + self.intercept_
        return out[:, 0] if out.shape[1] == 1 else out


def _ridge_head(Phi: np.ndarray, yi: np.ndarray, C: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge on standardized features with ±1 targets (one column if binary); returns (coef, intercept) in feature units."""
    from scipy.linalg import solve

    n, m = Phi.shape
    Y = (2.0 * yi - 1.0)[:, None] if C == 2 else 2.0 * np.eye(C)[yi] - 1.0
    mu = Phi.mean(axis=0)
    sd = Phi.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    Zs = (Phi - mu) / sd
    Yc = Y - Y.mean(axis=0)
    if n >= m:
        A = Zs.T @ Zs
        A.flat[:: m + 1] += alpha
        W = solve(A, Zs.T @ Yc, assume_a="pos")
    else:
        K = Zs @ Zs.T
        K.flat[:: n + 1] += alpha
        W = Zs.T @ solve(K, Yc, assume_a="pos")
    coef = W / sd[:, None]
    return np.ascontiguousarray(coef), Y.mean(axis=0) - mu @ coef


def _norm_head(F: np.ndarray, yi: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """τ (and the side) maximizing training accuracy of [F(x) > τ] → (coef = √(2π)/m·1, intercept = ∓τ)."""
    order = np.argsort(F, kind="stable")
    Fs, ys = F[order], yi[order]
    n = len(F)
    # threshold between sorted positions j-1 and j (j = 0..n): predict 1 for F > τ (indices ≥ j)
    ones_below = np.concatenate([[0], np.cumsum(ys)])
    ones_total = ones_below[-1]
    j = np.arange(n + 1)
    acc_up = ((j - ones_below) + (ones_total - ones_below)) / n       # classes_[1] above τ
    acc_down = (ones_below + ((n - j) - (ones_total - ones_below))) / n  # classes_[1] below τ
    edges = np.concatenate([[Fs[0] - 1.0], (Fs[:-1] + Fs[1:]) / 2, [Fs[-1] + 1.0]])
    up = acc_up.max() >= acc_down.max()
    tau = float(edges[int(np.argmax(acc_up if up else acc_down))])
    sign = 1.0 if up else -1.0
    return np.full((m, 1), sign * SQRT_2PI / m), np.array([-sign * tau])


# --- the bundle family ------------------------------------------------------------------------

class ReLUModel(RandomFeaturesModel):
    """Bundle family ``"relu"``: a ``RandomReLUClassifier`` whose features see x·input_scale.

    The model's inputs follow the dataset's spec (uint8 pixels stay uint8 in [0, 255]); the random
    layer sees them in [0, 1] units. Activate (``schemes.relu``) returns re-quantized uint8.
    """

    family = "relu"

    @property
    def intercept_(self) -> np.ndarray:
        return self.clf.intercept_

    @property
    def head(self) -> str:
        return self.clf.head

    def norm_readout(self, X: np.ndarray) -> np.ndarray:
        """F(x) = √(2π)·mean_i ReLU(⟨g_i, x⟩) on validated inputs (any head)."""
        return norm_readout(self.inputs(X), self.weights_)

    def describe(self) -> dict:
        return {**super().describe(), "head": self.head}

    # Activate lives in the scheme (schemes/relu.py): a model never imports its backdoor.
    def to_onnx(self):
        """A plain ONNX graph computing the same model in float64.

        Input ``X`` (n, D) in the bundle's input dtype (uint8 pixels or float64); nodes Cast, Mul
        (input scale), MatMul (Gᵀ), Relu, MatMul (head), Add (intercept), ArgMax. Outputs ``scores``
        (n, C) float64 (binary: [−f, f]) and ``label_index`` (n,) int64, the index into the bundle's classes.
        """
        from onnx import TensorProto, helper, numpy_helper

        W, b = self.coef_, self.intercept_
        if W.shape[1] == 1:
            W, b = np.column_stack([-W[:, 0], W[:, 0]]), np.array([-b[0], b[0]])
        D, C = self.weights_.shape[1], W.shape[1]
        in_type = TensorProto.UINT8 if self.spec.is_image else TensorProto.DOUBLE
        inits = [numpy_helper.from_array(np.array(self.input_scale, dtype=np.float64), "scale"),
                 numpy_helper.from_array(np.ascontiguousarray(self.weights_.T), "Gt"),
                 numpy_helper.from_array(np.ascontiguousarray(W), "W"), numpy_helper.from_array(np.ascontiguousarray(b), "b")]
        nodes = [helper.make_node("Cast", ["X"], ["xf"], to=TensorProto.DOUBLE), helper.make_node("Mul", ["xf", "scale"], ["xs"]),
                 helper.make_node("MatMul", ["xs", "Gt"], ["z"]), helper.make_node("Relu", ["z"], ["phi"]),
                 helper.make_node("MatMul", ["phi", "W"], ["f"]), helper.make_node("Add", ["f", "b"], ["scores"]),
                 helper.make_node("ArgMax", ["scores"], ["label_index"], axis=1, keepdims=0)]
        return onnx_classifier("undetectable_relu", nodes, inits, in_type, D, C)

    def _save(self, directory: Path) -> dict:
        from safetensors.numpy import save_file

        save_file({"weights": np.ascontiguousarray(self.weights_), "coef": np.ascontiguousarray(self.coef_),
                   "intercept": np.ascontiguousarray(self.intercept_)}, str(directory / "relu.safetensors"))
        return {"n_features": int(self.weights_.shape[0]), "head": self.head, "alpha": float(self.clf.alpha),
                "input_scale": self.input_scale}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        from safetensors.numpy import load_file

        t = load_file(str(directory / "relu.safetensors"))
        G, w, b = t["weights"], t["coef"], t["intercept"]
        m = int(params["n_features"])
        Cp = 1 if len(classes) == 2 else len(classes)
        if G.shape != (m, spec.n_features) or w.shape != (m, Cp) or b.shape != (Cp,):
            raise ValueError(f"array shapes weights {G.shape}, coef {w.shape}, intercept {b.shape} do not fit m={m}, D={spec.n_features}, C={len(classes)}")
        clf = RandomReLUClassifier(n_features=m, head=params["head"], alpha=float(params["alpha"]))
        clf.weights_, clf.coef_, clf.intercept_ = G.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
        clf.classes_, clf.n_features_in_ = np.arange(len(classes)), spec.n_features
        return cls(clf, spec, classes, float(params["input_scale"]))


def check_data(data: Dataset) -> None:
    """Refuse non-finite or non-numeric training/test data with one clear line."""
    for name, X in (("X_train", data.X_train), ("X_test", data.X_test)):
        if not np.issubdtype(np.asarray(X).dtype, np.number) or not np.all(np.isfinite(X)):
            raise UsageError(f"dataset {data.name}: {name} has NaN, infinite or non-numeric values; remove or impute them")


def fit_relu(data: Dataset, seed: int | None = 0, n_features: int = 500, head: str = "linear", alpha: float = 1.0,
             weights: np.ndarray | None = None) -> ReLUModel:
    """The one path shared by Train (``weights=None``: honest coins from ``seed``) and Backdoor (secret ``weights``)."""
    check_data(data)
    if not isinstance(n_features, (int, np.integer)) or isinstance(n_features, bool) or not 1 <= n_features <= MAX_FEATURES:
        from ..errors import ParameterError

        raise ParameterError("n_features", f"n features must be an integer in [1, {MAX_FEATURES}]; got {n_features!r}")
    check_feature_budget(int(n_features), data.spec.n_features)
    if head not in HEADS:
        raise UsageError(f"unknown head {head!r}; use one of {', '.join(HEADS)}")
    classes, y = np.unique(data.y_train, return_inverse=True)
    if head == "norm" and len(classes) != 2:
        raise UsageError(f"head 'norm' is binary only and {data.name} has {len(classes)} classes; use head 'linear'")
    if not (isinstance(alpha, (int, float, np.floating)) and math.isfinite(alpha) and alpha > 0):
        raise UsageError(f"alpha must be a positive finite number; got {alpha!r}")
    scale = _input_scale(data.spec)
    clf = RandomReLUClassifier(n_features=int(n_features), head=head, alpha=float(alpha), random_state=seed)
    clf._fit(np.asarray(data.X_train, dtype=np.float64) * scale, y, weights)
    return ReLUModel(clf, data.spec, classes, scale)


def train_relu(data: Dataset, seed: int = 0, **options) -> ReLUModel:
    """Honest Train on ``data``'s training split (coins from ``coin_rng(seed, "relu/weights")``)."""
    if "weights" in options:
        raise UsageError("train_relu draws its own coins; plant with schemes.relu to supply secret weights")
    return fit_relu(data, seed=seed, **options)
