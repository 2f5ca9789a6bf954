"""One interface for every detector: (model [+ data] [+ key]) → score, higher = more suspicious.

A detector is registered with ``@detector(name, needs_key=..., schemes=...)`` on a function

    score(model: Model, data: Dataset | None, key: object | None, rng: numpy.random.Generator) -> float

``schemes`` lists the scheme names of the arena it applies to (``"rff"``, ``"relu"``, ``"signature"``,
``"checksum"``, ``"badnets"``); ``needs_key`` marks the positive-control oracles that use the secret.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import UndetectableError, UsageError


class NotApplicable(UndetectableError):
    """A detector cannot run on this model (family, missing data); audit tables show "n/a" and the reason."""


@dataclass(frozen=True)
class Detector:
    name: str
    score: Callable[..., float]
    needs_key: bool
    schemes: tuple[str, ...]
    description: str = ""


DETECTORS: dict[str, Detector] = {}


def detector(name: str, *, needs_key: bool = False, schemes: tuple[str, ...] = ()):
    def wrap(fn):
        DETECTORS[name] = Detector(name, fn, needs_key, tuple(schemes), (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "")
        return fn

    return wrap


def get_detectors(names: list[str] | None = None, scheme: str | None = None) -> list[Detector]:
    """Detectors by name (all when None), optionally only those applicable to ``scheme``."""
    _import_all()
    if names:
        unknown = [n for n in names if n not in DETECTORS]
        if unknown:
            raise UsageError(f"unknown detector(s) {unknown}; choose from {', '.join(sorted(DETECTORS))}")
        found = [DETECTORS[n] for n in names]
    else:
        found = list(DETECTORS.values())
    return [d for d in found if scheme is None or scheme in d.schemes]


def _import_all() -> None:
    """Import every detector module so that it registers itself (add yours here)."""
    import importlib

    for mod in DETECTOR_MODULES:
        importlib.import_module(f"undetectable.audit.{mod}")


# module names under undetectable/audit/ that define detectors; add yours to this tuple
DETECTOR_MODULES: tuple[str, ...] = ("weight_stats", "key_oracles",
                                      "neural_cleanse", "strip", "activation_clustering", "spectral", "disagreement",
                                      "graph_ops")


def as_float(x) -> float:
    x = float(np.asarray(x))
    return x if np.isfinite(x) else 0.0
