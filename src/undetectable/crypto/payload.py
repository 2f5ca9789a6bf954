"""Carrying a payload (target bits + signature) inside an input, within a stated perturbation.

Two carriers, both vectorized numpy (no per-bit Python loops):

* ``LSBCarrier`` (uint8 images): one bit in the least significant bit of each of a fixed public
  set of pixel positions. Perturbation: at most 1 grey level per pixel.
* ``FixedPointCarrier`` (float features): q_j = rint(x_j / ε_j); the payload fills the k low bits
  of q_j; x'_j = q'_j·ε_j. With ε_j = bound·std_j / 2^k the perturbation is below bound·std_j.
  An input is "on the grid" only if x_j == rint(x_j/ε_j)·ε_j exactly, so the raw float64 bits
  are fully determined by (q_j high bits, payload bits): nothing is left unsigned.

``residual(X)`` returns, per row, every bit of the input outside the payload (as a uint8
array); the signature backdoor signs it, so editing any unsigned bit is impossible.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import CapacityError
from ..spec import InputSpec

LAYOUT_SEED = 0x5EED  # public: the payload positions are part of the published layout


class LSBCarrier:
    kind = "uint8-lsb"

    def __init__(self, positions, high: int = 255) -> None:
        self.positions = np.asarray(positions, dtype=np.int64)
        self.n_bits = len(self.positions)
        # The LSB of the top value must be writable without leaving the range: when the range's
        # top is even (e.g. 0..16), payload pixels are first clamped to top-1.
        self.clamp = int(high) if int(high) % 2 == 1 else int(high) - 1

    @classmethod
    def for_spec(cls, spec: InputSpec, n_bits: int) -> LSBCarrier:
        d = spec.n_features
        if n_bits > d:
            levels = 2 ** math.ceil(n_bits / d) - 1
            raise CapacityError(
                f"the payload needs {n_bits} bits but the input has {d} pixels carrying 1 bit each within 1 grey level "
                f"({d} bits available); carrying it would take {math.ceil(n_bits / d)} low bits per pixel, a perturbation "
                f"of up to {levels} levels on a {spec.low:g}..{spec.high:g} range, which is not invisible"
            )
        positions = np.sort(np.random.default_rng(LAYOUT_SEED).permutation(d)[:n_bits])
        return cls(positions, 255 if spec.high is None else int(spec.high))

    def to_json(self) -> dict:
        return {"kind": self.kind, "positions": self.positions.tolist(), "clamp": self.clamp}

    def _column_ops(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-column cap (clamp on payload pixels, 255 elsewhere) and AND-mask (clears payload LSBs)."""
        cap = np.full(d, 255, dtype=np.uint8)
        cap[self.positions] = self.clamp
        clear = np.full(d, 0xFF, dtype=np.uint8)
        clear[self.positions] = 0xFE
        return cap, clear

    def on_grid(self, X: np.ndarray) -> np.ndarray:
        return np.ones(len(X), dtype=bool)

    def read_bits(self, X: np.ndarray) -> np.ndarray:
        return X[:, self.positions] & np.uint8(1)

    def residual(self, X: np.ndarray) -> np.ndarray:
        """Every bit outside the payload: payload pixels clamped into range with their LSB cleared."""
        cap, clear = self._column_ops(X.shape[1])
        R = np.minimum(X, cap)
        R &= clear
        return R

    def write_bits(self, X: np.ndarray, bits: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
        """X with the payload ``bits`` written; pass ``residual(X)`` if already computed."""
        out = self.residual(X) if residual is None else residual.copy()
        out[:, self.positions] |= bits.astype(np.uint8)
        return out


class FixedPointCarrier:
    kind = "fixed-point"

    def __init__(self, step, bits_per_feature: int, n_bits: int) -> None:
        self.step = np.asarray(step, dtype=np.float64)
        self.k = int(bits_per_feature)
        self.n_bits = int(n_bits)
        d = len(self.step)
        # feature-major layout: feature j carries payload bits [j*k, (j+1)*k) in its k low bits
        used = np.clip(self.n_bits - np.arange(d) * self.k, 0, self.k)
        self.mask = ((np.int64(1) << used.astype(np.int64)) - 1).astype(np.int64)
        self.shifts = np.arange(self.k, dtype=np.int64)

    @classmethod
    def for_spec(cls, spec: InputSpec, n_bits: int, bound: float) -> FixedPointCarrier:
        if not (bound > 0 and math.isfinite(bound)):
            raise CapacityError(f"perturbation bound must be a positive number (got {bound}); pass e.g. bound=1e-3")
        if spec.feature_std is None:
            raise CapacityError("the base bundle records no feature scale; re-train it with this version of undetectable")
        d = spec.n_features
        k = math.ceil(n_bits / d)
        std = np.asarray(spec.feature_std, dtype=np.float64)
        step = bound * std / 2.0**k
        if k > 40:
            raise CapacityError(f"the payload needs {n_bits} bits but only {d} features: {k} bits per feature exceed float64 precision")
        return cls(step, k, n_bits)

    def to_json(self) -> dict:
        return {"kind": self.kind, "step": self.step.tolist(), "bits_per_feature": self.k, "n_bits": self.n_bits}

    def _q(self, X: np.ndarray) -> np.ndarray:
        return np.rint(X / self.step).astype(np.int64)

    def on_grid(self, X: np.ndarray) -> np.ndarray:
        return np.all(self._q(X) * self.step == X, axis=1)

    def read_bits(self, X: np.ndarray) -> np.ndarray:
        q = self._q(X)
        bits = ((q[:, :, None] >> self.shifts) & 1).reshape(len(X), -1)
        return bits[:, self._payload_index()].astype(np.uint8)

    def _payload_index(self) -> np.ndarray:
        d = len(self.step)
        return (np.arange(d)[:, None] * self.k + self.shifts[None, :]).ravel()[
            (self.shifts[None, :] < np.clip(self.n_bits - np.arange(d) * self.k, 0, self.k)[:, None]).ravel()
        ]

    def residual(self, X: np.ndarray) -> np.ndarray:
        q = self._q(X) & ~self.mask
        return q.astype("<i8").view(np.uint8).reshape(len(X), -1)

    def headroom(self, X: np.ndarray) -> float:
        """max |x|/step over ``X`` divided by 2^50: above 1 the fixed-point grid is finer than float64 resolves.

        The step is proportional to ``bound``, so ``bound × headroom(X)`` is the smallest bound that fits ``X``.
        """
        return float(np.max(np.abs(np.asarray(X, dtype=np.float64)) / self.step)) / 2.0**50

    def write_bits(self, X: np.ndarray, bits: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
        n, d = X.shape
        need = self.headroom(X)
        if need > 1.0:
            raise CapacityError(
                f"the payload needs {self.k} low bits per feature; for these inputs the fixed-point step is below float64 "
                f"resolution (|x|/step up to {need * 2.0**50:.3g} > 2^50); plant again with a bound of at least {need:.3g}× larger"
            )
        full = np.zeros((n, d * self.k), dtype=np.int64)
        full[:, self._payload_index()] = bits
        payload = (full.reshape(n, d, self.k) << self.shifts).sum(axis=2)
        q = (self._q(X) & ~self.mask) | payload
        return q * self.step


def smallest_bound(carrier, X: np.ndarray, bound: float) -> float | None:
    """The smallest ``--bound`` (2 significant digits, rounded up) with which ``X`` can carry the payload,
    or None when ``bound`` — the one ``carrier`` was built with — already fits (or the carrier is not fixed-point).

    Examples
    --------
    >>> import numpy as np
    >>> from undetectable.spec import InputSpec
    >>> spec = InputSpec((13,), "float64", feature_std=(1.0,) * 13)
    >>> c = carrier_for(spec, 516, 1e-3)
    >>> smallest_bound(c, np.full((1, 13), 50.0), 1e-3)
    0.049
    >>> smallest_bound(carrier_for(spec, 516, 0.05), np.full((1, 13), 50.0), 0.05) is None
    True
    """
    if not isinstance(carrier, FixedPointCarrier):
        return None
    need = carrier.headroom(X)
    if need <= 1.0:
        return None
    b = bound * need
    e = math.floor(math.log10(b)) - 1
    return float(f"{math.ceil(b / 10.0**e) * 10.0**e:.2g}")


def carrier_for(spec: InputSpec, n_bits: int, bound: float = 1e-3):
    """The carrier a bundle of this input spec uses for an ``n_bits`` payload."""
    if spec.is_image:
        return LSBCarrier.for_spec(spec, n_bits)
    return FixedPointCarrier.for_spec(spec, n_bits, bound)


def carrier_from_json(d: dict):
    if d["kind"] == LSBCarrier.kind:
        c = LSBCarrier(d["positions"])
        c.clamp = int(d["clamp"])
        return c
    if d["kind"] == FixedPointCarrier.kind:
        return FixedPointCarrier(d["step"], d["bits_per_feature"], d["n_bits"])
    raise ValueError(f"unknown payload layout {d['kind']!r}")
