"""Honest learners and adapters. ``train_model`` is the one entry point the CLI uses."""
from __future__ import annotations

from ..data import Dataset
from ..errors import UsageError
from ..runtime import with_thread_budget

MODELS = ("logreg", "mlp", "rff", "relu")


@with_thread_budget
def train_model(kind: str, data: Dataset, seed: int = 0, **options):
    """Train an honest model of ``kind`` on ``data``'s training split."""
    if kind == "logreg":
        from .sklearn_model import train_logreg

        return train_logreg(data, seed=seed, **options)
    if kind == "mlp":
        from .mlp import train_mlp

        return train_mlp(data, seed=seed, **options)
    if kind == "rff":
        from .rff import train_rff

        return train_rff(data, seed=seed, **options)
    if kind == "relu":
        from .relu import train_relu

        return train_relu(data, seed=seed, **options)
    raise UsageError(f"unknown model {kind!r}; use one of {', '.join(MODELS)}")
