"""Gaussian pancakes (homogeneous CLWE) — the secret distribution behind the RFF backdoor (§6).

A *pancakes* vector y ∈ R^d is N(0, I_d) conditioned on γ⟨y, u⟩ + e ∈ Z + c, e ~ N(0, β²),
where u is a secret unit vector, γ the pancake frequency (γ = 2√d by default), β the noise and
c = ½ (half-integer shift: the backdoor) or c = 0 (integer shift: the invariance control).
Along u the density is a comb of thin Gaussian layers ("pancakes"); orthogonal to u it is N(0, I).
Without u, distinguishing pancakes from N(0, I_d) is the CLWE problem (Bruna–Regev–Song–Tang).

Exact sampler (no rejection). Let s = ⟨y, u⟩ ~ N(0, 1) and a = γs + e ~ N(0, V), V = β² + γ².
Conditioned on a = a_k (a_k = k + c), the layer index k has weight ∝ exp(−a_k²/(2V)) and
s | a_k ~ N(γ·a_k/V, β²/V). So draw k, then t = γ·a_k/V + (β/√V)·N(0, 1), and set
y = t·u + (I − uuᵀ)z with z ~ N(0, I_d).

The backdoor secret is *sparse*: a support S ⊂ [D] of size d and bk = γ·u on S, 0 elsewhere.
Backdoored RFF weights g ∈ R^D are N(0, 1) off S and pancakes on S, so ⟨g, bk⟩ = a_k + O(β).
Small d (≤ 100) is not cryptographically hard (lattice reduction); state (d, γ, β) with every result.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError, UsageError

SHIFTS = {"half": 0.5, "integer": 0.0}


def _shift_value(shift: str) -> float:
    if shift not in SHIFTS:
        raise UsageError(f"unknown pancake shift {shift!r}; use 'half' (the backdoor) or 'integer' (the control)")
    return SHIFTS[shift]


def check_params(d: int, gamma: float, beta: float) -> None:
    """Refuse parameters for which the pancakes are undefined, with a one-line reason."""
    if not isinstance(d, (int, np.integer)) or d < 1:
        raise UsageError(f"secret dimension must be a positive integer; got {d!r}")
    if not (math.isfinite(beta) and beta > 0):
        raise UsageError(f"pancake noise beta must be a positive finite number; got {beta!r} (try 0.01)")
    if not (math.isfinite(gamma) and gamma > 0):
        raise UsageError(f"pancake frequency gamma must be a positive finite number; got {gamma!r} (default 2*sqrt(d))")


def layer_table(gamma: float, beta: float, shift: str = "half", width: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """The layers a_k = k + c with |a_k| ≤ width·√V and their normalized weights ∝ exp(−a_k²/(2V))."""
    c = _shift_value(shift)
    V = beta**2 + gamma**2
    K = int(math.ceil(width * math.sqrt(V))) + 1
    a = np.arange(-K, K + 1, dtype=np.float64) + c
    logw = -(a**2) / (2 * V)
    w = np.exp(logw - logw.max())
    return a, w / w.sum()


def sample_layer_coordinate(rng: np.random.Generator, n: int, gamma: float, beta: float, shift: str = "half") -> np.ndarray:
    """Exact draws of t = ⟨y, u⟩ for n pancake vectors: the mixture Σ_k w_k N(γa_k/V, β²/V)."""
    a, w = layer_table(gamma, beta, shift)
    V = beta**2 + gamma**2
    k = np.searchsorted(np.cumsum(w), rng.random(n), side="right")
    np.minimum(k, len(a) - 1, out=k)
    return a[k] * (gamma / V) + (beta / math.sqrt(V)) * rng.standard_normal(n)


def layer_cdf(t: np.ndarray, gamma: float, beta: float, shift: str = "half") -> np.ndarray:
    """Analytic CDF of t = ⟨y, u⟩ under the pancakes (for KS tests)."""
    from scipy.special import ndtr

    a, w = layer_table(gamma, beta, shift)
    V = beta**2 + gamma**2
    mu, s = a * (gamma / V), beta / math.sqrt(V)
    t = np.asarray(t, dtype=np.float64)
    return (w[None, :] * ndtr((t[:, None] - mu[None, :]) / s)).sum(axis=1)


def _unit(u: np.ndarray) -> np.ndarray:
    u = np.asarray(u, dtype=np.float64)
    n = float(np.linalg.norm(u))
    if u.ndim != 1 or not math.isfinite(n) or n == 0:
        raise UsageError("the pancake direction u must be a non-zero finite vector")
    return u / n


def sample_pancakes(rng: np.random.Generator, n: int, u: np.ndarray, gamma: float, beta: float, shift: str = "half",
                    z: np.ndarray | None = None) -> np.ndarray:
    """Exact sampler: n pancake vectors in R^d, y = t·u + (I − uuᵀ)z (z ~ N(0, I_d) unless given; modified in place)."""
    u = _unit(u)
    check_params(len(u), gamma, beta)
    if z is None:
        z = rng.standard_normal((n, len(u)))
    t = sample_layer_coordinate(rng, n, gamma, beta, shift)
    z += np.outer(t - z @ u, u)
    return z


def sample_pancakes_rejection(rng: np.random.Generator, n: int, u: np.ndarray, gamma: float, beta: float, shift: str = "half",
                              tau: float | None = None, batch: int = 100_000, max_draws: int = 50_000_000) -> np.ndarray:
    """Rejection sampler (cross-check only): y ~ N(0, I_d), e ~ N(0, β²); accept when γ⟨y,u⟩ + e is
    within τ of Z + c (acceptance ≈ 2τ). τ defaults to β/10, so the window adds ≈ 0.3% to the layer width."""
    u = _unit(u)
    d = len(u)
    check_params(d, gamma, beta)
    c = _shift_value(shift)
    tau = beta / 10 if tau is None else tau
    out, got, drawn = [], 0, 0
    while got < n:
        if drawn >= max_draws:
            raise UsageError(f"rejection sampler accepted only {got} of {drawn} draws; raise tau or use the exact sampler")
        y = rng.standard_normal((batch, d))
        v = gamma * (y @ u) + beta * rng.standard_normal(batch) - c
        keep = np.abs(v - np.round(v)) <= tau
        out.append(y[keep])
        got += int(keep.sum())
        drawn += batch
    return np.concatenate(out)[:n]


@dataclass(frozen=True)
class PancakeSecret:
    """The backdoor secret: support S (sorted indices in [D]), unit u ∈ R^d, γ, β, the shift, and D."""

    support: np.ndarray
    u: np.ndarray
    gamma: float
    beta: float
    shift: str
    dim: int

    @property
    def d(self) -> int:
        return len(self.support)

    def bk(self) -> np.ndarray:
        """The backdoor key bk ∈ R^D: γ·u on S, 0 elsewhere (‖bk‖ = γ)."""
        v = np.zeros(self.dim)
        v[self.support] = self.gamma * self.u
        return v


def make_secret(rng: np.random.Generator, D: int, d: int, beta: float, gamma: float | None = None, shift: str = "half") -> PancakeSecret:
    """Draw the secret: S uniform of size d in [D], u uniform on the unit sphere of R^d, γ = 2√d by default."""
    if not isinstance(d, (int, np.integer)) or d < 1:
        raise UsageError(f"secret dimension must be a positive integer; got {d!r}")
    if d > D:
        raise ParameterError("secret_dim", f"secret dimension {d} exceeds the input dimension {D}; choose a secret dim ≤ {D}")
    gamma = 2 * math.sqrt(d) if gamma is None else float(gamma)
    check_params(d, gamma, float(beta))
    _shift_value(shift)
    support = np.sort(rng.choice(D, size=d, replace=False))
    u = rng.standard_normal(d)
    return PancakeSecret(support, u / np.linalg.norm(u), gamma, float(beta), shift, int(D))


def sample_weights(rng: np.random.Generator, m: int, secret: PancakeSecret) -> np.ndarray:
    """m backdoored weight rows g_i ∈ R^D: N(0, 1) off S, Gaussian pancakes on S (exact sampler).

    Costs one ``standard_normal((m, D))`` plus O(m·d): the S-block of the normal draw is projected
    off u and given the pancake coordinate t along u.
    """
    G = rng.standard_normal((m, secret.dim))
    S = secret.support
    G[:, S] = sample_pancakes(rng, m, secret.u, secret.gamma, secret.beta, secret.shift, z=G[:, S])
    return G
