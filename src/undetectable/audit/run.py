"""``undetectable audit BUNDLE``: run the applicable detectors on one model and tabulate the scores."""
from __future__ import annotations

import time

import numpy as np

from ..errors import KeyMismatchError, UndetectableError
from ..runtime import with_thread_budget
from .base import NotApplicable, get_detectors


@with_thread_budget
def run_audit(model, data, names: list[str] | None = None, seed: int = 0, key=None) -> list[dict]:
    """One row per detector: ``{"detector", "score", "status" ("ok" | "n/a" | "error"), "note", "seconds"}``.

    A ``key`` that does not belong to ``model`` raises ``KeyMismatchError`` before any detector runs.

    Key oracles (``needs_key``) run only when ``key`` is given and a list of names was not passed;
    meta-classifiers (``fitted`` on shadow populations) only in the arena. A detector that cannot run on
    this model (a missing capability, ``NotApplicable``) reports "n/a" and why; anything else is a bug and
    propagates. Higher score = more suspicious.
    """
    from ..progress import track

    if key is not None:
        check_key(model, key)
    rows = []
    for det in track(get_detectors(names), "audit: running detectors", unit="detectors"):
        if det.fitted and not names:
            continue
        if det.needs_key and key is None:
            if names:
                rows.append({"detector": det.name, "score": None, "status": "n/a", "note": "needs the backdoor key", "seconds": 0.0})
            continue
        t0 = time.perf_counter()
        try:
            s = det.run(model, data, key, np.random.default_rng(seed))
            rows.append({"detector": det.name, "score": s, "status": "ok", "note": det.description, "seconds": time.perf_counter() - t0})
        except KeyMismatchError:  # a wrong key is the user's error, not "this detector does not apply"
            raise
        except NotApplicable as exc:  # e.g. weight statistics on a torch-mlp
            rows.append({"detector": det.name, "score": None, "status": "n/a", "note": str(exc), "seconds": time.perf_counter() - t0})
        except UndetectableError as exc:  # a failed or non-finite score (InvalidScore): an error with its reason, never a number
            rows.append({"detector": det.name, "score": None, "status": "error", "note": f"{type(exc).__name__}: {exc}",
                         "seconds": time.perf_counter() - t0})
    return rows


def check_key(model, key) -> None:
    """``KeyMismatchError`` unless ``key`` activates ``model`` (tried on one blank input): an audit with the wrong key
    would otherwise show its key oracles as "n/a" or as chance, which reads like "undetectable"."""
    X = np.zeros((1, *model.spec.shape), dtype=np.uint8 if model.spec.is_image else np.float64)
    try:
        key.activate(model, X, model.classes[0] if getattr(key, "takes_target", False) else None)
    except KeyMismatchError:
        raise
    except UndetectableError:  # e.g. a payload the blank input cannot carry: not a key question
        pass


_DEFAULT_DATA = {(784, "uint8"): "mnist5k", (64, "uint8"): "digits", (30, "float64"): "breast-cancer", (784, "float64"): "synthetic"}


def dataset_for_spec(spec):
    """The bundled dataset whose inputs match ``spec`` (shape and dtype), or a UsageError asking for --data."""
    from ..data import load_dataset
    from ..errors import ParameterError

    name = _DEFAULT_DATA.get((spec.n_features, spec.dtype))
    if name is None:
        raise ParameterError("data", f"no bundled dataset has {spec.n_features} {spec.dtype} features; pass data=NAME (a dataset name or a .npz path)")
    return load_dataset(name)
