"""The experiments behind the demo, one module per part of the paper, each returning an ``ExperimentResult``.

``EXPERIMENTS`` is the one registry (name → "module:function", imported lazily), in the paper's order:
the constructions (§5, §6, appendix), the auditor's view, then the defenses.
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Callable

from .base import ExperimentResult, Row, rows_of

EXPERIMENTS: dict[str, str] = {
    "signature": "undetectable.experiments.signature:section",
    "in_graph": "undetectable.experiments.in_graph:section",
    "rff": "undetectable.experiments.rff:section",
    "relu": "undetectable.experiments.relu:section",
    "arena": "undetectable.experiments.arena:section",
    "hardness": "undetectable.experiments.hardness:section",
    "defenses": "undetectable.experiments.defenses:section",
    "oblivious": "undetectable.experiments.oblivious:section",
}


def get_experiment(name: str) -> Callable[[Path, bool, int], ExperimentResult]:
    """The experiment function registered as ``name``."""
    from ..resolve import load_object

    return load_object(EXPERIMENTS[name])


__all__ = ["EXPERIMENTS", "ExperimentResult", "Row", "get_experiment", "rows_of"]
