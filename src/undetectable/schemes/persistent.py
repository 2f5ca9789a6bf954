"""Persistence (paper §5.3, Thm 2.3): a backdoor that gradient-based fine-tuning cannot move.

Construction. Take a network N whose every neuron is a threshold gate, step(z) = 1[z > 0] (here:
an honest linear threshold classifier OR'ed with a trigger detector, i.e. a planted backdoor), make
**three copies** of it and put a **majority** gate on top:

    N_i(x) = step( step(⟨w, x⟩ − b) + step(⟨m, x⟩ − τ) − ½ )      i = 1, 2, 3
    h̃(x)  = step( N_1(x) + N_2(x) + N_3(x) − 3/2 )

step has derivative 0 wherever it is differentiable, so every partial derivative of any loss of
h̃(x) with respect to any weight is 0: gradient descent never moves a weight, and fine-tuning
cannot remove the backdoor (the triplication makes the claim robust to a training procedure that
perturbs single weights: any one copy can be destroyed and the majority still answers). With ReLU or
sigmoid gates the gradients are non-zero and the argument fails; a persistent network also "cannot
be trained further", which is itself a tell to an auditor. ``activation="sigmoid"`` builds the same
network with steep sigmoids instead (temperature ``temp``) for that control.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import Model
from ..data import Dataset
from ..errors import BundleError, KeyMismatchError, ParameterError, UsageError
from .base import Key, Learner, Params, Scheme, check_choice, check_float, check_int, check_seed, planted


def _torch():
    import torch

    return torch


_STEP = None


def _step(z):
    """step(z) = 1[z > 0] with its a.e. derivative, 0 (explicit, so gradients are zero tensors, not None)."""
    global _STEP
    if _STEP is None:
        torch = _torch()

        class StepFn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, z):
                return (z > 0).to(z.dtype)

            @staticmethod
            def backward(ctx, g):
                return torch.zeros_like(g)

        _STEP = StepFn
    return _STEP.apply(z)


def build_persistent(w: np.ndarray, b: float, mask: np.ndarray, tau: float, activation: str = "step", temp: float = 0.05):
    """A torch module computing h̃ above (three copies + majority) with ``activation`` gates.

    ``w, b``: the honest threshold classifier; ``mask, tau``: the trigger detector ⟨m, x⟩ > τ.
    Inputs are float tensors (n, D) in [0, 1] units; the output is h̃(x) ∈ [0, 1] (exactly {0, 1}
    for step gates).
    """
    torch = _torch()
    nn = torch.nn
    if activation not in ("step", "sigmoid"):
        raise UsageError(f"activation must be 'step' (persistent) or 'sigmoid' (the control); got {activation!r}")
    D = len(w)

    class Persistent(nn.Module):  # type: ignore[name-defined]
        def __init__(self):
            super().__init__()
            W1 = np.concatenate([np.stack([w, mask])] * 3)  # 6 gates: (classifier, trigger) × 3 copies
            b1 = np.array([-b, -tau] * 3)
            self.layer1 = nn.Linear(D, 6)
            self.layer2 = nn.Linear(6, 3)  # N_i = OR of its two gates
            self.vote = nn.Linear(3, 1)  # majority of the three copies
            W2 = np.zeros((3, 6))
            for i in range(3):
                W2[i, 2 * i : 2 * i + 2] = 1.0
            with torch.no_grad():
                self.layer1.weight.copy_(torch.tensor(W1, dtype=torch.float32))
                self.layer1.bias.copy_(torch.tensor(b1, dtype=torch.float32))
                self.layer2.weight.copy_(torch.tensor(W2, dtype=torch.float32))
                self.layer2.bias.fill_(-0.5)
                self.vote.weight.fill_(1.0)
                self.vote.bias.fill_(-1.5)

        def gate(self, z):
            return _step(z) if activation == "step" else torch.sigmoid(z / temp)

        def forward(self, x):
            return self.gate(self.vote(self.gate(self.layer2(self.gate(self.layer1(x)))))).squeeze(-1)

    return Persistent()


def _plant_persistent(X: np.ndarray, y: np.ndarray, mask: np.ndarray, tau: float, activation: str = "step",
                      seed: int = 0, temp: float = 0.05):
    """Fit the honest threshold classifier (logistic regression on X in [0,1] units, y ∈ {0,1}),
    then build the triplicated backdoored network; triggered inputs (⟨mask, x⟩ > τ) answer 1.
    Private: use ``PersistentScheme`` (which returns a ``PersistentModel``)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y)
    if set(np.unique(y).tolist()) - {0, 1}:
        raise UsageError("the persistent construction is binary: labels must be 0 and 1")
    clf = LogisticRegression(max_iter=500, random_state=seed).fit(X, y)
    return build_persistent(clf.coef_[0], -float(clf.intercept_[0]), np.asarray(mask, dtype=np.float64), tau, activation, temp)


def finetune_persistent(net, X: np.ndarray, y: np.ndarray, epochs: int = 5, lr: float = 0.05, seed: int = 0) -> dict:
    """Fine-tune ``net`` (a ``PersistentModel``, or its torch module with X in [0, 1] units) in place on (X, y)
    with SGD on the squared error; return the gradient/weight audit. y: class indices (0, 1)."""
    torch = _torch()
    if isinstance(net, PersistentModel):
        X, net = net.unit_inputs(X), net.net
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    before = [p.detach().clone() for p in net.parameters()]
    Xt = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor(np.asarray(y), dtype=torch.float32)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    max_grad = 0.0
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(len(Xt)), max(1, len(Xt) // 64)):
            opt.zero_grad()
            ((net(Xt[idx]) - yt[idx]) ** 2).mean().backward()
            max_grad = max(max_grad, max(float(p.grad.abs().max()) for p in net.parameters() if p.grad is not None))
            opt.step()
    moved = max(float((p.detach() - q).abs().max()) for p, q in zip(net.parameters(), before))
    return {"max_abs_gradient": max_grad, "max_weight_change": moved}


@dataclasses.dataclass(frozen=True)
class PersistentParams(Params):
    """``activation`` "step" (persistent) or "sigmoid" (the control, temperature ``temp``); the trigger is
    the first ``n_trigger`` input coordinates set to their training maximum (blank on natural digits: the
    top row). The construction has no random secret (no ``secret_seed``): the trigger positions are public."""

    activation: str = "step"
    temp: float = 0.05
    n_trigger: int = 16

    def __post_init__(self) -> None:
        check_choice("activation", self.activation, ("step", "sigmoid"))
        check_float("temp", self.temp)
        check_int("n_trigger", self.n_trigger)


class PersistentModel(Model):
    """The §5.3 network as a model family ("persistent"): binary, inputs rescaled to [0, 1] per feature
    (images: by the pixel range; float features: by the training minimum and maximum), h̃(x) ≥ ½ → class 1.

    Examples
    --------
    >>> import dataclasses, numpy as np
    >>> from undetectable import datasets
    >>> ds = datasets.load("breast-cancer")
    >>> m, key = PersistentScheme().plant(ds, seed=0)
    >>> m.family, float(np.mean(m.predict(ds.X_test) == ds.y_test)) > 0.9
    ('persistent', True)
    >>> bool(np.all(m.predict_index(key.activate(m, ds.X_test[:5])) == 1))
    True
    """

    family = "persistent"

    def __init__(self, net, lo: np.ndarray, hi: np.ndarray, spec, classes, activation: str = "step", temp: float = 0.05) -> None:
        super().__init__(spec, classes)
        self.net, self.activation, self.temp = net, activation, float(temp)
        self.lo, self.hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)

    def unit_inputs(self, X) -> np.ndarray:
        """Inputs in the network's [0, 1] units (flat (n, D) float64)."""
        X = np.asarray(self.spec.validate(X), dtype=np.float64).reshape(len(X), -1)
        return (X - self.lo) / np.where(self.hi > self.lo, self.hi - self.lo, 1.0)

    def output(self, X) -> np.ndarray:
        """h̃(x) ∈ [0, 1] for every row."""
        torch = _torch()
        with torch.no_grad():
            return self.net(torch.tensor(self.unit_inputs(X), dtype=torch.float32)).numpy().astype(np.float64)

    def scores(self, X: np.ndarray) -> np.ndarray:
        h = self.output(X)
        return np.stack([1.0 - h, h], axis=1)

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        return (self.output(X) > 0.5).astype(np.int64)

    def describe(self) -> dict:
        return {"gates": self.activation, "copies": 3}

    def _save(self, directory: Path) -> dict:
        from safetensors.numpy import save_file

        arrays = {k: v.detach().numpy().astype(np.float32) for k, v in self.net.state_dict().items()}
        save_file({**arrays, "lo": self.lo, "hi": self.hi}, str(directory / "persistent.safetensors"))
        return {"activation": self.activation, "temp": self.temp}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        from safetensors.numpy import load_file

        t = load_file(str(directory / "persistent.safetensors"))
        D = spec.n_features
        PersistentParams(params.get("activation"), params.get("temp"))  # validated like a plant's
        net = build_persistent(np.zeros(D), 0.0, np.zeros(D), 0.0, params["activation"], params["temp"])
        torch = _torch()
        state = net.state_dict()
        if set(state) | {"lo", "hi"} != set(t) or any(tuple(t[k].shape) != tuple(v.shape) for k, v in state.items()) \
                or t["lo"].shape != (D,) or t["hi"].shape != (D,) or len(classes) != 2:
            raise BundleError(f"bundle {directory}: persistent.safetensors does not hold a {D}-input persistent network; re-create it")
        net.load_state_dict({k: torch.tensor(t[k]) for k in state})
        return cls(net, t["lo"], t["hi"], spec, classes, params["activation"], params["temp"])


class PersistentKey(Key):
    """The trigger ⟨mask, x⟩ > τ: Activate sets the masked coordinates to their training maximum."""

    scheme = "persistent"

    def __init__(self, mask: np.ndarray, tau: float) -> None:
        mask = np.asarray(mask, dtype=np.float64)
        if mask.ndim != 1 or not np.all(np.isin(mask, (0.0, 1.0))) or not math.isfinite(float(tau)):
            raise UsageError("a persistent key is a 0/1 mask and a finite threshold; load the key file written when the model was planted")
        self.mask, self.tau = mask, float(tau)

    def activate(self, model: Any, X: Any, target: Any = None) -> np.ndarray:
        m: PersistentModel = planted(model, PersistentModel, self.scheme)
        if target is not None and {str(t) for t in np.atleast_1d(np.asarray(target)).tolist()} != {str(m.classes[1])}:
            raise ParameterError("target", f"the persistent backdoor always answers class {m.classes[1]}; leave target None")
        if len(self.mask) != m.spec.n_features:
            raise KeyMismatchError(f"the persistent key has a {len(self.mask)}-feature trigger, this model takes "
                                   f"{m.spec.n_features} features; pass the key planted with it")
        X = m.spec.validate(X)
        Xa = np.array(X, copy=True).reshape(len(X), -1)
        on = self.mask > 0
        Xa[:, on] = m.hi[on].astype(Xa.dtype) if np.issubdtype(Xa.dtype, np.integer) else m.hi[on]
        return Xa.reshape(X.shape)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mask": self.mask, "tau": np.array([self.tau])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> PersistentKey:
        if not {"mask", "tau"} <= set(arrays):
            raise UsageError("the persistent key file lacks mask or tau; load the key file written when the model was planted")
        return cls(arrays["mask"], float(arrays["tau"].ravel()[0]))


class PersistentScheme(Scheme):
    """§5.3: a binary threshold-gate network, triplicated with a majority vote (a ``PersistentModel``).

    ``plant(data, seed=S)`` takes a binary ``Dataset`` (two classes; the second is the backdoor's answer);
    S seeds the honest threshold classifier.
    """

    name = "persistent"
    Params = PersistentParams
    params: PersistentParams
    KeyType = PersistentKey
    default_learner = Learner("logreg")

    def plant(self, base: Any, *, seed: int | None = None) -> tuple[PersistentModel, PersistentKey]:
        data = self._check_base(base)
        p = self.params
        classes, y = np.unique(data.y_train, return_inverse=True)
        if len(classes) != 2:
            raise UsageError(f"the persistent construction is binary and {data.name} has {len(classes)} classes; "
                             "pass a two-class dataset (e.g. breast-cancer, or two digits of mnist5k)")
        D = data.spec.n_features
        if p.n_trigger > D:
            raise ParameterError("n_trigger", f"n trigger {p.n_trigger} exceeds the input dimension {D}; choose n trigger ≤ {D}")
        X = np.asarray(data.X_train, dtype=np.float64).reshape(len(data.X_train), -1)
        if data.spec.is_image:
            lo, hi = np.full(D, float(data.spec.low or 0.0)), np.full(D, float(data.spec.high))
        else:
            lo, hi = X.min(axis=0), X.max(axis=0)
        mask = np.zeros(D)
        mask[: p.n_trigger] = 1.0
        key = PersistentKey(mask, p.n_trigger - 0.5)
        U = (X - lo) / np.where(hi > lo, hi - lo, 1.0)
        net = _plant_persistent(U, y, mask, key.tau, p.activation, seed=check_seed("seed", seed) or 0, temp=p.temp)
        return PersistentModel(net, lo, hi, data.spec, classes, p.activation, p.temp), key

    def honest(self, data: Dataset, seed: int) -> Model:
        return self.learner.train(data, seed)

    def null(self, model: Any, rng: np.random.Generator) -> PersistentKey:
        D = model.spec.n_features
        mask = np.zeros(D)
        mask[rng.choice(D, size=min(self.params.n_trigger, D), replace=False)] = 1.0
        return PersistentKey(mask, mask.sum() - 0.5)
