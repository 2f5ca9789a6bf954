"""Honest learners and adapters. ``train_model`` is the one entry point the CLI uses."""
from __future__ import annotations

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
    from ..resolve import load_object

    if kind not in LEARNERS:
        raise UsageError(f"unknown model {kind!r}; use one of {', '.join(LEARNERS)}")
    return load_object(LEARNERS[kind])(data, seed=seed, **options)
