"""The robustness illusion (abstract; §6 remark): a backdoored model can look exactly as robust as
an honest one while *every* input has an adversarial example — its activation.

The experiment: give a key-less attacker an L∞ budget ε and the white-box weights of the model's
network, and measure how often it changes the label of correctly classified inputs

* ``random_search_linf``: black-box, ``trials`` random corners x + ε·s, s ∈ {±1}^D;
* ``pgd_linf``: projected gradient ascent on the cross-entropy of the true label (Madry et al.
  2018), with a random start, then re-quantized to uint8. Gradients come from the network's
  weights (a torch MLP, or a linear model's ``coef_``); for a wrapper backdoor the key-less
  attacker differentiates the wrapped network, since the verifier has no useful gradient.

on the honest h and the backdoored h̃, against Activate(x, bk, target) at the same budget. Expected
(and measured in the demo): key-less success on h̃ ≈ on h, both small at ε = 1 grey level, while
Activate succeeds on every input at ε = 1/255 — and with a *chosen target*, which the key-less
attacker is not even asked for. Budgets are in [0,1] pixel units for uint8 images.
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Callable, Sequence

import numpy as np

from ..bundle import Model
from ..errors import UsageError


def _pixel_max(model: Model) -> float:
    """The top of a uint8 image model's input range (255); these experiments run on uint8 images only."""
    high = model.spec.high
    if high is None:
        raise UsageError(f"the robustness experiment perturbs uint8 images; {model.family} takes {model.spec.dtype} inputs")
    return float(high)


def _levels(model: Model, eps: float) -> int:
    """An L∞ budget in [0,1] units as a whole number of grey levels (uint8 images only)."""
    if not model.spec.is_image:
        raise UsageError(f"the robustness experiment perturbs uint8 images; {model.family} takes {model.spec.dtype} inputs")
    if not (np.isfinite(eps) and eps >= 0):
        raise UsageError(f"budget must be a finite number ≥ 0; got {eps!r}")
    return int(np.floor(eps * _pixel_max(model) + 1e-9))


def random_search_linf(model: Model, X: np.ndarray, y_index: np.ndarray, eps: float, trials: int = 20,
                       rng: np.random.Generator | int = 0) -> np.ndarray:
    """Black-box key-less attack: success mask (label changed) after ``trials`` random ±ε corners per input."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    X = model.spec.validate(X)
    k = _levels(model, eps)
    success = np.zeros(len(X), dtype=bool)
    if k == 0:
        return success
    lo, hi = model.spec.low, model.spec.high
    for _ in range(trials):
        todo = np.flatnonzero(~success)
        if not len(todo):
            break
        s = rng.integers(0, 2, (len(todo), X.shape[1]), dtype=np.int16) * 2 - 1
        Xp = np.clip(X[todo].astype(np.int16) + k * s, lo, hi).astype(np.uint8)
        success[todo] = model.predict_index(Xp) != y_index[todo]
    return success


def _network(model: Model):
    """The torch forward on [0,1]-unit inputs: the model's one differentiable view (``torch_view.logits_fn``,
    the wrapper's base if wrapped) composed with the unit change."""
    from .torch_view import logits_fn

    f, scale = logits_fn(model), 1.0 / _pixel_max(model)
    return lambda Z: f(Z / scale)


def pgd_linf(model: Model, X: np.ndarray, y_index: np.ndarray, eps: float, steps: int = 10,
             rng: np.random.Generator | int = 0) -> np.ndarray:
    """White-box key-less PGD within L∞ ε (random start); success mask of the re-quantized result."""
    import torch

    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    X = model.spec.validate(X)
    k = _levels(model, eps)
    if k == 0:
        return np.zeros(len(X), dtype=bool)
    scale = 1.0 / _pixel_max(model)
    e = k * scale
    f = _network(model)
    x0 = torch.from_numpy(X.astype(np.float32) * np.float32(scale))
    y = torch.from_numpy(np.asarray(y_index, dtype=np.int64))
    z = (x0 + torch.from_numpy(rng.uniform(-e, e, X.shape).astype(np.float32))).clamp(0, 1)
    step = 2.5 * e / steps
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    for _ in range(steps):
        z.requires_grad_(True)
        loss = loss_fn(f(z), y)
        (g,) = torch.autograd.grad(loss, z)
        with torch.no_grad():
            z = torch.minimum(torch.maximum(z + step * g.sign(), x0 - e), x0 + e).clamp(0, 1)
    Xp = np.clip(np.rint(z.detach().numpy() / scale), X.astype(np.int16) - k, X.astype(np.int16) + k)
    Xp = np.clip(Xp, model.spec.low, model.spec.high).astype(np.uint8)
    return model.predict_index(Xp) != np.asarray(y_index)


def robustness_illusion(honest: Model, backdoored: Model, X: np.ndarray, y_index: np.ndarray,
                        activate: Callable[[np.ndarray, np.ndarray], np.ndarray], budgets: Sequence[float],
                        trials: int = 20, steps: int = 10, rng: np.random.Generator | int = 0) -> list[dict]:
    """Success rate vs L∞ budget: key-less PGD and random search on h and h̃, and Activate with the key.

    Only inputs both models classify correctly are attacked. ``activate(X, targets)`` is the key
    holder's Activate (targets: class indices ≠ the true label); its success counts only where its
    own perturbation fits the budget.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    X = honest.spec.validate(X)
    y_index = np.asarray(y_index)
    ok = (honest.predict_index(X) == y_index) & (backdoored.predict_index(X) == y_index)
    X, y_index = X[ok], y_index[ok]
    targets = (y_index + 1 + rng.integers(0, honest.n_classes - 1, len(X))) % honest.n_classes
    Xa = activate(X, targets)
    act_linf = np.abs(Xa.astype(np.int16) - X.astype(np.int16)).max(axis=1) * (1.0 / _pixel_max(honest))
    act_hit = backdoored.predict_index(Xa) == targets
    rows = []
    for eps in budgets:
        row = {"budget": float(eps), "budget_grey_levels": float(eps) * _pixel_max(honest), "n": int(len(X))}
        for name, m in (("honest", honest), ("backdoored", backdoored)):
            row[f"pgd_{name}"] = float(np.mean(pgd_linf(m, X, y_index, eps, steps, rng)))
            row[f"random_{name}"] = float(np.mean(random_search_linf(m, X, y_index, eps, trials, rng)))
        row["activate_key"] = float(np.mean(act_hit & (act_linf <= eps + 1e-12)))
        rows.append(row)
    return rows


def illusion_figure(rows: list[dict], path: Path) -> Path:
    """Success vs L∞ budget: honest / backdoored (PGD, random search) and Activate with the key."""
    from ..report.figures import robustness_illusion

    return robustness_illusion(rows, path)
