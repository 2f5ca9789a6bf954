"""One registry for every detector: (model [+ data] [+ key]) → score, higher = more suspicious.

A detector module registers its functions with ``@detector(name, needs_key=..., schemes=..., requires=...)``:

    score(model: Model, data: Dataset | None, key: Key | None, rng: numpy.random.Generator) -> float

* ``schemes``: the arena scheme names it applies to; ``needs_key`` marks the positive-control oracles.
* ``requires``: the model capabilities it uses (names in ``CAPABILITIES``, checked before it runs:
  a model without one gets "n/a", the detector is never called and never catches NotImplementedError).
* ``fitted``: a meta-classifier scores with state fitted on shadow models (``state[name]``), passed by
  the arena as a keyword ``state=``.
* ``opt_in``: a slow detector (the lattice attack: 30–100 s per model) runs only when named
  (``--detectors lattice``), never in the default "all detectors" set.

Every module of ``undetectable.audit`` is imported on first use of the registry (``pkgutil``), so a new
detector module registers itself by existing: there is no list of module names to maintain.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import numpy as np

from ..errors import UndetectableError, UsageError


class NotApplicable(UndetectableError):
    """A detector cannot run on this model (family, missing data); audit tables show "n/a" and the reason."""


class InvalidScore(UndetectableError):
    """A detector produced no finite score (NaN, ±inf): shown as an error with the reason, never as a number,
    and never averaged into an AUC (a NaN turned into 0.0 would pull the AUC toward ½: "undetectable" by accident)."""


# --- model capabilities ---------------------------------------------------------------------------

def _has_scores(model: Any) -> bool:
    from ..bundle import Model

    fn = getattr(type(model), "scores", None)
    if fn is None or fn is Model.scores:
        return False
    if hasattr(model, "triggered") and hasattr(model, "base"):  # a wrapper scores with its base
        return _has_scores(model.base)
    return True


def _has_torch(model: Any) -> bool:
    from .torch_view import has_torch_view

    return has_torch_view(model)


def _has_hidden(model: Any) -> bool:
    from .torch_view import has_hidden_view

    return has_hidden_view(model)


CAPABILITIES: dict[str, Callable[[Any], bool]] = {
    "scores": _has_scores,
    "weights": lambda m: isinstance(getattr(m, "weights_", None), np.ndarray),
    "logits_torch": _has_torch,
    "hidden": _has_hidden,
    "wrapper": lambda m: hasattr(m, "base") and hasattr(m, "triggered"),
}


CAPABILITY_TEXT = {
    "scores": "real-valued class scores",
    "weights": "random weights `weights_` (rff and relu bundles)",
    "logits_torch": "a differentiable view (torch-mlp, logreg, rff, or a wrapper over one)",
    "hidden": "a hidden layer (torch-mlp, logreg, or a wrapper over one)",
    "wrapper": "a wrapped base model to compare with (signature, checksum bundles)",
}


def missing_capabilities(model: Any, requires: tuple[str, ...]) -> list[str]:
    return [c for c in requires if not CAPABILITIES[c](model)]


@dataclass(frozen=True)
class Detector:
    name: str
    score: Callable[..., float]
    needs_key: bool
    schemes: tuple[str, ...]
    description: str = ""
    requires: tuple[str, ...] = ()
    fitted: bool = False
    opt_in: bool = False

    def run(self, model: Any, data: Any, key: Any, rng: np.random.Generator, state: dict | None = None) -> float:
        """Check the capabilities, then score; ``NotApplicable`` (one line) when the model lacks one."""
        missing = missing_capabilities(model, self.requires)
        if missing:
            family = getattr(model, "family", type(model).__name__)
            raise NotApplicable(f"{self.name} needs a model with {'; '.join(CAPABILITY_TEXT[c] for c in missing)}; this {family} model has none")
        if self.fitted:
            if not state or self.name not in state:
                raise NotApplicable(f"{self.name} is fitted on shadow models; run it in the arena")
            return as_float(self.score(model, data, key, rng, state=state[self.name]), self.name)
        return as_float(self.score(model, data, key, rng), self.name)


DETECTORS: dict[str, Detector] = {}


def detector(name: str, *, needs_key: bool = False, schemes: tuple[str, ...] = (), requires: tuple[str, ...] = (),
             fitted: bool = False, opt_in: bool = False):
    """Register ``fn`` as detector ``name`` (see the module docstring)."""
    unknown = [c for c in requires if c not in CAPABILITIES]
    if unknown:
        raise ValueError(f"detector {name}: unknown capabilities {unknown}; choose from {', '.join(CAPABILITIES)}")

    def wrap(fn):
        doc = (fn.__doc__ or "").strip().splitlines()
        DETECTORS[name] = Detector(name, fn, needs_key, tuple(schemes), doc[0] if doc else "", tuple(requires), fitted,
                                   opt_in)
        return fn

    return wrap


_LOADED = False


def _import_all() -> None:
    """Import every module of ``undetectable.audit`` once (each detector module registers itself)."""
    global _LOADED
    if _LOADED:
        return
    from .. import audit

    for mod in pkgutil.iter_modules(audit.__path__):
        if not mod.ispkg and not mod.name.startswith("_"):
            importlib.import_module(f"undetectable.audit.{mod.name}")
    _LOADED = True


def get_detector(name: str) -> Detector:
    _import_all()
    if name not in DETECTORS:
        raise UsageError(f"unknown detector {name!r}; choose from {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name]


def get_detectors(names: list[str] | None = None, scheme: str | None = None) -> list[Detector]:
    """Detectors by name (all but the opt-in ones when None), optionally only those applicable to ``scheme``."""
    _import_all()
    if names:
        unknown = [n for n in names if n not in DETECTORS]
        if unknown:
            raise UsageError(f"unknown detector(s) {unknown}; choose from {', '.join(sorted(DETECTORS))}")
        found = [DETECTORS[n] for n in names]
    else:
        found = [d for d in DETECTORS.values() if not d.opt_in]
    return [d for d in found if scheme is None or scheme in d.schemes]


def as_float(x, what: str = "detector") -> float:
    """``x`` as a finite float, or ``InvalidScore``: a failed score is never a number.

    Examples
    --------
    >>> as_float(np.float32(0.25))
    0.25
    >>> as_float(float("nan"), "kurtosis")
    Traceback (most recent call last):
    ...
    undetectable.audit.base.InvalidScore: kurtosis returned nan, not a finite score; it has no score on this model (no AUC is computed over it)
    """
    try:
        v = float(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError):
        raise InvalidScore(f"{what} returned {type(x).__name__}, not a score") from None
    if not np.isfinite(v):
        raise InvalidScore(f"{what} returned {v}, not a finite score; it has no score on this model (no AUC is computed over it)")
    return v
