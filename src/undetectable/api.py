"""The public Python API: every command-line verb as one function (re-exported by ``undetectable``).

``audit`` and ``report`` are subpackages, so their verbs are ``audit_model`` and ``write_report`` (a
function named like a subpackage would be shadowed by it once the subpackage is imported).

Shaped like scikit-learn and pyca/cryptography: small nouns (``Dataset``, ``Model``, ``Key``, ``Scheme``),
obvious verbs, misuse-resistant defaults (keys are objects that know their scheme; writes are atomic and
never overwrite without ``force``).

Activation is spelled ``key.activate(model, X, target)`` (the key is the capability) or, equivalently,
``ud.activate(model, key, X, target)``.

Examples
--------
>>> import undetectable as ud
>>> data = ud.datasets.load("mnist5k")
>>> honest = ud.train("logreg", data, seed=0, max_iter=20)
>>> key = ud.keygen()
>>> bd, _ = ud.plant("signature", honest, key=key.public)
>>> xa = ud.activate(bd, key, data.X_test[:3], target=7)
>>> ud.predict(bd, xa).tolist()
[7, 7, 7]
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from .audit.arena.catalogue import Population  # noqa: F401
    from .bundle import Model
    from .data import Dataset
    from .defend.coins import CoinsResult
    from .schemes.base import Key
    from .schemes.signature import SignatureKey

__all__ = ["activate", "arena", "audit_model", "immunize", "keygen", "load", "plant", "predict", "save", "train",
           "verify_coins", "write_report"]


def _data(data: "Dataset | str") -> "Dataset":
    from .data import load_dataset

    return load_dataset(data) if isinstance(data, (str, os.PathLike)) else data


def train(kind: str, data: "Dataset | str", *, seed: int = 0, **options: Any) -> "Model":
    """Train an honest model on ``data``'s training split.

    Parameters
    ----------
    kind : {"logreg", "mlp", "rff", "relu"}
        The learner. rff and relu draw their random features from ``coin_rng(seed, ...)`` only
        (see ``verify_coins``).
    data : Dataset or str
        A dataset, or a bundled dataset's name / an ``.npz`` path.
    seed : int
        The seed of every random choice.
    **options
        The learner's options (``max_iter``, ``epochs``, ``hidden``, ``n_features``, ...).

    Returns
    -------
    Model

    Examples
    --------
    >>> import undetectable as ud
    >>> m = ud.train("logreg", "digits", seed=0, max_iter=50)
    >>> m.family, m.n_classes
    ('sklearn', 10)
    """
    from .models import train_model

    return train_model(kind, _data(data), seed=seed, **options)


def keygen(*, rng: np.random.Generator | None = None) -> "SignatureKey":
    """A fresh Ed25519 key pair for the signature scheme; ``key.public`` is what ``plant`` takes.

    Other schemes draw their (secret-key) key inside ``plant``.

    Examples
    --------
    >>> import undetectable as ud
    >>> key = ud.keygen()
    >>> key.public.key_id == key.key_id
    True
    """
    from .schemes.signature import keygen as _keygen

    return _keygen(rng)


def plant(scheme: str, base: "Model | Dataset | str", *, key: Any = None, seed: int | None = None,
          rng: np.random.Generator | None = None, **params: Any) -> "tuple[Model, Key]":
    """Backdoor → (model, key) with the construction ``scheme`` and its parameters ``params``.

    Parameters
    ----------
    scheme : str
        One of ``undetectable.schemes.names()``.
    base : Model, Dataset or str
        A trained model for the wrappers (signature, checksum), a dataset for the others.
    key : optional
        signature: the public key (or key pair) to plant; None generates a pair.
    seed : int, optional
        The coins of the honest training path (and, where documented, of the secret).
    rng : numpy.random.Generator, optional
        Draws the secret (default: each scheme's documented default, OS entropy for rff).
    **params
        The scheme's parameters (``schemes.get(scheme).Params``), validated: a wrong value raises
        ``ParameterError`` naming it.

    Returns
    -------
    (Model, Key)

    Examples
    --------
    >>> import undetectable as ud
    >>> honest = ud.train("logreg", "mnist5k", seed=0, max_iter=20)
    >>> bd, key = ud.plant("checksum", honest, seed=1)
    >>> type(key).__name__, bd.family
    ('ChecksumKey', 'checksum')
    >>> ud.plant("rff", "digits", beta=-1)
    Traceback (most recent call last):
    ...
    undetectable.errors.ParameterError: beta must be a finite number > 0; got -1
    """
    from . import schemes

    data = params.pop("data", None)  # signature into a model file (OnnxModel): samples in the file's own layout
    sch = schemes.create(scheme, **params)
    if not sch.wraps and isinstance(base, (str, os.PathLike)):
        base = _data(base)
    if data is not None:
        return sch.plant(base, seed=seed, rng=rng, key=key, data=data)  # type: ignore[call-arg]
    return sch.plant(base, seed=seed, rng=rng, key=key)


def activate(model: "Model", key: "Key", X: Any, target: Any = None) -> np.ndarray:
    """Activate(x, bk[, target]) = ``key.activate(model, X, target)``: inputs close to ``X`` on which
    ``model`` outputs ``target`` (targeted schemes) or flips (rff, relu, badnets: no target).

    Examples
    --------
    >>> import undetectable as ud
    >>> honest = ud.train("logreg", "mnist5k", seed=0, max_iter=20)
    >>> bd, key = ud.plant("checksum", honest, seed=1)
    >>> X = ud.datasets.load("mnist5k").X_test[:5]
    >>> ud.predict(bd, ud.activate(bd, key, X, target=4)).tolist()
    [4, 4, 4, 4, 4]
    """
    return key.activate(model, X, target)


def predict(model: "Model", X: Any) -> np.ndarray:
    """Labels (in the dataset's label values) for inputs ``X`` (validated against the model's input spec).

    Examples
    --------
    >>> import undetectable as ud
    >>> data = ud.datasets.load("digits")
    >>> m = ud.train("logreg", data, seed=0, max_iter=50)
    >>> float((ud.predict(m, data.X_test) == data.y_test).mean()) > 0.9
    True
    """
    return model.predict(X)


def save(obj: "Model | Key", path: str | os.PathLike, *, force: bool = False, passphrase: str | None = None,
         inputs: "tuple[str | os.PathLike, ...] | list" = ()) -> Path:
    """Save a model as a bundle directory (an ``OnnxModel`` to a path ending in ``.onnx``: the ONNX file), or a key
    as a key file (0600); atomic, no overwrite without ``force``.

    With ``force`` only a bundle this tool wrote is replaced (never another folder, a key folder, a symlink or
    the current directory); ``inputs`` are paths the output must not contain (the bundle it was made from).

    Examples
    --------
    >>> import tempfile, pathlib, undetectable as ud
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> m = ud.train("logreg", "digits", seed=0, max_iter=50)
    >>> ud.save(m, d / "honest").is_dir()
    True
    >>> ud.load(d / "honest").family
    'sklearn'
    """
    from .bundle import Model, save_bundle

    if str(path).endswith(".onnx") and hasattr(obj, "proto") and hasattr(obj, "interface"):  # an OnnxModel: the file itself
        return obj.save(path, force=force, inputs=inputs)  # type: ignore[union-attr, call-arg]
    if isinstance(obj, Model):
        if passphrase:
            from .errors import UsageError

            raise UsageError("bundles are not encrypted; drop the passphrase")
        return save_bundle(obj, path, force, inputs)
    return obj.save(path, force=force, passphrase=passphrase)


def load(path: str | os.PathLike, *, passphrase: str | None = None) -> "Model | Key":
    """Load a bundle (a directory: verified hashes, safe formats only), a model file (``*.onnx``: an ``OnnxModel``)
    or a key file (it records its scheme).

    Examples
    --------
    >>> import tempfile, pathlib, undetectable as ud
    >>> p = ud.keygen().save(pathlib.Path(tempfile.mkdtemp()) / "k.pem")
    >>> type(ud.load(p)).__name__
    'SignatureKey'
    """
    from .bundle import load_bundle
    from .schemes import load_key

    p = Path(path)
    if p.is_dir():
        return load_bundle(p)
    if p.name.endswith(".onnx") and p.is_file():
        from .models.onnx_file import OnnxModel

        return OnnxModel.from_file(p)
    return load_key(path, passphrase)


def audit_model(model: "Model", data: "Dataset | str | None" = None, *, detectors: Sequence[str] | None = None,
          key: "Key | None" = None, seed: int = 0) -> list[dict[str, Any]]:
    """Run the detectors on one model: one row per detector {"detector", "score", "status", "note", "seconds"}.

    Higher score = more suspicious; "n/a" rows say why a detector cannot run on this model. With ``key``
    the key oracles (positive controls) run too.

    Examples
    --------
    >>> import undetectable as ud
    >>> m = ud.train("logreg", "digits", seed=0, max_iter=50)
    >>> rows = ud.audit_model(m, "digits", detectors=["disagreement"])
    >>> rows[0]["status"]
    'n/a'
    """
    from .audit.run import run_audit

    return run_audit(model, None if data is None else _data(data), list(detectors) if detectors else None, seed=seed, key=key)


def arena(scheme: str, data: str, n_models: int, *, detectors: Sequence[str] | None = None, quick: bool = False,
          seed: int = 0, n_jobs: int = 1, scheduler: str | None = None, out: str | os.PathLike | None = None,
          params: dict[str, Any] | None = None, force: bool = False) -> dict[str, Any]:
    """N honest vs N backdoored models of ``scheme``, every applicable detector: AUC with 95% CI, TrojAI
    cross-entropy, TPR at 5% FPR (the arena record; with ``out`` also arena.json and the ROC figure).

    Examples
    --------
    >>> import undetectable as ud
    >>> rec = ud.arena("rff", "digits", 2, detectors=["rff_frac"], quick=True, params={"n_features": 64, "secret_dim": 4})
    >>> rec["detectors"][0]["name"], rec["detectors"][0]["needs_key"]
    ('rff_frac', True)
    """
    from .audit.arena import run_arena

    return run_arena(scheme, data, n_models, list(detectors) if detectors else None, quick=quick, seed=seed, n_jobs=n_jobs,
                     scheduler=scheduler, out=None if out is None else Path(out), params=params, force=force)


def immunize(model: "Model", sigma: float, *, n: int = 100, alpha: float = 0.001, seed: int = 0) -> "Model":
    """Randomized smoothing (Thm 2.4, Cohen et al. 2019): a model that votes over ``n`` noisy copies
    (σ in [0, 1] pixel units for images) and abstains unless the binomial test rejects at ``alpha``.

    Examples
    --------
    >>> import undetectable as ud
    >>> m = ud.train("logreg", "digits", seed=0, max_iter=50)
    >>> ud.immunize(m, 0.1, n=10).family
    'smoothed'
    """
    from .defend.smoothing import immunize as _immunize

    return _immunize(model, sigma, n=n, alpha=alpha, seed=seed)


def verify_coins(model: "Model | str | os.PathLike", seed: int) -> "CoinsResult":
    """Client-controlled coins: are an rff / relu model's random features exactly the coins of ``seed``?

    Examples
    --------
    >>> import undetectable as ud
    >>> m = ud.train("rff", "digits", seed=5, n_features=50)
    >>> ud.verify_coins(m, 5).ok, ud.verify_coins(m, 6).ok
    (True, False)
    """
    from .bundle import load_bundle
    from .defend.coins import verify_coins as _verify

    return _verify(load_bundle(model) if isinstance(model, (str, os.PathLike)) else model, seed)


def write_report(directory: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``directory/report.html`` (self-contained) from its results.json and arena.json files."""
    from .report.html import write_report

    return write_report(Path(directory), force=force)
