"""Pieces shared by the wrapper schemes (signature, checksum): base bundle, targets, bit packing, ``WrapperBackdoor``."""
from __future__ import annotations

import json
import math
import os
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


def check_layout(layout: Any, spec: Any, n_bits: int | None = None) -> None:
    """ValueError unless ``layout`` (payload_layout.json) is exactly what ``crypto.payload.carrier_for`` builds for
    ``spec``: the uint8 layout's positions are the public ones for its size and its clamp the range's; the
    fixed-point layout has one positive finite step per feature, all one bound × std / 2^k, k = ⌈n_bits / d⌉."""
    from ..crypto.payload import FixedPointCarrier, LSBCarrier

    if not isinstance(layout, dict) or not isinstance(layout.get("kind"), str):
        raise ValueError("it is not an object with a 'kind'")
    d = spec.n_features
    kind = layout["kind"]
    if kind == LSBCarrier.kind and spec.is_image:
        pos = layout.get("positions")
        if not isinstance(pos, list) or not 1 <= len(pos) <= d:
            raise ValueError(f"a uint8 layout lists 1..{d} payload positions")
        if n_bits is not None and len(pos) != n_bits:
            raise ValueError(f"it carries {len(pos)} payload bits; this bundle's payload is {n_bits} bits")
        from ..spec import InputSpec

        expected = LSBCarrier.for_spec(InputSpec(spec.shape, spec.dtype, spec.low, spec.high), len(pos)).to_json()
        if layout != expected:
            raise ValueError("its payload positions (or clamp) are not the public layout for this input")
        return
    if kind == FixedPointCarrier.kind and not spec.is_image and spec.feature_std is not None:
        step, k, nb = layout.get("step"), layout.get("bits_per_feature"), layout.get("n_bits")
        if set(layout) != {"kind", "step", "bits_per_feature", "n_bits"} or not isinstance(step, list) or len(step) != d:
            raise ValueError(f"a fixed-point layout is {{kind, step ({d} numbers), bits_per_feature, n_bits}}")
        if not (isinstance(nb, int) and not isinstance(nb, bool) and 1 <= nb <= 40 * d) or (n_bits is not None and nb != n_bits):
            raise ValueError(f"its n_bits {str(nb)[:20]} is not this bundle's payload size")
        if k != math.ceil(nb / d):
            raise ValueError(f"bits_per_feature {str(k)[:20]} is not ⌈n_bits / features⌉ = {math.ceil(nb / d)}")
        s = np.asarray(step, dtype=np.float64) if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in step) else None
        if s is None or not np.all(np.isfinite(s) & (s > 0)):
            raise ValueError("its steps are not positive finite numbers")
        ratio = s / np.asarray(spec.feature_std, dtype=np.float64)
        if not np.allclose(ratio, ratio[0], rtol=1e-9, atol=0.0):
            raise ValueError("its steps are not one bound × the base's feature std")
        return
    raise ValueError(f"layout kind {kind[:40]!r} does not fit a {spec.dtype} input")


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
    def _load_wrapped(directory: Path, n_bits: int | None = None) -> tuple[Model, Any]:
        """(base bundle, payload layout) as ``_save_wrapped`` wrote them; the layout is checked against the base
        (``check_layout``) and, given ``n_bits`` (the scheme's payload size for the base's classes), against it."""
        from ..crypto.payload import carrier_from_json
        from ..errors import BundleError
        from ..safety import limit, open_nofollow, strict_json

        base = load_bundle(directory / "base")
        if isinstance(base, WrapperBackdoor):  # plant refuses to wrap a wrapper: so does loading
            raise BundleError(f"bundle {directory} wraps a {base.family} backdoor in another; re-create it from an honest base")
        what = f"bundle {directory}: payload_layout.json"
        try:
            fd = open_nofollow(directory / "payload_layout.json", "LAYOUT_BYTES", what)
            with os.fdopen(fd, "rb") as fh:
                raw = fh.read(limit("LAYOUT_BYTES") + 1)
            layout = strict_json(raw, max_depth=3)  # duplicate keys, NaN, depth refused
            check_layout(layout, base.spec, n_bits)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{what} is malformed: {str(exc)[:200]}; re-create the bundle") from None
        return base, carrier_from_json(layout)
