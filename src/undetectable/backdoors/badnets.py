"""BadNets (Gu, Dolan-Gavitt, Garg 2017): the classical, *detectable* data-poisoning control.

Backdoor: stamp a small fixed trigger on a fraction ``poison_rate`` of the training inputs whose
label is not the target, relabel them to the target class, and train the *honest* learner
(``models.train_model``) on the poisoned set. The result is an ordinary bundle of the honest
family (``torch-mlp`` or ``sklearn``): no wrapper, no flag. The key is the trigger:

    key = {"mask": (D,) uint8 (1 = trigger position), "pattern": (D,) float64 values, "target": (1,) int64 class index}

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
from pathlib import Path

import numpy as np

from ..bundle import Model
from ..data import Dataset
from ..errors import KeyMismatchError, UsageError
from ..spec import InputSpec

SCHEME = "badnets"
MODELS = ("mlp", "logreg")


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


def apply_trigger(X, key: dict) -> np.ndarray:
    """Activate-BadNets: replace the masked coordinates of every row of ``X`` by the trigger pattern.

    ``X`` is (n, D) (a single row of shape (D,) is accepted); the result keeps ``X``'s dtype.
    """
    X = np.asarray(X)
    mask = np.asarray(key["mask"]).astype(bool)
    pattern = np.asarray(key["pattern"], dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != len(mask):
        raise KeyMismatchError(f"the badnets key has a {len(mask)}-feature trigger but the input has shape {X.shape}; "
                               "pass the key planted for this dataset")
    out = X.copy()
    out[:, mask] = pattern[mask].astype(X.dtype) if np.issubdtype(X.dtype, np.integer) else pattern[mask]
    return out


def poison(data: Dataset, key: dict, poison_rate: float, rng: np.random.Generator) -> tuple[Dataset, np.ndarray]:
    """The poisoned training set and the indices of the poisoned rows.

    ``round(poison_rate · n)`` rows whose label is not the target are drawn uniformly, stamped with
    the trigger and relabelled to the target.
    """
    classes = np.unique(data.y_train)
    t = int(np.asarray(key["target"]).ravel()[0])
    candidates = np.flatnonzero(data.y_train != classes[t])
    n_poison = int(round(poison_rate * len(data.y_train)))
    if n_poison < 1 or n_poison > len(candidates):
        raise UsageError(f"poison rate {poison_rate} gives {n_poison} poisoned rows out of {len(candidates)} eligible; "
                         "pass --poison-rate between 1/n and the non-target fraction")
    idx = np.sort(rng.choice(candidates, size=n_poison, replace=False))
    X, y = data.X_train.copy(), data.y_train.copy()
    X[idx] = apply_trigger(X[idx], key)
    y[idx] = classes[t]
    return dataclasses.replace(data, X_train=X, y_train=y), idx


def plant_badnets(data: Dataset, seed: int = 0, poison_rate: float = 0.1, target: int = 0, model: str = "mlp",
                  **options) -> tuple[Model, dict[str, np.ndarray]]:
    """Backdoor-BadNets: poison ``data``'s training split and train the honest learner ``model`` on it.

    Returns (model, key) with key = {"mask", "pattern", "target"} (see the module docstring). The
    model is of the honest family (``torch-mlp`` for "mlp", ``sklearn`` for "logreg"); ``options``
    go to ``train_model`` (e.g. ``epochs``, ``hidden``).
    """
    from ..models import train_model

    if model not in MODELS:
        raise UsageError(f"unknown model {model!r} for badnets; use one of {', '.join(MODELS)}")
    if not (0.0 < poison_rate < 1.0):
        raise UsageError(f"poison rate must be in (0, 1); got {poison_rate}")
    classes = np.unique(data.y_train)
    if not (0 <= int(target) < len(classes)):
        raise UsageError(f"target class index {target} is out of range; use 0..{len(classes) - 1}")
    poisoned, _, key = poisoned_training_set(data, seed, poison_rate, target)
    return train_model(model, poisoned, seed=seed, **options), key


def poisoned_training_set(data: Dataset, seed: int = 0, poison_rate: float = 0.1, target: int = 0) -> tuple[Dataset, np.ndarray, dict]:
    """Re-create exactly the poisoned training set ``plant_badnets`` used (same seed): (dataset, poisoned indices, key).

    What a training-data auditor (activation clustering, spectral signatures) is handed.
    """
    rng = np.random.default_rng(seed)
    mask, pattern = make_trigger(data.spec, rng, X_train=data.X_train)
    key = {"mask": mask, "pattern": pattern, "target": np.array([int(target)], dtype=np.int64)}
    poisoned, idx = poison(data, key, poison_rate, rng)
    return poisoned, idx, key


def attack_success_rate(model: Model, X: np.ndarray, y: np.ndarray, key: dict) -> float:
    """ASR: the fraction of inputs whose true label is not the target that the trigger sends to the target."""
    t = int(np.asarray(key["target"]).ravel()[0])
    keep = y != model.classes[t]
    if not keep.any():
        return float("nan")
    return float(np.mean(model.predict_index(model.spec.validate(apply_trigger(X[keep], key))) == t))


# --- key files ------------------------------------------------------------------------------------

def save_key(path: str | Path, key: dict, force: bool = False) -> Path:
    from ..keys import save_secret

    arrays = {"mask": np.asarray(key["mask"], dtype=np.uint8), "pattern": np.asarray(key["pattern"], dtype=np.float64),
              "target": np.asarray(key["target"], dtype=np.int64).reshape(1)}
    return save_secret(path, SCHEME, arrays, {"n_features": int(len(arrays["mask"]))}, force)


def load_key(path: str | Path) -> dict:
    from ..keys import load_secret

    return load_secret(path, SCHEME)[1]


def is_badnets_key(path: str | Path) -> bool:
    """True when ``path`` is a secret key file of the badnets scheme (never raises)."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            return (fh.metadata() or {}).get("undetectable_key") == SCHEME
    except Exception:
        return False


def activate(model: Model, X, key: dict, targets=None) -> np.ndarray:
    """Activate a BadNets bundle (any honest family): stamp the trigger; the target is fixed by the key."""
    X = model.spec.validate(X)
    mask = np.asarray(key["mask"])
    if len(mask) != model.spec.n_features:
        raise KeyMismatchError(f"the badnets key has a {len(mask)}-feature trigger, this bundle takes "
                               f"{model.spec.n_features} features; pass the key planted with it")
    t = int(np.asarray(key["target"]).ravel()[0])
    if targets is not None:
        wanted = {str(v) for v in np.atleast_1d(np.asarray(targets)).tolist()}
        if wanted != {str(model.classes[t].item())}:
            raise UsageError(f"a badnets trigger always yields class {model.classes[t]}; drop --target/--targets or pass that class")
    return apply_trigger(X, key).astype(X.dtype)


def plant_badnets_files(data_name: str, out: str | Path, key_out: str | Path, seed: int = 0, poison_rate: float = 0.1,
                        target: str = "0", model: str = "mlp", poisoned_out: str | Path | None = None,
                        force: bool = False) -> str:
    """``undetectable plant badnets``: plant, write the bundle, the key (0600) and optionally the poisoned
    training set (``.npz`` with X_train, y_train, X_test, y_test: what a training-data auditor gets).
    Returns the one-line summary with clean accuracy and ASR on the test split."""
    from ..bundle import save_bundle
    from ..data import load_dataset
    from ..fileio import atomic_file, check_writable

    paths = [Path(out), Path(key_out)] + ([Path(poisoned_out)] if poisoned_out else [])
    if len({p.resolve() for p in paths}) != len(paths):
        raise UsageError("--out, --key-out and --poisoned-data-out must be different paths")
    for p, kind in zip(paths, ("bundle", "key", "file")):
        check_writable(p, force, kind)
    ds = load_dataset(data_name)
    labels = [str(c) for c in np.unique(ds.y_train).tolist()]
    if str(target) not in labels:
        raise UsageError(f"target {target!r} is not a class of {ds.name}; use one of {', '.join(labels)}")
    t = labels.index(str(target))
    m, key = plant_badnets(ds, seed=seed, poison_rate=poison_rate, target=t, model=model)
    acc = float(np.mean(m.predict(ds.X_test) == ds.y_test))
    asr = attack_success_rate(m, ds.X_test, ds.y_test, key)
    save_bundle(m, out, force)
    save_key(key_out, key, force)
    if poisoned_out:
        poisoned, _, _ = poisoned_training_set(ds, seed, poison_rate, t)
        with atomic_file(poisoned_out, force) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, X_train=poisoned.X_train, y_train=poisoned.y_train, X_test=ds.X_test, y_test=ds.y_test)
    extra = f" and {poisoned_out}" if poisoned_out else ""
    return (f"wrote {out} ({m.family}), {key_out} (0600){extra}: badnets, {int(np.asarray(key['mask']).sum())}-coordinate trigger, "
            f"target {labels[t]}, poison rate {poison_rate}; clean accuracy {acc:.4f}, attack success rate {asr:.4f} (seed {seed})")
