"""What a model accepts: the input specification stored in every bundle's manifest."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import UsageError


#: Float inputs beyond this magnitude are refused: float32 models overflow near 3.4e38, and squares
#: or products of float64 features near 1e154 overflow float64.
FLOAT_INPUT_LIMIT = 1e30


@dataclass(frozen=True)
class InputSpec:
    """Shape (of one example), dtype and value range of a model's inputs.

    ``feature_std`` (float inputs only) is the per-feature standard deviation of the training
    data; the float payload encoding sets its fixed-point steps from it.
    """

    shape: tuple[int, ...]
    dtype: str  # "uint8" or "float64" (bundles); "float32" or "int64" (model files' native inputs)
    low: float | None = None  # None: unbounded (float features)
    high: float | None = None
    feature_std: tuple[float, ...] | None = field(default=None)

    @property
    def n_features(self) -> int:
        return int(np.prod(self.shape))

    @property
    def is_image(self) -> bool:
        return self.dtype == "uint8"

    def to_json(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        if self.feature_std is not None:
            d["feature_std"] = list(self.feature_std)
        return d

    @classmethod
    def from_json(cls, d: dict) -> InputSpec:
        std = d.get("feature_std")
        return cls(
            shape=tuple(int(s) for s in d["shape"]),
            dtype=str(d["dtype"]),
            low=None if d.get("low") is None else float(d["low"]),
            high=None if d.get("high") is None else float(d["high"]),
            feature_std=None if std is None else tuple(float(s) for s in std),
        )

    def validate(self, X, what: str = "input") -> np.ndarray:
        """Return ``X`` as a 2-D array of this spec's dtype, or raise a clear ``UsageError``."""
        X = np.asarray(X)
        d = self.n_features
        if X.ndim == 1 and X.shape[0] == d:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != d:
            raise UsageError(
                f"{what} has shape {X.shape}, the model expects (n, {d}); reshape it to one row per example"
            )
        if X.shape[0] == 0:
            raise UsageError(f"{what} has no rows; pass at least one example")
        if self.dtype == "uint8":
            if X.dtype != np.uint8:
                if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
                    raise UsageError(f"{what} has dtype {X.dtype}, the model expects uint8 pixels; convert it")
                if not np.all(np.isfinite(X)) or np.any(X != np.round(X)):
                    raise UsageError(
                        f"{what} has dtype {X.dtype} with non-integer or non-finite values, the model expects "
                        "uint8 pixels 0..255; convert it with X.astype(np.uint8)"
                    )
                if X.min() < self.low or X.max() > self.high:
                    raise UsageError(
                        f"{what} has values in [{X.min()}, {X.max()}], outside the model's range "
                        f"[{self.low:g}, {self.high:g}]; rescale it"
                    )
                X = X.astype(np.uint8)
        elif self.dtype == "int64":
            if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
                raise UsageError(f"{what} has dtype {X.dtype}, the model expects integers; convert it")
            if np.issubdtype(X.dtype, np.floating) and (not np.all(np.isfinite(X)) or np.any(X != np.round(X))
                                                        or np.any(np.abs(X) >= 2.0**63)):
                raise UsageError(f"{what} has non-integer or non-finite values, the model expects int64; convert it")
            X = X.astype(np.int64, copy=False)
        else:
            if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
                raise UsageError(f"{what} has dtype {X.dtype}, the model expects real numbers; convert it")
            X = X.astype(np.float32 if self.dtype == "float32" else np.float64, copy=False)
            if not np.all(np.isfinite(X)):
                n_bad = int((~np.isfinite(X)).any(axis=1).sum())
                raise UsageError(f"{what} has NaN or infinite values in {n_bad} rows; remove or impute them")
            peak = float(np.max(np.abs(X)))
            if peak > FLOAT_INPUT_LIMIT:
                raise UsageError(f"{what} has values up to {peak:.3g} in magnitude, beyond ±{FLOAT_INPUT_LIMIT:g} where the "
                                 "models' float32/float64 arithmetic overflows; rescale it")
        if self.low is not None and self.high is not None and (X.min() < self.low or X.max() > self.high):
            raise UsageError(
                f"{what} has values in [{X.min():g}, {X.max():g}], outside the model's range "
                f"[{self.low:g}, {self.high:g}]; check the scaling"
            )
        return X
