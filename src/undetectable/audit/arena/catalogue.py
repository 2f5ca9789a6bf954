"""The arena's catalogue: which populations exist, with which parameters, and how one member is built.

A population's parameters are one flat JSON dict (recorded in arena.json). ``population`` splits it:
keys that are fields of the scheme's ``Params`` go to the ``Scheme``; ``n_train`` is the population's
own (each member trains on its own sample); ``base`` names the honest learner; every other key is an
option of that learner. No if-chain on scheme names: the ``Scheme`` object does the work.
"""
from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any

import numpy as np

from ...data import Dataset
from ...schemes import get as get_scheme, names as scheme_names
from ...schemes.base import Key, Learner, Scheme

SCHEMES = ("rff", "relu", "signature", "checksum", "badnets")
ROLE_CODES = {"honest": 0, "backdoored": 1, "shadow_honest": 2, "shadow_backdoored": 3}

# (quick, full) parameters of each population
_PARAMS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "rff": ({"n_features": 600, "secret_dim": 16, "beta": 0.01}, {"n_features": 2000, "secret_dim": 32, "beta": 0.01}),
    # θ = None: the relu scheme's default, the geometric mean of the statistical edge √(k log(D/k)/m) and
    # min(BBP edge √(D/m), diagonal edge) — inside the sparse-PCA hardness window
    "relu": ({"n_features": 600, "sparsity": 10, "theta": None, "lam": 2.0}, {"n_features": 1000, "sparsity": 10, "theta": None, "lam": 2.0}),
    "signature": ({"base": "logreg", "n_train": 600, "max_iter": 60}, {"base": "logreg", "n_train": 2000, "max_iter": 200}),
    "checksum": ({"base": "logreg", "n_train": 600, "max_iter": 60}, {"base": "logreg", "n_train": 2000, "max_iter": 200}),
    # quick: clean accuracy ≈ 0.88, attack success ≈ 0.99 on mnist5k (measured, seeds 1000-1001)
    "badnets": ({"poison_rate": 0.1, "epochs": 4, "hidden": 64, "n_train": 2000}, {"poison_rate": 0.1, "epochs": 8, "hidden": 64, "n_train": 4000}),
}


def check_scheme(scheme: str) -> str:
    from ...errors import UsageError

    if scheme not in SCHEMES:
        raise UsageError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    return scheme


def scheme_params(scheme: str, quick: bool = False) -> dict[str, Any]:
    """The (stated) parameters of ``scheme``'s population; quick = smaller models for tests."""
    return dict(_PARAMS[check_scheme(scheme)][0 if quick else 1])


@dataclasses.dataclass(frozen=True)
class Population:
    """One population recipe: the scheme (with validated params, the honest learner among them), the sample size."""

    scheme: Scheme
    n_train: int | None

    @property
    def learner(self) -> Learner:
        return self.scheme.learner


def population(scheme: str, params: dict[str, Any]) -> Population:
    """Split a flat parameter dict into (Scheme, n_train) (see the module docstring): learner options become
    the scheme's ``learner`` parameter where it has one."""
    from ...errors import ParameterError

    cls = get_scheme(check_scheme(scheme))
    fields = {f.name for f in dataclasses.fields(cls.Params)}
    p = dict(params)
    n_train = p.pop("n_train", None)
    kind = p.pop("base", None)
    sp = {k: v for k, v in p.items() if k in fields}
    opts = {k: v for k, v in p.items() if k not in fields}
    if kind or opts:
        if "learner" not in fields:
            bad = sorted(opts) or ["base"]
            raise ParameterError(bad[0], f"the {scheme} population has no parameter {bad[0]!r}; its parameters are "
                                         f"{', '.join(sorted(fields | {'n_train'}))}")
        sp["learner"] = Learner(kind or cls(**sp).learner.kind, opts)
    return Population(cls(**sp), n_train)


@functools.lru_cache(maxsize=4)
def dataset(name: str) -> Dataset:
    from ...data import load_dataset

    return load_dataset(name)


def subset(ds: Dataset, n_train: int | None, seed: int) -> Dataset:
    """The training sample of one population member: ``n_train`` rows drawn by its seed (all rows if None).

    Drawing each model's training set from the data makes the population a population (an lbfgs
    logistic regression on a fixed set is deterministic, so seeds alone would give identical models).
    """
    if not n_train or n_train >= len(ds.X_train):
        return ds
    idx = np.sort(np.random.default_rng([int(seed), 17]).choice(len(ds.X_train), size=int(n_train), replace=False))
    return dataclasses.replace(ds, X_train=ds.X_train[idx], y_train=ds.y_train[idx])


def model_seed(seed: int, role: str, index: int) -> int:
    """Fresh, disjoint seeds for every (arena seed, role, index)."""
    return int(np.random.SeedSequence([int(seed), ROLE_CODES[role], int(index)]).generate_state(1, np.uint32)[0])


def build_model(scheme: str, data: str, seed: int, backdoored: bool, params: dict[str, Any]) -> tuple[Any, Key | None]:
    """(model, key) for one member of the population: Train(seed) or Backdoor(seed), a pure function of
    its arguments (every secret is drawn from ``seed``). Honest models get ``None`` (see ``null_key``)."""
    from sklearn.exceptions import ConvergenceWarning

    pop = population(scheme, params)
    ds = subset(dataset(data), pop.n_train, seed)
    with warnings.catch_warnings():  # quick arenas cap lbfgs iterations on purpose
        warnings.simplefilter("ignore", ConvergenceWarning)
        if backdoored:
            return pop.scheme.backdoor(ds, seed)
        return pop.scheme.honest(ds, seed), None


def null_key(scheme: str, model: Any, seed: int, params: dict[str, Any]) -> Key:
    """A key from the scheme's key distribution for an honest model (what a key oracle is handed)."""
    return population(scheme, params).scheme.null(model, np.random.default_rng([int(seed), 99]))


def construction_params(scheme: str, data: str, p: dict[str, Any]) -> dict[str, Any]:
    """The hardness parameters every white-box result must state (``Scheme.hardness``)."""
    return population(scheme, p).scheme.hardness(dataset(data).spec.n_features)


__all__ = ["SCHEMES", "Population", "build_model", "construction_params", "dataset", "model_seed", "null_key",
           "population", "scheme_names", "scheme_params", "subset"]
