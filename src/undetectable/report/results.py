"""One results format for every run: a JSON record with seed, versions, parameters, metrics, CIs."""
from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_file


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("undetectable", "numpy", "scipy", "scikit-learn", "torch", "cryptography"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def record(name: str, seed: int | None, params: dict, metrics: dict, ci: dict | None = None, **extra: Any) -> dict:
    """A results record: ``{"name", "seed", "versions", "params", "metrics", "ci", ...}``."""
    return {"name": name, "seed": seed, "versions": versions(), "params": params, "metrics": metrics, "ci": ci or {}, **extra}


def clopper_pearson_ci(successes: int, n: int, alpha: float = 0.05) -> list[float]:
    """Two-sided Clopper–Pearson (exact) interval for a proportion, via scipy."""
    from scipy.stats import binomtest

    if n == 0:
        return [0.0, 1.0]
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=1 - alpha, method="exact")
    return [float(ci.low), float(ci.high)]


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | Path, data: Any, force: bool = True) -> Path:
    with atomic_file(path, force) as tmp:
        tmp.write_text(json.dumps(_jsonable(data), indent=1))
    return Path(path)


def perturbation_norms(X: np.ndarray, Xa: np.ndarray, unit: float = 1.0) -> dict[str, float]:
    """L0 / L2 / L∞ of Xa − X (in ``unit``s: 1/255 for pixels), mean and max, and relative to the median ‖x‖₂."""
    D = (Xa.astype(np.float64) - X.astype(np.float64)) * unit
    l2 = np.linalg.norm(D, axis=1)
    med = float(np.median(np.linalg.norm(X.astype(np.float64) * unit, axis=1)))
    return {
        "l0_mean": float((D != 0).sum(axis=1).mean()),
        "l0_max": int((D != 0).sum(axis=1).max()),
        "l2_mean": float(l2.mean()),
        "l2_max": float(l2.max()),
        "linf_max": float(np.abs(D).max()),
        "median_input_l2": med,
        "l2_mean_relative": float(l2.mean() / med) if med > 0 else float("nan"),
    }
