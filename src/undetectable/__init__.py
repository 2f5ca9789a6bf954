"""undetectable: plant, activate, audit and immunize undetectable backdoors in ML models.

Implements Goldwasser, Kim, Vaikuntanathan, Zamir, *Planting Undetectable Backdoors in Machine
Learning Models* (FOCS 2022, arXiv 2204.06974).

The public API (everything is imported lazily: ``import undetectable`` stays light)::

    import undetectable as ud
    data = ud.datasets.load("mnist5k")
    honest = ud.train("logreg", data, seed=0)
    key = ud.keygen()                                   # = ud.schemes.signature.keygen()
    bd, _ = ud.plant("signature", honest, key=key.public)
    xa = key.activate(bd, data.X_test[:10], target=7)   # = ud.activate(bd, key, X, target=7)

Functions: ``train``, ``keygen``, ``plant``, ``activate``, ``predict``, ``save``, ``load``, ``audit_model``,
``arena``, ``immunize``, ``verify_coins``, ``write_report``; for model files (``.onnx``, any exporter) also
``load_model``, ``inspect_model``, ``arena_files`` (and ``plant("signature", nn_module, input=...)`` for torch). Namespaces: ``datasets``, ``schemes``.
Types: ``Dataset``, ``Model``, ``Key``, ``Scheme``, ``ParameterError`` and the errors of ``errors``.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_API = ("activate", "arena", "audit_model", "immunize", "keygen", "load", "plant", "predict", "save", "train",
        "verify_coins", "write_report", "arena_files", "inspect_model", "load_model")
_MODULES = ("datasets", "schemes", "errors")
_NAMES = {"Dataset": "undetectable.data:Dataset", "Model": "undetectable.bundle:Model",
          "Key": "undetectable.schemes.base:Key", "Scheme": "undetectable.schemes.base:Scheme",
          "Learner": "undetectable.schemes.base:Learner", "ParameterError": "undetectable.schemes.base:ParameterError",
          "UndetectableError": "undetectable.errors:UndetectableError", "UsageError": "undetectable.errors:UsageError",
          "BundleError": "undetectable.errors:BundleError", "KeyMismatchError": "undetectable.errors:KeyMismatchError"}

__all__ = ["__version__", *_API, *_MODULES, *_NAMES]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import datasets, errors, schemes  # noqa: F401
    from .api import (activate, arena, audit_model, immunize, keygen, load, plant, predict, save, train,  # noqa: F401
                      verify_coins, write_report)
    from .api import arena_files, inspect_model, load_model  # noqa: F401
    from .bundle import Model  # noqa: F401
    from .data import Dataset  # noqa: F401
    from .errors import BundleError, KeyMismatchError, UndetectableError, UsageError  # noqa: F401
    from .schemes.base import Key, Learner, ParameterError, Scheme  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("undetectable.api"), name)
    if name in _MODULES:
        return importlib.import_module(f"undetectable.{name}")
    if name in _NAMES:
        from .resolve import load_object

        return load_object(_NAMES[name])
    raise AttributeError(f"module 'undetectable' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
