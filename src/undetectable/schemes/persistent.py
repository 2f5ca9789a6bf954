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
from typing import Any

import numpy as np

from ..errors import UsageError
from .base import Key, Learner, Params, Scheme, check_choice, check_float, check_int


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


def plant_persistent(X: np.ndarray, y: np.ndarray, mask: np.ndarray, tau: float, activation: str = "step",
                     seed: int = 0, temp: float = 0.05):
    """Fit the honest threshold classifier (logistic regression on X in [0,1] units, y ∈ {0,1}),
    then build the triplicated backdoored network; triggered inputs (⟨mask, x⟩ > τ) answer 1."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y)
    if set(np.unique(y).tolist()) - {0, 1}:
        raise UsageError("the persistence demo is binary: pass labels in {0, 1}")
    clf = LogisticRegression(max_iter=500, random_state=seed).fit(X, y)
    return build_persistent(clf.coef_[0], -float(clf.intercept_[0]), np.asarray(mask, dtype=np.float64), tau, activation, temp)


def finetune_persistent(net, X: np.ndarray, y: np.ndarray, epochs: int = 5, lr: float = 0.05, seed: int = 0) -> dict:
    """Fine-tune ``net`` in place on (X, y) with SGD on the squared error; return the gradient/weight audit."""
    torch = _torch()
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
    the first ``n_trigger`` input coordinates set to 1 (blank on natural digits: the top row)."""

    activation: str = "step"
    temp: float = 0.05
    n_trigger: int = 16

    def __post_init__(self) -> None:
        check_choice("activation", self.activation, ("step", "sigmoid"))
        check_float("temp", self.temp)
        check_int("n_trigger", self.n_trigger)


class PersistentKey(Key):
    """The trigger ⟨mask, x⟩ > τ: Activate sets the masked coordinates to 1 (inputs in [0, 1] units)."""

    scheme = "persistent"

    def __init__(self, mask: np.ndarray, tau: float) -> None:
        self.mask = np.asarray(mask, dtype=np.float64)
        self.tau = float(tau)

    def activate(self, model: Any, X: Any, target: Any = None) -> np.ndarray:
        if target is not None:
            raise UsageError("the persistent backdoor always answers 1; drop the target")
        Xa = np.array(X, dtype=np.float64)
        Xa[:, self.mask > 0] = 1.0
        return Xa

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mask": self.mask, "tau": np.array([self.tau])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> "PersistentKey":
        return cls(arrays["mask"], float(arrays["tau"].ravel()[0]))


class PersistentScheme(Scheme):
    """§5.3: a binary threshold-gate network, triplicated with a majority vote (a torch module, not a bundle).

    ``plant(data)`` takes a binary ``Dataset`` (labels {0, 1}); image inputs are scaled to [0, 1].
    """

    name = "persistent"
    Params = PersistentParams
    params: PersistentParams
    KeyType = PersistentKey

    def plant(self, base: Any, *, seed: int | None = None, rng: np.random.Generator | None = None, key: Any = None,
              learner: Learner | None = None) -> tuple[Any, PersistentKey]:
        p = self.params
        X = base.X_train / float(base.spec.high) if base.spec.is_image else base.X_train
        mask = np.zeros(X.shape[1])
        mask[: p.n_trigger] = 1.0
        key = PersistentKey(mask, p.n_trigger - 0.5)
        return plant_persistent(X, base.y_train, mask, key.tau, p.activation, seed=seed or 0, temp=p.temp), key

    def null(self, model: Any, rng: np.random.Generator) -> PersistentKey:
        D = model.layer1.in_features
        mask = np.zeros(D)
        mask[rng.choice(D, size=min(self.params.n_trigger, D), replace=False)] = 1.0
        return PersistentKey(mask, mask.sum() - 0.5)
