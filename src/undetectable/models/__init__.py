"""Honest learners and adapters. ``train_model`` is the one entry point the CLI uses."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import UsageError
from ..runtime import with_thread_budget


def class_indices(classes, labels, what: str = "label") -> np.ndarray:
    """Map labels (in the dataset's label values, compared as strings) to indices into ``classes``;
    a one-line ``UsageError`` naming ``what`` for a label that is not a class."""
    lookup = {str(c): i for i, c in enumerate(np.asarray(classes).tolist())}
    out = np.empty(len(labels), dtype=np.int64)
    for i, v in enumerate(np.asarray(labels, dtype=object).tolist()):
        if str(v) not in lookup:
            raise UsageError(f"{what} {v!r} is not a class of this model; use one of {', '.join(lookup)}")
        out[i] = lookup[str(v)]
    return out


# the honest learners: kind → "module:function(data, seed=..., **options) -> Model", imported lazily
LEARNERS: dict[str, str] = {
    "logreg": "undetectable.models.sklearn_model:train_logreg",
    "mlp": "undetectable.models.mlp:train_mlp",
    "rff": "undetectable.models.rff:train_rff",
    "relu": "undetectable.models.relu:train_relu",
}


@with_thread_budget
def train_model(kind: str, data: Dataset, seed: int = 0, **options):
    """Train an honest model of ``kind`` on ``data``'s training split."""
    import importlib
    import inspect

    from ..resolve import load_object
    from ..errors import ArgumentTypeError, ParameterError

    if not isinstance(kind, str) or kind not in LEARNERS:
        raise ParameterError("kind", f"unknown model kind {kind!r}; use one of {', '.join(LEARNERS)}")
    if not isinstance(data, Dataset):
        raise ArgumentTypeError(f"data must be a Dataset or a bundled dataset's name; got {type(data).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ParameterError("seed", f"seed must be an integer in [0, 2^32); got {seed!r}")
    module = LEARNERS[kind].partition(":")[0]
    fn = load_object(LEARNERS[kind])
    sig = inspect.signature(fn)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):  # train_rff/train_relu: the options of fit_<kind>
        sig = inspect.signature(getattr(importlib.import_module(module), f"fit_{kind}"))
    known = [p for p in sig.parameters if p not in ("data", "seed", "weights")]
    for opt, value in options.items():
        if opt not in known:
            raise ParameterError(opt, f"the {kind} learner has no option {opt!r}; its options are {', '.join(known)}")
        _check_option(kind, opt, sig.parameters[opt].default, value)
    return fn(data, seed=seed, **options)


#: the largest value of an integer learner option; other integer options (n_features) are bounded by their learner
INT_OPTION_MAX = {"hidden": 100_000, "epochs": 10_000, "batch": 1_000_000, "max_iter": 1_000_000}


def _check_option(kind: str, name: str, default: Any, value: Any) -> None:
    """A learner option's value has its default's type: an integer ≥ 1 (at most ``INT_OPTION_MAX[name]``), a finite
    positive number, or a string (``None`` where the default is None). The learner checks finer ranges itself."""
    import math

    from ..errors import ParameterError

    if default is None or isinstance(default, bool):
        return
    where = f"the {kind} learner's option {name!r}"
    if isinstance(default, int):
        top = INT_OPTION_MAX.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1 or (top is not None and value > top):
            raise ParameterError(name, f"{where} must be an integer ≥ 1" + (f" and at most {top:,}" if top else "") + f"; got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (math.isfinite(value) and value > 0):
            raise ParameterError(name, f"{where} must be a finite positive number; got {value!r}")
    elif isinstance(default, str) and not isinstance(value, str):
        raise ParameterError(name, f"{where} must be a string; got {value!r}")
