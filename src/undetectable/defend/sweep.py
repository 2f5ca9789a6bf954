"""The σ sweep: what randomized smoothing (``defend.smoothing``) costs and what it kills, per construction.

For each noise level σ, on a backdoored model h̃ (signature wrapper, RFF/CLWE, ...):

* clean accuracy of the smoothed g (abstentions count as errors) and the abstention rate;
* attack success rate (ASR): the share of activated inputs x' = Activate(x, bk[, target]) on which g
  returns the target (targeted backdoors) or differs from h̃(x) without abstaining (flip backdoors);
* certified accuracy at given L2 radii (Cohen et al. CERTIFY), and the share of inputs whose certified
  radius exceeds their own activation's perturbation ‖x' − x‖₂: there, no key can change g's answer
  (with probability ≥ 1 − α).

σ = 0 is the control: g = h̃, so the ASR is the unsmoothed one.
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence

import numpy as np

from ..bundle import Model
from ..errors import UsageError
from .smoothing import ABSTAIN, Smooth


def sigma_sweep(model: Model, X: np.ndarray, y_index: np.ndarray, X_src: np.ndarray, X_act: np.ndarray,
                targets: np.ndarray | None, sigmas: Sequence[float], n: int = 32, alpha: float = 0.01,
                n0: int = 16, n_cert: int = 100, n_cert_rows: int = 50, radii: Sequence[float] = (0.0, 0.063, 0.25, 0.5),
                batch: int = 1000, rng: np.random.Generator | int = 0) -> list[dict]:
    """One row per σ: clean accuracy, abstention rate, ASR, certified accuracy at ``radii``.

    ``X``, ``y_index``: clean inputs and their true class indices. ``X_src`` → ``X_act``: inputs and
    their activations; ``targets`` (class indices) for targeted backdoors, ``None`` for flip
    backdoors (success = g(x') ≠ h̃(x) and g(x') not abstaining). Certification runs on the first
    ``n_cert_rows`` rows of ``X``/``X_src`` (n0 selection + n_cert estimation samples).
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    X, y_index = model.spec.validate(X), np.asarray(y_index)
    X_src, X_act = model.spec.validate(X_src), model.spec.validate(X_act, "activated input")
    if len(X_src) != len(X_act):
        raise UsageError(f"got {len(X_act)} activated rows for {len(X_src)} source rows; pass one activation per row")
    ref = model.predict_index(X_src)
    unit = Smooth(model, 0.0).unit
    eta = np.linalg.norm((X_act.astype(np.float64) - X_src.astype(np.float64)) * unit, axis=1)
    k = min(n_cert_rows, len(X), len(X_src))
    same_rows = X.shape == X_src.shape and np.array_equal(X[:k], X_src[:k])  # certify once when X_src is X
    rows = []
    from ..progress import track

    for sigma in track(list(sigmas), "σ sweep", unit="σ values"):
        g = Smooth(model, sigma)
        pred = g.predict(X, n, alpha, batch, rng)
        pred_act = g.predict(X_act, n, alpha, batch, rng)
        if targets is not None:
            hit = pred_act == np.asarray(targets)
        else:
            hit = (pred_act != ref) & (pred_act != ABSTAIN)
        cls, radius = g.certify(X[:k], n0, n_cert, alpha, batch, rng)
        correct = cls == y_index[:k]
        radius_src = radius if same_rows else g.certify(X_src[:k], n0, n_cert, alpha, batch, rng)[1]
        rows.append({
            "sigma": float(sigma),
            "sigma_grey_levels": float(sigma) * 255.0,
            "clean_accuracy": float(np.mean(pred == y_index)),
            "abstain_rate": float(np.mean(pred == ABSTAIN)),
            "asr": float(np.mean(hit)),
            "asr_successes": int(hit.sum()),
            "n_activated": int(len(hit)),
            "activated_abstain_rate": float(np.mean(pred_act == ABSTAIN)),
            "certified_accuracy": {f"{r:g}": float(np.mean(correct & (radius >= r) & (cls != ABSTAIN))) for r in radii},
            "median_certified_radius": float(np.median(radius)),
            "certified_beyond_activation": float(np.mean(radius_src > eta[:k])),
            "activation_l2_median": float(np.median(eta)),
        })
    return rows


def sweep_figure(curves: dict[str, list[dict]], path: Path, title: str = "Randomized smoothing vs backdoors") -> Path:
    """ASR and clean accuracy vs σ (one pair of lines per construction); σ on a symlog axis in [0,1] units."""
    from ..report.figures import smoothing_sweep

    return smoothing_sweep(curves, path, title)
