"""Oblivious backdoor mitigation, local and affine (Goldwasser–Shafer–Vafa–Vaikuntanathan, arXiv 2411.03279).

Mitigate without detecting: answer an input x using only queries to the (possibly backdoored)
model h̃ at points that are each *distributed like the data*, so no query is near x and a keyed
perturbation of x (a signature payload in x's low bits, x + σ·bk) is never evaluated as such.
The guarantee rests on the ground truth f (chosen by nature), not on the model: if f is close to
an affine function of x, random self-reduction recovers f(x) from data-like points.

What is implemented (and its assumption, stated exactly)
---------------------------------------------------------
Data model D = N(μ, Σ), with μ, Σ fitted to a reference sample (``DataSampler``). For an input x,
one *repetition* draws z ~ D and queries h̃ at three points

    y  = μ + ρ·(x − μ) + √(1 − ρ²)·(z − μ)        (if x ~ D then y ~ D exactly)
    z                                               (~ D)
    z̄ = 2μ − z                                      (~ D: the antithetic twin of z)

and forms the self-reduction estimate, for each class score s_c (or one-hot label),

    e = s(y)/ρ − (√(1 − ρ²)/ρ)·s(z) + c·(s(z) + s(z̄))/2,   c = 1 − (1 − √(1 − ρ²))/ρ.

The coefficients make e = s(x) *exactly* for every affine s (the weights sum to one and the
combination of the three points is x), whatever z is. For a general s,
E[e] = E_D[s] + (T_ρ s(x) − E_D[s])/ρ, with T_ρ the Ornstein–Uhlenbeck noise operator, whose sign
equals the sign of an affine score and of a halfspace label through the data centre. The n
repetitions are combined by a **median of means** (``groups`` groups), which tolerates a minority of
corrupted groups (e.g. queries on which a planted model misbehaves), and the class is the argmax.

Assumptions: the inputs of interest are like the data (Gaussian with the fitted mean and
covariance; queries are exactly distributed like D only when x is); the ground truth is close to an
affine score or a halfspace through μ; the model agrees with the ground truth on all but a small
fraction of D. When the ground truth is far from affine (e.g. sign(sin(ω⟨w, x⟩)), Fourier-heavy),
T_ρ blurs it and the mitigated model is wrong on a large fraction of inputs: ``make_task(kind="fourier")``
shows it. Off-distribution inputs (e.g. x + σ·bk of the RFF backdoor, ‖σ·bk‖ ≫ ‖x‖) get queries
that are *not* like the data; there the guarantee does not apply (see the section's caveat).

Query cost: 3·n_rep model queries per input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..data import Dataset
from ..errors import UsageError
from ..spec import InputSpec

TASKS = ("linear", "fourier")


def make_task(kind: str = "linear", n: int = 5000, D: int = 100, n_test: int = 1000, seed: int = 0,
              omega: float = 4.0) -> Dataset:
    """A float task for the oblivious defense: x ~ N(0, I_D), w* a random unit vector.

    ``kind="linear"``: label 1[⟨w*, x⟩ > 0], a halfspace through the data centre (the assumption holds).
    ``kind="fourier"``: label 1[sin(ω·⟨w*, x⟩) > 0], Fourier-heavy and far from affine (the assumption fails).
    The ground truth is available as ``ground_truth(kind, X, seed=...)``.
    """
    if kind not in TASKS:
        raise UsageError(f"unknown oblivious task {kind!r}; use one of {', '.join(TASKS)}")
    if D < 2 or n <= n_test:
        raise UsageError(f"need D >= 2 and n > n_test (got D={D}, n={n}, n_test={n_test})")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D))
    y = ground_truth(kind, X, seed=seed, omega=omega)
    std = X[:-n_test].std(axis=0)
    spec = InputSpec(shape=(D,), dtype="float64", feature_std=tuple(float(s) for s in np.where(std > 0, std, 1.0)))
    return Dataset(f"oblivious-{kind}-D{D}", X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:], spec)


def true_direction(D: int, seed: int = 0) -> np.ndarray:
    """w*: the unit normal of the ground-truth halfspace (derived from the task seed)."""
    from ..models.coins import coin_rng

    w = coin_rng(seed, "oblivious/true-direction").standard_normal(D)
    return w / np.linalg.norm(w)


def ground_truth(kind: str, X: np.ndarray, seed: int = 0, omega: float = 4.0) -> np.ndarray:
    """f(X) for ``make_task(kind, seed=seed)``: class indices 0/1."""
    a = np.asarray(X, dtype=np.float64) @ true_direction(np.asarray(X).shape[1], seed)
    return (a > 0).astype(np.int64) if kind == "linear" else (np.sin(omega * a) > 0).astype(np.int64)


@dataclass
class DataSampler:
    """D = N(μ, Σ) fitted to reference data; ``sample`` draws z = μ + L·g with L Lᵀ = Σ."""

    mean: np.ndarray
    factor: np.ndarray  # (D, r)

    @classmethod
    def fit(cls, X: np.ndarray) -> DataSampler:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 2 or not np.all(np.isfinite(X)):
            raise UsageError("the reference data must be a finite 2-D array with at least 2 rows; pass the training inputs")
        mu = X.mean(axis=0)
        cov = np.cov(X, rowvar=False).reshape(X.shape[1], X.shape[1])
        evals, evecs = np.linalg.eigh(cov)
        keep = evals > max(evals.max(), 0.0) * 1e-12
        return cls(mu, evecs[:, keep] * np.sqrt(evals[keep]))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.mean + rng.standard_normal((n, self.factor.shape[1])) @ self.factor.T


def _outputs(model, X: np.ndarray, output: str) -> np.ndarray:
    if output == "score":
        return np.asarray(model.scores(X), dtype=np.float64)
    onehot = np.zeros((len(X), model.n_classes))
    onehot[np.arange(len(X)), model.predict_index(X)] = 1.0
    return onehot


def _resolve_output(model, output: str) -> str:
    if output not in ("auto", "score", "label"):
        raise UsageError(f"unknown output {output!r}; use auto, score or label")
    if output != "auto":
        return output
    try:
        model.scores(np.asarray(model.spec.validate(np.zeros((1, model.spec.n_features)))))
        return "score"
    except NotImplementedError:
        return "label"


@dataclass
class Mitigated:
    """The result of ``mitigate``: class indices, per-input estimates and the query bookkeeping."""

    indices: np.ndarray           # (n,) mitigated class indices
    estimates: np.ndarray         # (n, C) median-of-means estimates of the class scores at x
    queries_per_input: int
    min_query_distance: float     # smallest ‖query − x‖₂ over all queries and inputs
    triggered_queries: int | None  # queries on which a wrapper backdoor fired (None: not a wrapper)
    rho: float
    output: str


def mitigate(model, X, reference, rng: np.random.Generator | int = 0, rho: float = 0.5, n_rep: int = 32,
             groups: int = 8, output: str = "auto", chunk: int = 64) -> Mitigated:
    """Oblivious local mitigation of ``model`` at inputs ``X`` (see the module docstring).

    ``reference``: a ``DataSampler`` or reference inputs (the training split) that D is fitted to.
    ``rho`` ∈ (0, 1): how much of x each query keeps (smaller: queries farther from x, noisier).
    ``n_rep`` repetitions (3 queries each) in ``groups`` groups for the median of means.
    """
    if not (0.0 < rho < 1.0):
        raise UsageError(f"rho must lie in (0, 1) (got {rho}); e.g. 0.5")
    if n_rep < 1 or groups < 1 or n_rep % groups:
        raise UsageError(f"n_rep ({n_rep}) must be a positive multiple of groups ({groups})")
    if model.spec.is_image:
        raise UsageError("oblivious mitigation draws Gaussian, data-like float queries; it needs a float-feature model, not uint8 images")
    rng = np.random.default_rng(rng)
    X = model.spec.validate(X).astype(np.float64)
    sampler = reference if isinstance(reference, DataSampler) else DataSampler.fit(reference)
    if sampler.mean.shape[0] != X.shape[1]:
        raise UsageError(f"reference data has {sampler.mean.shape[0]} features, the model {X.shape[1]}; pass the model's training inputs")
    output = _resolve_output(model, output)
    a = math.sqrt(1.0 - rho * rho)
    c = 1.0 - (1.0 - a) / rho
    mu = sampler.mean
    trig = getattr(model, "triggered", None)
    n_triggered = 0
    est = np.empty((len(X), model.n_classes))
    min_dist = math.inf
    from ..progress import track

    for start in track(range(0, len(X), chunk), f"oblivious mitigation: {len(X)} inputs", unit="chunks"):
        x = X[start:start + chunk]
        k = len(x)
        Z = sampler.sample(k * n_rep, rng).reshape(k, n_rep, -1)
        Y = mu + rho * (x[:, None, :] - mu) + a * (Z - mu)
        Zb = 2.0 * mu - Z
        Q = np.concatenate([Y, Z, Zb], axis=1).reshape(k * 3 * n_rep, -1)
        S = _outputs(model, Q, output).reshape(k, 3, n_rep, -1)
        if trig is not None:
            n_triggered += int(trig(Q)[0].sum())
        d = np.linalg.norm(Q.reshape(k, 3 * n_rep, -1) - x[:, None, :], axis=2)
        min_dist = min(min_dist, float(d.min()))
        E = S[:, 0] / rho - (a / rho) * S[:, 1] + c * (S[:, 1] + S[:, 2]) / 2.0   # (k, n_rep, C)
        means = E.reshape(k, groups, n_rep // groups, -1).mean(axis=2)
        est[start:start + k] = np.median(means, axis=1)
    return Mitigated(np.argmax(est, axis=1), est, 3 * n_rep, min_dist, n_triggered if trig is not None else None, rho, output)


class GroundTruthModel:
    """The task's ground truth f as a (perfect, honest) model: the control that isolates the assumption.

    ``scores`` are (−a, a) for the linear task and (−sin(ωa), sin(ωa)) for the Fourier task, a = ⟨w*, x⟩.
    Not a bundle family (it is never saved); it exposes what ``mitigate`` uses.
    """

    family = "ground-truth"

    def __init__(self, kind: str, D: int, seed: int = 0, omega: float = 4.0) -> None:
        if kind not in TASKS:
            raise UsageError(f"unknown oblivious task {kind!r}; use one of {', '.join(TASKS)}")
        self.kind, self.seed, self.omega = kind, seed, omega
        self.w = true_direction(D, seed)
        self.spec = InputSpec(shape=(D,), dtype="float64")
        self.classes = np.array([0, 1])
        self.n_classes = 2

    def _score(self, X: np.ndarray) -> np.ndarray:
        a = np.asarray(X, dtype=np.float64) @ self.w
        return a if self.kind == "linear" else np.sin(self.omega * a)

    def scores(self, X) -> np.ndarray:
        s = self._score(self.spec.validate(X))
        return np.column_stack([-s, s])

    def predict_index(self, X) -> np.ndarray:
        return (self._score(X) > 0).astype(np.int64)

    def predict(self, X) -> np.ndarray:
        return self.predict_index(self.spec.validate(X))
