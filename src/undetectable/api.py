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
from typing import TYPE_CHECKING, Any
from collections.abc import Sequence

import numpy as np

if TYPE_CHECKING:
    from .audit.arena.catalogue import Population  # noqa: F401
    from .bundle import Model
    from .data import Dataset
    from .defend.coins import CoinsResult
    from .schemes.base import Key
    from .schemes.signature import SignatureKey

__all__ = ["activate", "arena", "arena_files", "audit_model", "immunize", "inspect_model", "keygen", "load", "load_model",
           "plant", "predict", "save", "train", "verify_coins", "write_report"]


def _data(data: Dataset | str) -> Dataset:
    from .data import Dataset, load_dataset
    from .errors import ArgumentTypeError

    if isinstance(data, (str, os.PathLike)):
        return load_dataset(data)
    if not isinstance(data, Dataset):
        raise ArgumentTypeError(f"data must be a Dataset, a bundled dataset's name or an .npz path; got {type(data).__name__}")
    return data


def _require_path(path: Any, what: str = "path") -> Path:
    from .errors import ArgumentTypeError

    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"{what} must be a file or folder path (str or pathlib.Path); got {type(path).__name__}")
    return Path(path)


def _require_int(name: str, value: Any, low: int = 0, high: int | None = None) -> int:
    from .schemes.base import check_int

    return check_int(name, value, low, high)


def _require_bool(name: str, value: Any) -> bool:
    from .errors import ParameterError

    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(name, f"{name} must be True or False; got {value!r}")
    return bool(value)


def _require_names(name: str, value: Any) -> list[str] | None:
    from .errors import ParameterError

    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ParameterError(name, f"{name} must be a list of names (e.g. [\"spectral\", \"strip\"]) or None; got {value!r}")
    return list(value) or None


def train(kind: str, data: Dataset | str, *, seed: int = 0, **options: Any) -> Model:
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

    return train_model(kind, _data(data), seed=_require_int("seed", seed), **options)


def keygen(*, rng: np.random.Generator | None = None) -> SignatureKey:
    """A fresh Ed25519 key pair for the signature scheme; ``key.public`` is what ``plant`` takes.

    Other schemes draw their (secret-key) key inside ``plant``.

    Examples
    --------
    >>> import undetectable as ud
    >>> key = ud.keygen()
    >>> key.public.key_id == key.key_id
    True
    """
    from .errors import ArgumentTypeError
    from .schemes.signature import keygen as _keygen

    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(f"rng must be a numpy.random.Generator or None (OS entropy); got {type(rng).__name__}")
    return _keygen(rng)


def plant(scheme: str, base: Model | Dataset | str, *, key: Any = None, seed: int | None = None,
          **params: Any) -> tuple[Model, Key]:
    """Backdoor → (model, key) with the construction ``scheme`` and its parameters ``params``.

    ``ud.plant(name, base, key=..., seed=S, **params)`` is ``schemes.create(name, key=..., **params).plant(base, seed=S)``.

    Parameters
    ----------
    scheme : str
        One of ``undetectable.schemes.names()``.
    base : Model, Dataset or str
        A trained model for the wrappers (signature, checksum), a dataset (or its name) for the others.
    key : optional
        signature: the public key (or key pair) to plant; None generates a pair. checksum: a ChecksumKey.
    seed : int, optional
        The coins of the honest training path (None: fresh coins). The secret comes from the
        ``secret_seed`` parameter (None: OS entropy).
    **params
        The scheme's parameters (``schemes.get(scheme).Params``: e.g. ``secret_seed``, ``learner``, ``beta``),
        validated: a wrong value raises ``ParameterError`` naming it.

    Returns
    -------
    (Model, Key)

    Examples
    --------
    >>> import undetectable as ud
    >>> honest = ud.train("logreg", "mnist5k", seed=0, max_iter=20)
    >>> bd, key = ud.plant("checksum", honest, secret_seed=1)
    >>> type(key).__name__, bd.family
    ('ChecksumKey', 'checksum')
    >>> ud.plant("rff", "digits", beta=-1)
    Traceback (most recent call last):
    ...
    undetectable.errors.ParameterError: beta must be a finite number > 0; got -1
    """
    from . import schemes
    from .errors import ArgumentTypeError

    if not isinstance(scheme, str):
        raise ArgumentTypeError(f"scheme must be a scheme name ({', '.join(schemes.names())}); got {type(scheme).__name__}")
    if _is_torch_module(base):  # the user's own nn.Module: returns an nn.Module (signature only)
        return _plant_module(scheme, base, key, params)
    data = params.pop("data", None)  # signature into a model file (OnnxModel): samples in the file's own layout
    if key is not None:
        params["key"] = key
    sch = schemes.create(scheme, **params)
    if data is not None:
        return sch.plant(base, seed=seed, data=data)  # type: ignore[call-arg]
    return sch.plant(base, seed=seed)


def _require_model(model: Any, what: str = "model") -> Model:
    from .bundle import Model
    from .errors import ArgumentTypeError
    from .schemes.base import Key

    if isinstance(model, Model):
        return model
    if isinstance(model, Key) or type(model).__name__ == "SignaturePublicKey":
        raise ArgumentTypeError(f"{what} must be a Model; got a {type(model).__name__} (a key): the model goes first, "
                                "e.g. activate(model, key, X)")
    if isinstance(model, (str, os.PathLike)):
        raise ArgumentTypeError(f"{what} must be a Model, not a path; load it first: model = undetectable.load({str(model)!r})")
    raise ArgumentTypeError(f"{what} must be a Model (from train, plant or load); got {type(model).__name__}")


def _require_array(X: Any, what: str = "X") -> Any:
    from .errors import ArgumentTypeError

    if isinstance(X, (str, bytes, os.PathLike)):
        raise ArgumentTypeError(f"{what} must be an array of inputs, not a path; load it first, e.g. numpy.load(path)")
    if X is None or isinstance(X, (dict, set)) or not hasattr(X, "__len__"):
        raise ArgumentTypeError(f"{what} must be an array of inputs (n rows); got {type(X).__name__}")
    return X


def activate(model: Model, key: Key, X: Any, target: Any = None) -> np.ndarray:
    """Activate(x, bk[, target]) = ``key.activate(model, X, target)``: inputs close to ``X`` on which
    ``model`` outputs ``target`` (targeted schemes) or flips (rff, relu, badnets: no target).

    The arguments are checked: a key where the model goes (or the reverse), or a public key (which cannot
    activate), raise ``ArgumentTypeError``.

    Examples
    --------
    >>> import undetectable as ud
    >>> honest = ud.train("logreg", "mnist5k", seed=0, max_iter=20)
    >>> bd, key = ud.plant("checksum", honest, secret_seed=1)
    >>> X = ud.datasets.load("mnist5k").X_test[:5]
    >>> ud.predict(bd, ud.activate(bd, key, X, target=4)).tolist()
    [4, 4, 4, 4, 4]
    """
    from .errors import ArgumentTypeError
    from .schemes.base import Key

    if _is_torch_module(model):
        from .schemes.signature_torch import activate_module

        return activate_module(model, key, X, target)  # type: ignore[arg-type]
    model = _require_model(model)
    if not isinstance(key, Key):
        if type(key).__name__ == "SignaturePublicKey":
            raise ArgumentTypeError("a public key cannot activate: pass the key pair (the SignatureKey whose .public was planted)")
        raise ArgumentTypeError(f"key must be a backdoor Key (from plant or load); got {type(key).__name__}")
    return key.activate(model, _require_array(X), target)


def predict(model: Model, X: Any = None) -> np.ndarray:
    """Labels (in the dataset's label values) for inputs ``X`` (validated against the model's input spec).

    Examples
    --------
    >>> import undetectable as ud
    >>> data = ud.datasets.load("digits")
    >>> m = ud.train("logreg", data, seed=0, max_iter=50)
    >>> float((ud.predict(m, data.X_test) == data.y_test).mean()) > 0.9
    True
    """
    model = _require_model(model)
    if X is None:
        from .errors import ArgumentTypeError

        raise ArgumentTypeError("predict takes the model and the inputs: predict(model, X)")
    return model.predict(_require_array(X))


def save(obj: Model | Key, path: str | os.PathLike | None = None, *, force: bool = False, passphrase: str | None = None,
         inputs: tuple[str | os.PathLike, ...] | list = ()) -> Path:
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
    from .errors import ArgumentTypeError
    from .schemes.base import Key

    if not isinstance(obj, (Model, Key)) and type(obj).__name__ != "SignaturePublicKey":
        raise ArgumentTypeError(f"save takes a Model or a Key, then a path: save(obj, path); got {type(obj).__name__}")
    path = _require_path(path)
    force = _require_bool("force", force)
    if str(path).endswith(".onnx") and hasattr(obj, "proto") and hasattr(obj, "interface"):  # an OnnxModel: the file itself
        return obj.save(path, force=force, inputs=inputs)  # type: ignore[union-attr, call-arg]
    if isinstance(obj, Model):
        if passphrase:
            from .errors import UsageError

            raise UsageError("bundles are not encrypted; drop the passphrase")
        return save_bundle(obj, path, force, inputs)
    if isinstance(obj, Key) or type(obj).__name__ == "SignaturePublicKey":
        return obj.save(path, force=force, passphrase=passphrase) if passphrase else obj.save(path, force=force)
    raise ArgumentTypeError(f"save takes a Model or a Key; got {type(obj).__name__}")


def load(path: str | os.PathLike, *, passphrase: str | None = None) -> Model | Key:
    """Load a bundle (a directory: verified hashes, safe formats only), a model file (``*.onnx``: an ``OnnxModel``)
    or a key file (it records its scheme).

    Examples
    --------
    >>> import tempfile, pathlib, undetectable as ud
    >>> p = ud.keygen().save(pathlib.Path(tempfile.mkdtemp()) / "k.pem")
    >>> type(ud.load(p)).__name__
    'SignatureKey'
    """
    from .schemes import load_key

    p = _require_path(path)
    if p.is_dir() or (p.name.endswith(".onnx") and p.is_file()):
        return load_model(p)  # one dispatcher for models: a bundle directory or a model file
    return load_key(p, passphrase)


def audit_model(model: Model, data: Dataset | str | None = None, *, detectors: Sequence[str] | None = None,
          key: Key | None = None, seed: int = 0) -> list[dict[str, Any]]:
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
    from .errors import ArgumentTypeError
    from .schemes.base import Key

    model = _require_model(model)
    if key is not None and not isinstance(key, Key):
        raise ArgumentTypeError(f"key must be a backdoor Key (from plant or load) or None; got {type(key).__name__}")
    return run_audit(model, None if data is None else _data(data), _require_names("detectors", detectors),
                     seed=_require_int("seed", seed), key=key)


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
    from .errors import ArgumentTypeError, ParameterError

    if not isinstance(scheme, str):
        raise ArgumentTypeError(f"scheme must be a scheme name; got {type(scheme).__name__}")
    if not isinstance(data, str):
        raise ArgumentTypeError(f"data must be a bundled dataset's name or an .npz path; got {type(data).__name__}")
    if params is not None and (not isinstance(params, dict) or not all(isinstance(k, str) for k in params)):
        raise ParameterError("params", f"params must be a dict of parameter names to values or None; got {params!r}")
    if scheduler is not None and not isinstance(scheduler, str):
        raise ParameterError("scheduler", f"scheduler must be an address, 'local', 'local:N' or None; got {scheduler!r}")
    return run_arena(scheme, data, n_models, _require_names("detectors", detectors), quick=_require_bool("quick", quick),
                     seed=_require_int("seed", seed), n_jobs=n_jobs, scheduler=scheduler,
                     out=None if out is None else _require_path(out, "out"), params=params, force=_require_bool("force", force))


def immunize(model: Model, sigma: float | None = None, *, n: int = 100, alpha: float = 0.001, seed: int = 0) -> Model:
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
    from .schemes.base import check_float

    model = _require_model(model)
    if sigma is None:
        from .errors import ParameterError

        raise ParameterError("sigma", "immunize needs the noise level: immunize(model, sigma), sigma ≥ 0")
    check_float("sigma", sigma, 0.0, open_low=False)
    check_float("alpha", alpha, 0.0, 1.0, open_high=True)
    return _immunize(model, sigma, n=_require_int("n", n, 1), alpha=alpha, seed=_require_int("seed", seed))


def verify_coins(model: Model | str | os.PathLike, seed: int) -> CoinsResult:
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

    return _verify(load_bundle(model) if isinstance(model, (str, os.PathLike)) else _require_model(model), seed)


def write_report(directory: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``directory/report.html`` (self-contained) from its results.json and arena.json files."""
    from .report.html import write_report

    return write_report(_require_path(directory, "directory"), force=_require_bool("force", force))

# --- model files (issue 16): a user's .onnx file is a model wherever a bundle is -------------------------------


def _is_torch_module(obj: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")  # never import torch just to ask
    return torch is not None and isinstance(obj, torch.nn.Module)


def _plant_module(scheme: str, module: Any, key: Any, params: dict[str, Any]) -> tuple[Any, Any]:
    from .errors import ArgumentTypeError, ParameterError
    from .schemes.signature import SignatureKey, SignaturePublicKey
    from .schemes.signature_torch import plant_module

    if scheme != "signature":
        raise ArgumentTypeError(f"a torch module can carry the signature backdoor only (it wraps any classifier); {scheme} "
                                "plants into a dataset or a bundle model")
    unknown = sorted(set(params) - {"input", "X", "n_classes"})
    if unknown:
        raise ParameterError(unknown[0], f"{unknown[0]} is not a parameter of planting into a torch module; pass input=PixelGrid(...) "
                                         "or sample inputs X")
    if key is None:
        key = SignatureKey.generate()
    public = key.private.public_key() if isinstance(key, SignatureKey) else getattr(key, "public", key)
    if not isinstance(key, (SignatureKey, SignaturePublicKey)):
        key = SignaturePublicKey(public)
    return plant_module(module, public, **params), key


def load_model(path: str | os.PathLike) -> Model:
    """A model from a path: a bundle directory, or a model file (``*.onnx``, read as an ``OnnxModel``).

    Raises ``BundleError`` when nothing is there, ``ArgumentTypeError`` for a key file and ``UsageError`` naming the
    path for anything else.

    Examples
    --------
    >>> import tempfile, pathlib, undetectable as ud
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ud.load_model(d / "nothing.onnx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    undetectable.errors.BundleError: model ... does not exist; pass a bundle directory (made by train or plant) or a classifier exported to ONNX (a .onnx file)
    """
    from .errors import ArgumentTypeError, BundleError, UsageError

    p = _require_path(path)
    if p.is_dir():
        from .bundle import load_bundle

        return load_bundle(p)
    if not os.path.lexists(p):
        raise BundleError(f"model {p} does not exist; pass a bundle directory (made by train or plant) or a classifier "
                          "exported to ONNX (a .onnx file)")
    if p.name.lower().endswith(".onnx"):
        from .models.onnx_file import OnnxModel

        return OnnxModel.from_file(p)
    if p.is_file() and p.suffix in (".pem", ".key"):
        raise ArgumentTypeError(f"{p} is a key file, not a model; pass a bundle directory or an .onnx model file")
    raise UsageError(f"{p} is neither a bundle directory nor an .onnx model file; pass a folder made by train or plant, "
                     "or your classifier exported to ONNX with a .onnx name")


def inspect_model(model: Model | str | os.PathLike) -> dict[str, Any]:
    """What a white-box auditor sees. A model file: its I/O signature (symbolic dims), opsets, op histogram, node,
    initializer and parameter counts, size, the ``integer-subgraph`` score; a bundle: its manifest and weights' shapes.

    Examples
    --------
    >>> import undetectable as ud
    >>> m = ud.train("logreg", "digits", seed=0, max_iter=50)
    >>> ud.inspect_model(m)["family"]
    'sklearn'
    """
    if isinstance(model, (str, os.PathLike)):
        p = _require_path(model, "model")
        if p.is_dir():
            from .bundle import load_bundle_and_manifest

            m, manifest = load_bundle_and_manifest(p)
            return {"family": manifest["family"],
                    "input": manifest["input"] | {"feature_std": "…" if manifest["input"].get("feature_std") else None},
                    "classes": manifest["classes"], "params": manifest["params"], "files": manifest["files"], "model": m.describe()}
        model = load_model(p)
    model = _require_model(model)
    if getattr(model, "proto", None) is not None:  # a model file
        from .audit.graph_ops import summarize_onnx

        src = getattr(model, "source", None)
        size = os.stat(src).st_size if src is not None and os.path.isfile(src) else None
        info = summarize_onnx(model, size).to_json()
        return {"family": "onnx", "file": None if src is None else str(src), "classes": np.asarray(model.classes).tolist(), **info}
    return {"family": model.family, "input": model.spec.to_json(), "classes": np.asarray(model.classes).tolist(),
            "model": model.describe()}


def arena_files(honest: str | os.PathLike, suspect: str | os.PathLike, data: Dataset | str | None = None, *,
                detectors: Sequence[str] | None = None, seed: int = 0, out: str | os.PathLike | None = None,
                force: bool = False) -> dict[str, Any]:
    """The arena over your own populations: every ``.onnx`` file in ``honest`` vs every one in ``suspect``, every
    detector that scores a model file (black-box ones need ``data``: samples in the models' own input layout),
    ROC-AUC with a 95% bootstrap CI per detector (label 1 = suspect). With ``out``: ``out/arena.json`` and the ROC figure.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, onnx, undetectable as ud
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for side in ("honest", "suspect"):
    ...     (d / side).mkdir()
    ...     for i in range(2):
    ...         W = numpy_helper.from_array(np.eye(3, dtype=np.float32) * (i + 1), "W")
    ...         g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["logits"])], "g",
    ...                               [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
    ...                               [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3])], [W])
    ...         onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), d / side / f"m{i}.onnx")
    >>> rec = ud.arena_files(d / "honest", d / "suspect", detectors=["integer-subgraph"])
    >>> rec["detectors"][0]["name"], rec["detectors"][0]["auc"], rec["n_suspect"]
    ('integer-subgraph', 0.5, 2)
    """
    from .audit.arena.files import run_file_arena

    return run_file_arena(_require_path(honest, "honest"), _require_path(suspect, "suspect"), None if data is None else _data(data),
                          _require_names("detectors", detectors), seed=_require_int("seed", seed),
                          out=None if out is None else _require_path(out, "out"), force=_require_bool("force", force))
