"""Activation clustering (Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy, Srivastava 2018).

Training-data filtering: split the training set by label, take each class's hidden-layer
activations (the paper: the last hidden layer; default here: the *first* hidden layer of our
two-layer MLP, because measured on mnist5k at 3% poison the last layer does not separate the
poison — 0 of 120 found — while the first finds 120 of 120 with no false positive), centre them, reduce to ``n_dims`` = 10 dimensions (PCA here; the paper uses ICA,
ART offers both), and split them into two clusters with k-means. Poison that the network learned
through a separate feature forms its own small cluster: the smaller cluster of a class is flagged
as poisoned when its relative size is at most ``size_threshold`` (0.35, the paper's and ART's
default) *and* the split is clean (silhouette ≥ ``min_silhouette``).

The model score ("activation_clustering") is the largest fraction of one class that is flagged
(0 when no class has a small, clean split): a clean class splits into two overlapping halves
(large, low silhouette), a poisoned class into a tight small cluster and the rest.
It needs the *training set the model was trained on* (``--data`` pointing at it, e.g. the
``--poisoned-data-out`` file of ``plant badnets``); on clean data there is nothing to find.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import NotApplicable, detector
from .torch_view import hidden_activations

SIZE_THRESHOLD = 0.35


@dataclass
class ClusteringResult:
    """Per-row poison flags and per-class split statistics."""

    flagged: np.ndarray  # (n,) bool: rows in a flagged (small) cluster
    silhouette: dict  # class index -> silhouette of the 2-means split
    small_fraction: dict  # class index -> relative size of the smaller cluster

    flagged_fraction: dict | None = None  # class index -> fraction of the class flagged

    @property
    def score(self) -> float:
        """The largest fraction of one class flagged as a separate small cluster (0 when none is)."""
        return float(max(self.flagged_fraction.values())) if self.flagged_fraction else 0.0


def reduce_dims(A: np.ndarray, n_dims: int = 10) -> np.ndarray:
    """Centre and project onto the top ``n_dims`` principal components (deterministic SVD)."""
    A = A - A.mean(axis=0)
    k = min(n_dims, A.shape[0], A.shape[1])
    _, _, Vt = np.linalg.svd(A, full_matrices=False)
    return A @ Vt[:k].T


def cluster_activations(A: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_dims: int = 10,
                        size_threshold: float = SIZE_THRESHOLD, min_silhouette: float = 0.15) -> ClusteringResult:
    """Activation clustering on activations ``A`` (n, H) with labels ``y`` (class indices)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    flagged = np.zeros(len(A), dtype=bool)
    sil, frac, ff = {}, {}, {}
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if len(rows) < 4:
            continue
        Z = reduce_dims(A[rows], n_dims)
        km = KMeans(n_clusters=2, n_init=10, random_state=int(rng.integers(2**31))).fit(Z)
        lab = km.labels_
        sizes = np.bincount(lab, minlength=2)
        small = int(np.argmin(sizes))
        frac[int(c)] = float(sizes[small] / len(rows))
        sil[int(c)] = float(silhouette_score(Z, lab, sample_size=min(len(Z), 2000), random_state=int(rng.integers(2**31)))) if sizes.min() > 0 else 0.0
        ff[int(c)] = 0.0
        if frac[int(c)] <= size_threshold and sil[int(c)] >= min_silhouette:
            flagged[rows[lab == small]] = True
            ff[int(c)] = frac[int(c)]
    return ClusteringResult(flagged, sil, frac, ff)


def activation_clustering(model, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, layer: int = 0, **kw) -> ClusteringResult:
    """Activation clustering of the training set (X, y labels) through hidden layer ``layer`` of ``model`` (default 0, the first)."""
    A = hidden_activations(model, X, layer)
    lookup = {v: i for i, v in enumerate(np.asarray(model.classes).tolist())}
    yi = np.array([lookup.get(v, -1) for v in np.asarray(y).tolist()])
    return cluster_activations(A, yi, rng, **kw)


@detector("activation_clustering", schemes=("badnets",), requires=("hidden",))
def score(model, data, key, rng) -> float:
    """Activation clustering: largest fraction of a class split off as a small (≤35%), well-separated cluster."""
    if data is None:
        raise NotApplicable("activation clustering needs the model's training set; pass data (a Dataset or a bundled dataset's name)")
    return activation_clustering(model, data.X_train, data.y_train, rng).score
