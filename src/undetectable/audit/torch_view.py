"""A differentiable view of a bundle, for the gradient and representation-based detectors.

``logits_fn(model)`` returns a torch function from inputs in the model's *raw* units (pixels
0..255, float features as they are) to logits, for the families where one exists:

* ``torch-mlp``: the network after its stored input standardization;
* ``sklearn`` logistic regression (alone, or after a StandardScaler): the affine decision function;
* ``rff``: cos(2π(⟨g_i, x/σ⟩ + b_i)) times the head (``RFFModel``'s own projection);
* wrapper backdoors (signature, checksum): the wrapped *base* model. The verifier is a discrete
  check with zero gradient almost everywhere, so a gradient-based auditor sees exactly the base.

Anything else raises ``NotApplicable``. ``hidden_activations(model, X)`` returns the last hidden
layer (torch-mlp), or the (standardized) inputs for a linear model, which has no hidden layer.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np

from .base import NotApplicable


def _unwrap(model):
    from ..schemes.wrapper import WrapperBackdoor

    while isinstance(model, WrapperBackdoor):
        model = model.base
    return model


def _linear_parts(model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(W, b, shift, scale) with logits = ((x·input_scale − shift)/scale) W^T + b for a sklearn logreg."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    est = model.estimator
    d = model.spec.n_features
    shift, scale = np.zeros(d), np.ones(d)
    if isinstance(est, Pipeline):
        steps = [s for _, s in est.steps]
        if len(steps) != 2 or not isinstance(steps[0], StandardScaler) or not isinstance(steps[1], LogisticRegression):
            raise NotApplicable("this sklearn pipeline is not StandardScaler + LogisticRegression; no gradient view")
        sc, est = steps
        shift = np.asarray(sc.mean_ if sc.with_mean else np.zeros(d), dtype=np.float64)
        scale = np.asarray(sc.scale_ if sc.with_std else np.ones(d), dtype=np.float64)
    if not isinstance(est, LogisticRegression):
        raise NotApplicable(f"sklearn {type(est).__name__} has no gradient view; use a torch-mlp or logreg bundle")
    W, b = np.asarray(est.coef_, dtype=np.float64), np.asarray(est.intercept_, dtype=np.float64)
    if W.shape[0] == 1:  # binary: scores are [-d, d] (as SklearnModel.scores)
        W, b = np.vstack([-W, W]), np.concatenate([-b, b])
    return W, b, shift, scale


def mlp_logits(net, mean: np.ndarray, std: np.ndarray, scale: float) -> Callable:
    """The torch-mlp family's forward from raw input units: net((x·scale − mean)/std). The one place it is written."""
    import torch

    m, s = torch.from_numpy(np.asarray(mean, dtype=np.float32)), torch.from_numpy(np.asarray(std, dtype=np.float32))
    return lambda x: net((x * scale - m) / s)


def logits_fn(model) -> Callable:
    """A torch function: float32 tensor (n, D) in raw input units → logits (n, C). Raises NotApplicable."""
    import torch

    from ..models.mlp import MLPModel
    from ..models.sklearn_model import SklearnModel

    inner = _unwrap(model)
    if isinstance(inner, MLPModel):
        return mlp_logits(inner.net, inner.mean, inner.std, float(inner.scale))
    if isinstance(inner, SklearnModel):
        W, b, shift, sc = _linear_parts(inner)
        Wt = torch.from_numpy((W / sc[None, :]).T.astype(np.float32))
        bt = torch.from_numpy((b - (shift / sc) @ W.T).astype(np.float32))
        scale = float(inner.scale)
        return lambda x: (x * scale) @ Wt + bt
    if inner.family == "rff":  # f(x) = cos(2π(⟨g_i, x·s/σ⟩ + b_i)) @ coef, no intercept
        P, B = inner.clf._projection()
        Pt, Bt = torch.from_numpy(P.astype(np.float32)), torch.from_numpy(B.astype(np.float32))
        Wc = torch.from_numpy(np.asarray(inner.coef_, dtype=np.float32))
        s = float(inner.input_scale)

        def rff_logits(x):
            f = torch.cos((x * s) @ Pt + Bt) @ Wc
            return torch.stack([-f, f], dim=1) if f.ndim == 1 else f

        return rff_logits
    raise NotApplicable(f"{model.family} models have no differentiable view here; the detector needs torch-mlp, logreg or rff")


def has_torch_view(model) -> bool:
    """True when ``logits_fn(model)`` exists (the ``logits_torch`` capability)."""
    from ..models.mlp import MLPModel
    from ..models.sklearn_model import SklearnModel

    inner = _unwrap(model)
    if isinstance(inner, SklearnModel):
        try:
            _linear_parts(inner)
        except NotApplicable:
            return False
        return True
    return isinstance(inner, MLPModel) or getattr(inner, "family", None) == "rff"


def has_hidden_view(model) -> bool:
    """True when ``hidden_activations(model, X)`` exists (the ``hidden`` capability): torch-mlp or a linear model."""
    from ..models.mlp import MLPModel
    from ..models.sklearn_model import SklearnModel

    return isinstance(_unwrap(model), (MLPModel, SklearnModel))


@contextlib.contextmanager
def frozen(model) -> Iterator[None]:
    """Within the block, the model's torch parameters take no gradients (restored afterwards: the
    model object is shared, e.g. by fine-tuning code, and must come back unchanged)."""
    from ..models.mlp import MLPModel

    inner = _unwrap(model)
    params = list(inner.net.parameters()) if isinstance(inner, MLPModel) else []
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


def hidden_activations(model, X: np.ndarray, layer: int = -1, batch: int = 4096) -> np.ndarray:
    """Activations (n, H) of hidden layer ``layer`` (0 = first, -1 = last) of a torch-mlp, after its ReLU;
    the standardized inputs of a linear model (which has no hidden layer)."""
    import torch

    from ..models.mlp import MLPModel
    from ..models.sklearn_model import SklearnModel

    inner = _unwrap(model)
    X = model.spec.validate(X)
    if isinstance(inner, MLPModel):
        n_hidden = (len(inner.net) - 1) // 2  # Linear, ReLU pairs, then the output Linear
        if not -n_hidden <= layer < n_hidden:
            raise NotApplicable(f"hidden layer {layer} does not exist; this network has {n_hidden} hidden layers")
        body = inner.net[: 2 * ((layer % n_hidden) + 1)]
        out = []
        with torch.no_grad():
            for i in range(0, len(X), batch):
                out.append(body(inner.torch_input(X[i : i + batch])).numpy())
        return np.concatenate(out).astype(np.float64)
    if isinstance(inner, SklearnModel):
        _, _, shift, sc = _linear_parts(inner)
        return (X.astype(np.float64) * inner.scale - shift) / sc
    raise NotApplicable(f"{model.family} models expose no hidden layer here; the detector needs torch-mlp or logreg")
