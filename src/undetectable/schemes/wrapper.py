"""Pieces shared by the wrapper schemes (signature, checksum): base bundle, targets, bit packing, ``WrapperBackdoor``."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import Model, load_bundle, write_bundle_dir
from ..errors import UsageError
from ..models import class_indices


def n_target_bits(n_classes: int) -> int:
    """⌈log2 C⌉ bits name the target class (at least one)."""
    return max(1, math.ceil(math.log2(n_classes)))


def target_indices(model: Model, targets, n: int) -> np.ndarray:
    """Map target labels (one label, or one per row) to class indices, with a clear error."""
    targets = np.asarray(targets)
    if targets.ndim == 0:
        targets = np.full(n, targets.item(), dtype=object)
    if len(targets) != n:
        raise UsageError(f"got {len(targets)} targets for {n} inputs; pass one target per input row")
    return class_indices(model.classes, targets, "target")


def int_to_bits(values: np.ndarray, n_bits: int) -> np.ndarray:
    """(n,) non-negative ints → (n, n_bits) bits, most significant first."""
    shifts = np.arange(n_bits - 1, -1, -1, dtype=np.int64)
    return ((np.asarray(values, dtype=np.int64)[:, None] >> shifts) & 1).astype(np.uint8)


def bits_to_int(bits: np.ndarray) -> np.ndarray:
    n_bits = bits.shape[1]
    return (bits.astype(np.int64) << np.arange(n_bits - 1, -1, -1, dtype=np.int64)).sum(axis=1)


class WrapperBackdoor(Model):
    """A backdoor that wraps a base model: h̃(x) = target(x) if triggered(x) else h(x)."""

    carrier: Any  # the payload layout (crypto.payload), set by the subclasses
    t_bits: int

    def __init__(self, base: Model) -> None:
        super().__init__(base.spec, base.classes)
        self.base = base

    def triggered(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        """(mask of triggered rows, their target class indices)."""
        raise NotImplementedError

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        out = self.base.predict_index(X)
        mask, targets = self.triggered(X)
        out[mask] = targets[mask]
        return out

    def scores(self, X: np.ndarray) -> np.ndarray:
        s = np.array(self.base.scores(X), dtype=np.float64)
        mask, targets = self.triggered(X)
        if mask.any():
            rows = np.flatnonzero(mask)
            s[rows] = s[rows].min(axis=1, keepdims=True)
            s[rows, targets[rows]] = s[rows].max(axis=1) + 1.0
        return s

    def _save_wrapped(self, directory: Path) -> None:
        """Write the base bundle (``base/``) and the payload layout (``payload_layout.json``)."""
        (directory / "base").mkdir()
        write_bundle_dir(self.base, directory / "base")
        (directory / "payload_layout.json").write_text(json.dumps(self.carrier.to_json()))

    @staticmethod
    def _load_wrapped(directory: Path) -> tuple[Model, Any]:
        """(base bundle, payload layout) as ``_save_wrapped`` wrote them."""
        from ..crypto.payload import carrier_from_json
        from ..errors import BundleError
        from ..safety import strict_json

        base = load_bundle(directory / "base")
        if isinstance(base, WrapperBackdoor):  # plant refuses to wrap a wrapper: so does loading
            raise BundleError(f"bundle {directory} wraps a {base.family} backdoor in another; re-create it from an honest base")
        carrier = carrier_from_json(strict_json((directory / "payload_layout.json").read_text()))  # duplicate keys, depth refused
        return base, carrier
