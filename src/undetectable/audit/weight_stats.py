"""White-box detectors on a model's random weights ``weights_`` (m × D: the random features g_i as rows).

An honest Train-RFF / Train-ReLU draws every g_i ~ N(0, I_D). Backdoor-RFF replaces the S-block of each
g_i by Gaussian pancakes (§6); Backdoor-ReLU draws g_i ~ N(0, I + θ·s sᵀ) with s k-sparse (appendix).
Each statistic below is a classical test of "the rows of W are i.i.d. N(0, I_D)"; higher = more suspicious:

* ``ks_coord`` / ``ad_coord``: Kolmogorov–Smirnov / Anderson–Darling of each column against N(0, 1),
  maximum over the D coordinates (the marginals of pancakes are Gaussian to exponentially small error).
* ``ks_proj`` / ``ad_proj``: the same on W·v for random unit directions v (a direction the auditor does
  not know cannot be chosen; a random one is almost orthogonal to the secret).
* ``mp_edge``: top eigenvalue of Ĉ = WᵀW/m over the Marchenko–Pastur edge (1 + √(D/m))², in units of its
  Tracy–Widom scale: sees a spike above the BBP edge θ > √(D/m), nothing below. (Lanczos on the implicit
  operator, ``top_gram_eigenvalue``; the covariance is never formed.)
* ``kurtosis``: largest |excess kurtosis| of a coordinate, standardized by √(24/m).
* ``spca_diag``: Johnstone–Lu diagonal thresholding: largest standardized variance excess (Ĉ_jj − 1)·√(m/2).
* ``spca_covthresh``: covariance thresholding (Krauthgamer–Nadler–Vilenchik / Deshpande–Montanari, the
  polynomial-time proxies for Berthet–Rigollet's sparse-PCA detection): top eigenvalue of the soft-
  thresholded Ĉ − I, threshold τ·√(log D / m) per entry.

The array functions (``*_stat(W)``) work on any matrix (tests use synthetic ones); the registered
detectors apply them to ``model.weights_``.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import UsageError
from .base import as_float, detector

WEIGHT_SCHEMES = ("rff", "relu")


def model_weights(model) -> np.ndarray:
    """The random weights g_i (m × D) of an RFF / ReLU model; a clear error for other families."""
    W = getattr(model, "weights_", None)
    if W is None:
        raise UsageError(f"model family {getattr(model, 'family', type(model).__name__)!r} has no random weights "
                         "`weights_`; white-box weight detectors apply to rff and relu models only")
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 8:
        raise UsageError(f"weights_ must be an m×D matrix with m ≥ 8; got shape {W.shape}")
    return W


# --- one-dimensional goodness of fit against N(0, 1), vectorized over columns -------------------

def ks_columns(W: np.ndarray) -> np.ndarray:
    """Kolmogorov–Smirnov statistic D_n of every column of W against N(0, 1) (same as scipy.stats.kstest)."""
    X = np.sort(np.asarray(W, dtype=np.float64), axis=0)
    n = X.shape[0]
    F = stats.norm.cdf(X)
    i = np.arange(1, n + 1)[:, None]
    return np.maximum((i / n - F).max(axis=0), (F - (i - 1) / n).max(axis=0))


def ad_columns(W: np.ndarray) -> np.ndarray:
    """Anderson–Darling A² of every column of W against the fully specified N(0, 1)."""
    X = np.sort(np.asarray(W, dtype=np.float64), axis=0)
    n = X.shape[0]
    i = np.arange(1, n + 1)[:, None]
    logF = stats.norm.logcdf(X)
    logS = stats.norm.logsf(X[::-1])  # log(1 − F(x_{n+1−i}))
    return -n - ((2 * i - 1) * (logF + logS)).sum(axis=0) / n


def random_directions(D: int, n_dirs: int, rng: np.random.Generator) -> np.ndarray:
    """n_dirs unit vectors uniform on the sphere in R^D (columns)."""
    V = rng.standard_normal((D, n_dirs))
    return V / np.linalg.norm(V, axis=0, keepdims=True)


def ks_coord_stat(W: np.ndarray) -> float:
    """max_j √m·KS(column j vs N(0,1))."""
    return float(np.sqrt(W.shape[0]) * ks_columns(W).max())


def ad_coord_stat(W: np.ndarray) -> float:
    """max_j A²(column j vs N(0,1))."""
    return float(ad_columns(W).max())


def ks_proj_stat(W: np.ndarray, rng: np.random.Generator, n_dirs: int = 64) -> float:
    """max over random unit v of √m·KS(W v vs N(0,1))."""
    return float(np.sqrt(W.shape[0]) * ks_columns(W @ random_directions(W.shape[1], n_dirs, rng)).max())


def ad_proj_stat(W: np.ndarray, rng: np.random.Generator, n_dirs: int = 64) -> float:
    """max over random unit v of A²(W v vs N(0,1))."""
    return float(ad_columns(W @ random_directions(W.shape[1], n_dirs, rng)).max())


def kurtosis_stat(W: np.ndarray) -> float:
    """max_j |excess kurtosis of column j| / √(24/m) (Fisher's definition, mean known = 0)."""
    m = W.shape[0]
    v = (W**2).mean(axis=0)
    k = (W**4).mean(axis=0) / v**2 - 3.0
    return float(np.abs(k).max() / np.sqrt(24.0 / m))


# --- spectrum and sparse PCA ------------------------------------------------------------------

def sample_covariance(W: np.ndarray) -> np.ndarray:
    """Ĉ = WᵀW / m (the mean is known to be 0 under the honest distribution)."""
    return (W.T @ W) / W.shape[0]


DENSE_BELOW = 128  # below this size a dense eigensolver beats ARPACK's start-up


def top_gram_eigenvalue(W: np.ndarray) -> float:
    """λ_max(WᵀW/m) (= λ_max(WWᵀ/m)) by Lanczos (ARPACK ``eigsh``) on the implicit operator v ↦ Wᵀ(Wv)/m over
    the smaller side; never forms the covariance. Deterministic start vector; agrees with ``eigvalsh`` to
    ~1e-12 relative. Dense ``eigvalsh`` for small matrices.

    Examples
    --------
    >>> W = np.random.default_rng(0).standard_normal((400, 200))
    >>> bool(abs(top_gram_eigenvalue(W) - np.linalg.eigvalsh(W.T @ W / 400)[-1]) < 1e-9)
    True
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    m, D = W.shape
    n = min(m, D)
    if n <= DENSE_BELOW:
        return float(np.linalg.eigvalsh(sample_covariance(W) if D <= m else W @ W.T / m)[-1])
    if D <= m:
        op = LinearOperator((D, D), matvec=lambda v: W.T @ (W @ v) / m, dtype=np.float64)
    else:
        op = LinearOperator((m, m), matvec=lambda v: W @ (W.T @ v) / m, dtype=np.float64)
    return float(eigsh(op, k=1, which="LA", v0=np.ones(n), tol=1e-12, return_eigenvectors=False)[0])


def top_eigenvalue_sparse(E: np.ndarray) -> float:
    """λ_max of a symmetric matrix that is mostly zeros (soft-thresholded covariance): Lanczos on its sparse
    form; 0 for the zero matrix; dense ``eigvalsh`` for small ones."""
    from scipy import sparse
    from scipy.sparse.linalg import eigsh

    n = E.shape[0]
    if n <= DENSE_BELOW:
        return float(np.linalg.eigvalsh(E)[-1])
    S = sparse.csr_matrix(E)
    if S.nnz == 0:
        return 0.0
    return float(eigsh(S, k=1, which="LA", v0=np.ones(n), tol=1e-12, return_eigenvectors=False)[0])


def mp_edge_stat(W: np.ndarray) -> float:
    """(λ_max(Ĉ) − MP edge) in Tracy–Widom units: m^{-2/3}-scale fluctuations of the top eigenvalue.

    MP edge μ = (1 + √γ)², γ = D/m; Tracy–Widom scale σ = (√m + √D)(1/√m + 1/√D)^{1/3}/m (Johnstone 2001).
    A spike θ > √γ (BBP) pushes λ_max to (1+θ)(1+γ/θ), far above the edge; θ ≤ √γ leaves it at the edge.
    """
    m, D = W.shape
    lam = top_gram_eigenvalue(W)
    edge = (1 + np.sqrt(D / m)) ** 2
    scale = (np.sqrt(m) + np.sqrt(D)) * (1 / np.sqrt(m) + 1 / np.sqrt(D)) ** (1 / 3) / m
    return float((lam - edge) / scale)


def spca_diag_stat(W: np.ndarray) -> float:
    """Johnstone–Lu diagonal thresholding: max_j (Ĉ_jj − 1)·√(m/2) (a k-sparse spike raises k variances by θ/k)."""
    m = W.shape[0]
    return float(((W**2).mean(axis=0).max() - 1.0) * np.sqrt(m / 2.0))


def spca_covthresh_stat(W: np.ndarray, tau: float = 1.0) -> float:
    """Covariance thresholding: λ_max of η_soft(Ĉ − I, τ·√(log D / m))·√m off the diagonal.

    Entries of Ĉ − I are ≈ N(0, 1/m) under the null; soft-thresholding at a multiple of √(log D / m)
    zeroes almost all of them, leaving the k×k block of a sparse spike (entries θ/k) when θ/k exceeds it.
    """
    m, D = W.shape
    E = sample_covariance(W)
    np.fill_diagonal(E, 0.0)
    t = tau * np.sqrt(np.log(D) / m)
    E = np.sign(E) * np.maximum(np.abs(E) - t, 0.0)
    return float(top_eigenvalue_sparse(E) * np.sqrt(m))


# --- registered detectors ----------------------------------------------------------------------

STATS = {
    "ks_coord": lambda W, rng: ks_coord_stat(W),
    "ad_coord": lambda W, rng: ad_coord_stat(W),
    "ks_proj": ks_proj_stat,
    "ad_proj": ad_proj_stat,
    "mp_edge": lambda W, rng: mp_edge_stat(W),
    "kurtosis": lambda W, rng: kurtosis_stat(W),
    "spca_diag": lambda W, rng: spca_diag_stat(W),
    "spca_covthresh": lambda W, rng: spca_covthresh_stat(W),
}


def weight_features(W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every statistic above as one feature vector (the white-box meta-classifier's input)."""
    return np.array([STATS[k](W, rng) for k in STATS], dtype=np.float64)


@detector("ks_coord", schemes=WEIGHT_SCHEMES, requires=("weights",))
def ks_coord(model, data, key, rng) -> float:
    """Per-coordinate Kolmogorov–Smirnov of the random weights against N(0,1) (max over coordinates)."""
    return as_float(ks_coord_stat(model_weights(model)))


@detector("ad_coord", schemes=WEIGHT_SCHEMES, requires=("weights",))
def ad_coord(model, data, key, rng) -> float:
    """Per-coordinate Anderson–Darling of the random weights against N(0,1) (max over coordinates)."""
    return as_float(ad_coord_stat(model_weights(model)))


@detector("ks_proj", schemes=WEIGHT_SCHEMES, requires=("weights",))
def ks_proj(model, data, key, rng) -> float:
    """Kolmogorov–Smirnov of random projections W·v against N(0,1) (max over 64 directions)."""
    return as_float(ks_proj_stat(model_weights(model), rng))


@detector("ad_proj", schemes=WEIGHT_SCHEMES, requires=("weights",))
def ad_proj(model, data, key, rng) -> float:
    """Anderson–Darling of random projections W·v against N(0,1) (max over 64 directions)."""
    return as_float(ad_proj_stat(model_weights(model), rng))


@detector("mp_edge", schemes=WEIGHT_SCHEMES, requires=("weights",))
def mp_edge(model, data, key, rng) -> float:
    """Top eigenvalue of WᵀW/m above the Marchenko–Pastur edge (Tracy–Widom units)."""
    return as_float(mp_edge_stat(model_weights(model)))


@detector("kurtosis", schemes=WEIGHT_SCHEMES, requires=("weights",))
def kurtosis(model, data, key, rng) -> float:
    """Largest standardized |excess kurtosis| of a weight coordinate."""
    return as_float(kurtosis_stat(model_weights(model)))


@detector("spca_diag", schemes=WEIGHT_SCHEMES, requires=("weights",))
def spca_diag(model, data, key, rng) -> float:
    """Sparse PCA by diagonal thresholding (Johnstone–Lu): largest coordinate variance excess."""
    return as_float(spca_diag_stat(model_weights(model)))


@detector("spca_covthresh", schemes=WEIGHT_SCHEMES, requires=("weights",))
def spca_covthresh(model, data, key, rng) -> float:
    """Sparse PCA by covariance thresholding: top eigenvalue of the soft-thresholded WᵀW/m − I."""
    return as_float(spca_covthresh_stat(model_weights(model)))
