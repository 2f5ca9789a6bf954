"""The one resolver of the registries' "package.module:attr" strings (imported lazily, on first use).

Registries (model families, learners, schemes, experiments, the package's lazy names) name their entries
by string so that importing a registry imports nothing heavy; ``load_object`` turns an entry into the
object.

Examples
--------
>>> from undetectable.resolve import load_object
>>> load_object("undetectable.errors:UsageError").__name__
'UsageError'
"""
from __future__ import annotations

import importlib
from typing import Any


def load_object(path: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
