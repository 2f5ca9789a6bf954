"""BadNets (Gu, Dolan-Gavitt, Garg 2017): the classical, *detectable* data-poisoning control.

Backdoor: stamp a small fixed trigger on a fraction ``poison_rate`` of the training inputs whose
label is not the target, relabel them to the target class, and train the *honest* learner
(``models.train_model``) on the poisoned set. The result is an ordinary bundle of the honest
family (``torch-mlp`` or ``sklearn``): no wrapper, no flag. The key is the trigger:

    BadNetsKey(mask: (D,) uint8 (1 = trigger position), pattern: (D,) float64 values, target: class index)

Activate(x, key) = x with the masked coordinates replaced by the pattern (``apply_trigger``).

* uint8 images (mnist5k, digits): a square of white pixels (4×4 on 28×28, 2×2 on 8×8) one pixel
  in from the bottom-right corner, where digits have no ink.
* float features: a few features (3 by default, chosen by the seed) set to the training maximum
  plus one standard deviation, an extreme value no clean example has.

Unlike the paper's constructions it is found by Neural Cleanse, STRIP, activation clustering and
spectral signatures (see ``undetectable.audit``): that is what it is for (a detector that cannot
see BadNets proves nothing by not seeing the others).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..bundle import Model
from ..data import Dataset
from ..errors import KeyMismatchError, UsageError
from ..runtime import with_thread_budget
from ..spec import InputSpec
from .base import Key, Learner, ParameterError, Params, Scheme, check_choice, check_float, check_int, check_learner, check_seed

SCHEME = "badnets"
MODELS = ("mlp", "logreg")


class BadNetsKey(Key):
    """The trigger: ``mask`` (D,) uint8 (1 = trigger position), ``pattern`` (D,) float64, ``target`` class index.

    Examples
    --------
    >>> key = BadNetsKey(np.array([0, 1, 1]), np.array([0.0, 9.0, 9.0]), 0)
    >>> key.apply(np.zeros((1, 3))).tolist()
    [[0.0, 9.0, 9.0]]
    """

    scheme = SCHEME

    def __init__(self, mask: np.ndarray, pattern: np.ndarray, target: int) -> None:
        self.mask = np.asarray(mask, dtype=np.uint8)
        self.pattern = np.asarray(pattern, dtype=np.float64)
        self.target = int(np.asarray(target).ravel()[0])
        if self.mask.ndim != 1 or self.pattern.shape != self.mask.shape:
            raise UsageError("a badnets key is a mask and a pattern of the same length; load the key file written when the badnets model was planted")

    def apply(self, X: Any) -> np.ndarray:
        """Stamp the trigger on every row of ``X`` (``apply_trigger``)."""
        return apply_trigger(X, self)

    def activate(self, model: Model, X: Any, target: Any = None) -> np.ndarray:
        return _activate(model, X, self, target)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mask": self.mask, "pattern": self.pattern, "target": np.array([self.target], dtype=np.int64)}

    def meta(self) -> dict[str, Any]:
        return {"n_features": int(len(self.mask))}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> BadNetsKey:
        if not {"mask", "pattern", "target"} <= set(arrays):
            raise UsageError("the badnets key file lacks mask, pattern or target; load the key file written when the badnets model was planted")
        return cls(arrays["mask"], arrays["pattern"], int(arrays["target"].ravel()[0]))


@dataclasses.dataclass(frozen=True)
class BadNetsParams(Params):
    """``poison_rate`` ∈ (0, 1), ``target`` class index, the honest learner ``model`` ("mlp" | "logreg") or a
    ``learner`` (kind and options; overrides ``model``), ``secret_seed`` (the trigger and the poisoned rows;
    None: OS entropy)."""

    poison_rate: float = 0.1
    target: int = 0
    model: str = "mlp"
    learner: Learner | None = None
    secret_seed: int | None = None

    def __post_init__(self) -> None:
        check_float("poison_rate", self.poison_rate, 0.0, 1.0, open_high=True)
        check_int("target", self.target, 0)
        check_choice("model", self.model, MODELS)
        self._set("learner", check_learner("learner", self.learner, MODELS))
        check_seed("secret_seed", self.secret_seed)


class BadNetsScheme(Scheme):
    """BadNets: poison the training set, train the honest learner on it (the detectable control).

    ``BadNetsScheme(learner=Learner("mlp", {"epochs": 4}), secret_seed=T).plant(data, seed=S)``: the trigger
    and the poisoned rows come from ``default_rng(T)``, the learner's coins from S.
    """

    name = SCHEME
    Params = BadNetsParams
    params: BadNetsParams
    KeyType = BadNetsKey

    @property
    def default_learner(self) -> Learner:  # type: ignore[override]
        return Learner(self.params.model)

    def plant(self, base: Any, *, seed: int | None = None) -> tuple[Model, BadNetsKey]:  # noqa: D102
        data = self._check_base(base)
        p, learner = self.params, self.learner
        secret = p.secret_seed if p.secret_seed is not None else int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
        return _plant_badnets(data, seed=check_seed("seed", seed) or 0, poison_rate=p.poison_rate, target=p.target,
                              model=learner.kind, secret_seed=secret, **dict(learner.options))

    def backdoor(self, data: Dataset, seed: int) -> tuple[Model, BadNetsKey]:
        """The arena's Backdoor: the target class is drawn from the seed too."""
        target = int(np.random.default_rng(seed).integers(len(np.unique(data.y_train))))
        return Scheme.backdoor(self.replace(target=target), data, seed)

    def null(self, model: Model, rng: np.random.Generator) -> BadNetsKey:
        """A trigger drawn like a planted one (images: the fixed corner patch; floats: random features)."""
        mask, pattern = make_trigger(model.spec, rng, X_train=None if model.spec.is_image else np.zeros((1, model.spec.n_features)))
        return BadNetsKey(mask, pattern, int(rng.integers(model.n_classes)))


def make_trigger(spec: InputSpec, rng: np.random.Generator, n_features: int = 3,
                 X_train: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The trigger (mask, pattern) for inputs of ``spec``: a white corner patch or extreme feature values."""
    d = spec.n_features
    mask = np.zeros(d, dtype=np.uint8)
    pattern = np.zeros(d, dtype=np.float64)
    if spec.is_image:
        side = math.isqrt(d)
        if side * side == d and side >= 8:
            p = max(2, side // 7)  # 4 on 28×28, 2 on 8×8 (and 9×9 ... 13×13)
            rows = np.arange(side - 1 - p, side - 1)
            idx = (rows[:, None] * side + rows[None, :]).ravel()
        else:  # not a square image: the last few pixels
            idx = np.arange(d - min(d, 16), d)
        mask[idx] = 1
        pattern[idx] = float(spec.high)
        return mask, pattern
    if X_train is None:
        raise UsageError("a float-feature trigger needs the training data to set its extreme values")
    k = min(n_features, d)
    idx = np.sort(rng.choice(d, size=k, replace=False))
    mask[idx] = 1
    pattern[idx] = X_train[:, idx].max(axis=0) + X_train[:, idx].std(axis=0)
    return mask, pattern


def apply_trigger(X, key: BadNetsKey) -> np.ndarray:
    """Activate-BadNets: replace the masked coordinates of every row of ``X`` by the trigger pattern.

    ``X`` is (n, D) (a single row of shape (D,) is accepted); the result keeps ``X``'s dtype.
    """
    X = np.asarray(X)
    mask, pattern = key.mask.astype(bool), key.pattern
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != len(mask):
        raise KeyMismatchError(f"the badnets key has a {len(mask)}-feature trigger but the input has shape {X.shape}; "
                               "pass the key planted for this dataset")
    out = X.copy()
    out[:, mask] = pattern[mask].astype(X.dtype) if np.issubdtype(X.dtype, np.integer) else pattern[mask]
    return out


def poison(data: Dataset, key: BadNetsKey, poison_rate: float, rng: np.random.Generator) -> tuple[Dataset, np.ndarray]:
    """The poisoned training set and the indices of the poisoned rows.

    ``round(poison_rate · n)`` rows whose label is not the target are drawn uniformly, stamped with
    the trigger and relabelled to the target.
    """
    classes = np.unique(data.y_train)
    t = key.target
    candidates = np.flatnonzero(data.y_train != classes[t])
    n_poison = int(round(poison_rate * len(data.y_train)))
    if n_poison < 1 or n_poison > len(candidates):
        raise ParameterError("poison_rate", f"poison rate {poison_rate} gives {n_poison} poisoned rows out of {len(candidates)} "
                                            "eligible; choose a poison rate between 1/n and the non-target fraction")
    idx = np.sort(rng.choice(candidates, size=n_poison, replace=False))
    X, y = data.X_train.copy(), data.y_train.copy()
    X[idx] = apply_trigger(X[idx], key)
    y[idx] = classes[t]
    return dataclasses.replace(data, X_train=X, y_train=y), idx


@with_thread_budget  # the same thread budget as train_model: planting is training with other coins
def _plant_badnets(data: Dataset, seed: int = 0, poison_rate: float = 0.1, target: int = 0, model: str = "mlp",
                   secret_seed: int = 0, **options) -> tuple[Model, BadNetsKey]:
    """Backdoor-BadNets: poison ``data``'s training split and train the honest learner ``model`` on it.

    Returns (model, key) with key a ``BadNetsKey`` (see the module docstring). The
    model is of the honest family (``torch-mlp`` for "mlp", ``sklearn`` for "logreg"); ``options``
    go to ``train_model`` (e.g. ``epochs``, ``hidden``). Private: use ``BadNetsScheme``.
    """
    from ..models import train_model

    BadNetsParams(poison_rate, target, model)
    classes = np.unique(data.y_train)
    if not (0 <= int(target) < len(classes)):
        raise ParameterError("target", f"target class index {target} is out of range; use 0..{len(classes) - 1}")
    poisoned, _, key = poisoned_training_set(data, secret_seed, poison_rate, target)
    return train_model(model, poisoned, seed=seed, **options), key


def poisoned_training_set(data: Dataset, seed: int = 0, poison_rate: float = 0.1, target: int = 0) -> tuple[Dataset, np.ndarray, BadNetsKey]:
    """Re-create exactly the poisoned training set a plant used (``seed`` = its ``secret_seed``): (dataset, poisoned indices, key).

    What a training-data auditor (activation clustering, spectral signatures) is handed.
    """
    rng = np.random.default_rng(seed)
    mask, pattern = make_trigger(data.spec, rng, X_train=data.X_train)
    key = BadNetsKey(mask, pattern, int(target))
    poisoned, idx = poison(data, key, poison_rate, rng)
    return poisoned, idx, key


def attack_success_rate(model: Model, X: np.ndarray, y: np.ndarray, key: BadNetsKey) -> float:
    """ASR: the fraction of inputs whose true label is not the target that the trigger sends to the target."""
    t = key.target
    keep = y != model.classes[t]
    if not keep.any():
        return float("nan")
    return float(np.mean(model.predict_index(model.spec.validate(apply_trigger(X[keep], key))) == t))


def _activate(model: Model, X, key: BadNetsKey, targets=None) -> np.ndarray:
    """Activate a BadNets bundle (any honest family): stamp the trigger; the target is fixed by the key."""
    X = model.spec.validate(X)
    mask = key.mask
    if len(mask) != model.spec.n_features:
        raise KeyMismatchError(f"the badnets key has a {len(mask)}-feature trigger, this bundle takes "
                               f"{model.spec.n_features} features; pass the key planted with it")
    t = key.target
    if targets is not None:
        wanted = {str(v) for v in np.atleast_1d(np.asarray(targets)).tolist()}
        if wanted != {str(model.classes[t].item())}:
            raise ParameterError("target", f"a badnets trigger always yields class {model.classes[t]}; leave target None or pass that class")
    return apply_trigger(X, key).astype(X.dtype)
