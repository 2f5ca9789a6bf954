"""What every construction shares: validated parameters, a typed key, and the ``Scheme`` interface.

A scheme (one module per construction of the paper) is three things:

* ``Params``: a frozen dataclass of its construction parameters, validated on creation; a wrong value
  raises ``ParameterError`` (a ``UsageError`` *and* a ``ValueError``) naming the parameter.
* ``Key``: the backdoor key as an object (never a bare array or dict): ``save``/``load`` (0600 files
  that record their scheme), ``activate(model, X, target=None)``.
* ``Scheme(**params)``: ``plant(base, *, seed=None) -> (model, key)`` (``seed``: the honest training coins,
  always; the secret comes from the ``secret_seed`` parameter, None: OS entropy), the honest counterpart
  ``honest(data, seed)``, ``backdoor(data, seed)`` (train and plant, a pure function of ``seed``) and
  ``null(model, rng)``: a key drawn from the same key distribution, independent of any model, which
  the arena hands to key oracles for honest models (the control). The key a scheme plants (signature),
  the honest ``learner`` and the ``secret_seed`` are parameters like any other.

The registry (``undetectable.schemes.get``) maps names to "module:Class" and imports lazily.
"""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any, ClassVar
from collections.abc import Mapping

import numpy as np

from ..bundle import Model
from ..data import Dataset
from ..errors import ArgumentTypeError, ParameterError, UnsupportedModelError, UsageError


def _words(name: str) -> str:
    return name.replace("_", " ")


def check_int(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int in [low, high], or a ``ParameterError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high is not None and value > high):
        rng = f"≥ {low}" if high is None else f"in [{low}, {high}]"
        raise ParameterError(name, f"{_words(name)} must be an integer {rng}; got {value!r}")
    return int(value)


#: The largest payload ``bound`` (signature, checksum, drop-in): one training standard deviation per feature (bundles) or
#: the value's whole spread (model files). Beyond it a perturbation is not small, and float64 grids stop meaning anything.
BOUND_MAX = 1.0


def check_float(name: str, value: Any, low: float = 0.0, high: float | None = None, *, open_low: bool = True,
                open_high: bool = False) -> float:
    """``value`` as a finite float in the interval, or a ``ParameterError`` naming ``name``."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)
        ok = (v > low if open_low else v >= low) and (high is None or (v < high if open_high else v <= high))
    if not ok:
        if high is None:
            where = f"{'>' if open_low else '≥'} {low:g}"
        else:
            where = f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ParameterError(name, f"{_words(name)} must be a finite number {where}; got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(name, f"unknown {_words(name)} {value!r}; use one of {', '.join(choices)}")
    return str(value)


def check_seed(name: str, value: Any) -> int | None:
    """``value`` as a seed (an int in [0, 2^128)) or None, or a ``ParameterError`` naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**128:
        raise ParameterError(name, f"{_words(name)} must be None (OS entropy) or an integer in [0, 2^128); got {value!r}")
    return int(value)


def check_learner(name: str, value: Any, kinds: tuple[str, ...] | None = None) -> Learner | None:
    """``value`` (a ``Learner``, a learner kind such as "logreg", or None) as a ``Learner`` or None."""
    from ..models import LEARNERS

    if value is None:
        return None
    if isinstance(value, str):
        value = Learner(value)
    allowed = kinds or tuple(LEARNERS)
    if not isinstance(value, Learner) or value.kind not in allowed:
        raise ParameterError(name, f"{_words(name)} must be a Learner or one of {', '.join(allowed)}; got {value!r}")
    if not isinstance(value.options, Mapping) or not all(isinstance(k, str) for k in value.options):
        raise ParameterError(name, f"the {_words(name)}'s options must be a mapping of option names to values; got {value.options!r}")
    return value


def secret_seed_for(seed: int) -> int:
    """The secret's seed derived from a model seed (``coin_rng(seed, "secret")``): ``Scheme.backdoor`` is pure in seed."""
    from ..models.coins import coin_rng

    return int(coin_rng(int(seed), "secret").integers(0, 2**63))


def random_sparse_vector(rng: np.random.Generator, D: int, k: int, scale: float = 1.0) -> np.ndarray:
    """A vector of R^D of norm ``scale`` on a uniform support of size k, uniform in direction on it: the
    null key of the white-box schemes (rff's bk, relu's s)."""
    u = rng.standard_normal(k)
    v = np.zeros(D)
    v[rng.choice(D, size=k, replace=False)] = scale * u / np.linalg.norm(u)
    return v


@dataclasses.dataclass(frozen=True)
class Params:
    """Base of every scheme's parameters; subclasses validate in ``__post_init__``.

    Every scheme has ``secret_seed`` (None: the secret is drawn from OS entropy); schemes that train or
    wrap an honest learner have ``learner``; the signature scheme has ``key`` (the public key it plants).
    """

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Learner):
                v = {"kind": v.kind, "options": dict(v.options)}
            elif f.name == "key":
                v = None if v is None else type(v).__name__
            out[f.name] = v
        return out

    def _set(self, name: str, value: Any) -> None:
        """Normalize a field in ``__post_init__`` (the dataclass is frozen)."""
        object.__setattr__(self, name, value)


@dataclasses.dataclass(frozen=True)
class Learner:
    """The honest learner a scheme trains (or plants into): ``kind`` for ``models.train_model`` and its options.

    Examples
    --------
    >>> Learner("logreg", {"max_iter": 50}).kind
    'logreg'
    """

    kind: str = "logreg"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def train(self, data: Dataset, seed: int) -> Model:
        from ..models import train_model

        return train_model(self.kind, data, seed=seed, **dict(self.options))


def planted(model: Any, cls: type, scheme: str, what: str | None = None) -> Any:
    """The model of class ``cls`` inside ``model`` (through wrappers such as a smoothed bundle), or a
    ``KeyMismatchError``: a key of ``scheme`` activates only bundles planted with that scheme."""
    from ..errors import KeyMismatchError

    inner = model
    while not isinstance(inner, cls) and hasattr(inner, "base"):
        inner = inner.base
    if not isinstance(inner, cls):
        what = what or f"a {scheme} key"
        raise KeyMismatchError(f"{what} activates {scheme} bundles; this bundle is {getattr(model, 'family', type(model).__name__)}, "
                               "pass the key file written when it was planted")
    return inner


class Key:
    """A backdoor key. Subclasses set ``scheme`` and implement ``activate``, ``arrays`` and ``from_arrays``.

    Secret keys are written with ``keys.save_secret``: a safetensors file, mode 0600, whose header
    names the scheme, so ``schemes.load_key(path)`` knows which ``Key`` class reads it.
    """

    scheme: ClassVar[str] = ""
    takes_target: ClassVar[bool] = False

    def activate(self, model: Model, X: Any, target: Any = None) -> np.ndarray:  # pragma: no cover - abstract
        """Activate(x, bk[, target]) → x' close to x on which ``model`` outputs the target / flips."""
        raise NotImplementedError

    def probe(self, model: Model, X: Any, target: Any = None) -> np.ndarray:
        """Inputs activated with this key *as if* ``model`` carried it: a key oracle's probe. For an honest
        model handed a null key (the arena's control) this is what an activated input would look like."""
        return self.activate(model, X, target)

    def arrays(self) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def meta(self) -> dict[str, Any]:
        """JSON-able header fields recorded beside the arrays (no secret beyond the arrays)."""
        return {}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Key:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, path: str | os.PathLike, force: bool = False, passphrase: str | None = None) -> Path:
        """Write the key file (mode 0600, atomic, no clobber without ``force``)."""
        from ..keys import save_secret

        if passphrase:
            raise UsageError(f"{self.scheme} key files are not encrypted; drop the passphrase")
        return save_secret(path, self.scheme, self.arrays(), self.meta(), force)

    @classmethod
    def load(cls, path: str | os.PathLike, passphrase: str | None = None) -> Key:
        """Read a key file of this scheme; refuses a key of another scheme."""
        from ..keys import load_secret

        _, arrays, meta = load_secret(path, cls.scheme)
        return cls.from_arrays(arrays, meta)

    def __repr__(self) -> str:  # never print secrets
        return f"<{type(self).__name__} ({self.scheme} backdoor key)>"


_Params = Params


class Scheme:
    """One construction: validated parameters, ``plant``, its key type and the honest counterpart.

    Subclasses set ``name``, ``Params``, ``KeyType``, ``wraps`` (True: plants into a trained model,
    False: trains from data), ``takes_model_files`` (True: ``plant`` also takes a user's model file, an
    ``OnnxModel``; every other scheme refuses one with ``UnsupportedModelError``) and implement ``plant`` and ``null``.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params
    KeyType: ClassVar[type[Key]] = Key
    wraps: ClassVar[bool] = False
    takes_model_files: ClassVar[bool] = False
    white_box: ClassVar[bool] = False
    default_learner: ClassVar[Learner] = Learner("logreg")

    params: _Params

    def __init__(self, params: _Params | None = None, **kwargs: Any) -> None:
        if params is not None and kwargs:
            raise UsageError("pass either a Params object or keyword parameters, not both")
        if params is None:
            fields = [f.name for f in dataclasses.fields(self.Params)]
            for k in kwargs:
                if k not in fields:
                    raise ParameterError(k, f"the {self.name} scheme has no parameter {k!r}; its parameters are {', '.join(fields)}")
            params = self.Params(**kwargs)
        self.params = params
        if not isinstance(self.params, self.Params):
            raise ArgumentTypeError(f"the {self.name} scheme takes {self.Params.__name__}; got {type(self.params).__name__}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"

    def replace(self, **changes: Any) -> Scheme:
        """The same scheme with some parameters changed (validated again)."""
        return type(self)(dataclasses.replace(self.params, **changes))

    @property
    def learner(self) -> Learner:
        """The honest learner: the ``learner`` parameter where the scheme has one, else the default."""
        return getattr(self.params, "learner", None) or self.default_learner

    def secret_rng(self) -> np.random.Generator:
        """The generator of the secret: ``default_rng(secret_seed)``, or OS entropy when it is None."""
        s = getattr(self.params, "secret_seed", None)
        return np.random.default_rng() if s is None else np.random.default_rng(s)

    def plant(self, base: Any, *, seed: int | None = None) -> tuple[Model, Key]:  # pragma: no cover - abstract
        """Backdoor → (model, key).

        ``base`` is a trained ``Model`` (``wraps``) or a ``Dataset``; ``seed`` the coins of the honest
        training path (None: fresh coins). The secret is drawn from the ``secret_seed`` parameter.
        """
        raise NotImplementedError

    def _check_base(self, base: Any) -> Any:
        """``base`` of the right kind for this scheme, or an ``ArgumentTypeError`` saying what goes there
        (``UnsupportedModelError`` for a model file given to a scheme that cannot plant into one)."""
        if getattr(base, "family", None) == "onnx" and not self.takes_model_files:
            what = ("wraps a bundle trained by this package (undetectable.train)" if self.wraps
                    else "trains its own model from data (pass a Dataset)")
            raise UnsupportedModelError(f"the {self.name} scheme cannot plant into a model file: it {what}. To plant into "
                                        "this file, use the signature scheme: SignatureScheme(key=public_key).plant(model, data=X)")
        if self.wraps:
            if not isinstance(base, Model):
                raise ArgumentTypeError(f"the {self.name} scheme plants into a trained Model; got {type(base).__name__}. "
                                        "Train one first, e.g. undetectable.train('logreg', data)")
            return base
        if isinstance(base, (str, os.PathLike)):
            from ..data import load_dataset

            return load_dataset(os.fspath(base))
        if not isinstance(base, Dataset):
            raise ArgumentTypeError(f"the {self.name} scheme trains from data: pass a Dataset or a bundled dataset's name, "
                                    f"not a {type(base).__name__}")
        return base

    def null(self, model: Model, rng: np.random.Generator) -> Key:  # pragma: no cover - abstract
        """A key from the scheme's key distribution, independent of ``model`` (arena controls)."""
        raise NotImplementedError

    def hardness(self, D: int) -> dict[str, Any]:
        """The parameters a result on inputs of dimension ``D`` must state (white-box schemes); {} otherwise."""
        return {}

    def honest(self, data: Dataset, seed: int) -> Model:
        """Train the honest model this scheme is compared with (the population's Train)."""
        return self.learner.train(data, seed)

    def backdoor(self, data: Dataset, seed: int) -> tuple[Model, Key]:
        """Train and plant, a pure function of ``seed``: the arena's Backdoor. The honest coins are ``seed``,
        the secret's seed is ``secret_seed_for(seed)`` (``coin_rng(seed, "secret")``)."""
        has_secret = any(f.name == "secret_seed" for f in dataclasses.fields(self.params))
        sch = self.replace(secret_seed=secret_seed_for(seed)) if has_secret else self
        return sch.plant(self.honest(data, seed) if self.wraps else data, seed=seed)
