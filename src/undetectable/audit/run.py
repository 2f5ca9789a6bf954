"""``undetectable audit BUNDLE``: run the applicable detectors on one model and tabulate the scores."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

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


# --- the honest reference: each score beside the scores of honest shadow models of the same family and data ---



@dataclass(frozen=True)
class AuditRow:
    """One detector's line of an audit with its honest reference.

    ``reference``: (lowest, highest) score of the honest shadow models (None when there is none, and
    ``verdict`` says why); ``p_value``: the one-sided empirical p-value (1 + #honest ≥ score) / (n + 1),
    whose smallest possible value is 1 / (n + 1); ``verdict``: "within honest range", "above honest
    range (p = …)", "below honest range", "n/a" or "no reference: …".
    """

    detector: str
    score: float | None
    status: str
    note: str
    seconds: float
    reference: tuple[float, float] | None = None
    reference_scores: tuple[float, ...] = ()
    p_value: float | None = None
    verdict: str = ""

    def to_json(self) -> dict:
        return {"detector": self.detector, "score": self.score, "status": self.status, "note": self.note,
                "seconds": self.seconds, "reference": list(self.reference) if self.reference else None,
                "reference_scores": list(self.reference_scores), "p_value": self.p_value, "verdict": self.verdict}


@dataclass(frozen=True)
class AuditReport:
    """The rows, and what the honest reference is (``reference_note``, one sentence; empty when none was built)."""

    rows: list[AuditRow]
    reference_note: str = ""
    reference_seeds: tuple[int, ...] = field(default=())


def honest_learner(model) -> tuple[str, dict] | None:
    """(learner, options) that trains an honest model of ``model``'s family and size; None when no learner does.

    A wrapper (signature, checksum) is compared with honest models of its base's family. The learner's
    other options are its defaults (an rff model's bandwidth comes from the data, as in ``train``).
    """
    if hasattr(model, "base") and hasattr(model, "triggered"):
        return honest_learner(model.base)
    family = getattr(model, "family", None)
    weights = getattr(model, "weights_", None)
    if family == "rff" and isinstance(weights, np.ndarray):
        return "rff", {"n_features": int(weights.shape[0])}
    if family == "relu" and isinstance(weights, np.ndarray):
        return "relu", {"n_features": int(weights.shape[0])}
    if family == "sklearn":
        est: Any = getattr(model, "estimator", None)
        last = est.steps[-1][1] if hasattr(est, "steps") else est
        return ("logreg", {}) if type(last).__name__ == "LogisticRegression" else None
    if family == "torch-mlp" and isinstance(getattr(model, "hidden", None), int):
        return "mlp", {"hidden": model.hidden}
    return None


def _verdict(score: float | None, ref: list[float]) -> tuple[tuple[float, float] | None, float | None, str]:
    if score is None:
        return None, None, "n/a"
    if len(ref) < 2:
        return None, None, "no reference: the detector scored fewer than 2 honest models"
    lo, hi = min(ref), max(ref)
    p = (1 + sum(r >= score for r in ref)) / (len(ref) + 1)
    if score > hi:
        if p <= 0.05:
            return (lo, hi), p, f"above honest range (p = {p:.2g})"
        return (lo, hi), p, f"above honest range, not significant (p = {p:.2f} with {len(ref)} honest models)"
    if score < lo:
        return (lo, hi), p, "below honest range"
    return (lo, hi), p, "within honest range"


#: learners whose fit is a deterministic function of the data (the seed changes nothing): their honest models
#: are trained on random 90% samples of the training split, so the reference is a population, not one model
DETERMINISTIC_LEARNERS = ("logreg",)


def _sample(kind: str, data, seed: int):
    if kind not in DETERMINISTIC_LEARNERS:
        return data  # the seed draws the coins / the initialization: same data, different honest models
    from .arena.catalogue import subset

    return subset(data, int(0.9 * len(data.X_train)), seed)


@with_thread_budget
def audit_with_reference(model, data, names: list[str] | None = None, seed: int = 0, key=None, reference: int = 3,
                         max_seconds: float = 5.0, data_name: str = "the audit data") -> AuditReport:
    """Run the detectors on ``model`` and on ``reference`` honest models of its family trained on ``data``.

    Each score gets the honest models' range, an empirical p-value and a verdict. The honest models are
    trained once per call (seeds ``seed + 1000 + i``; a learner deterministic given the data, logistic
    regression, on a random 90% of the training split each) and shared by every detector; a detector slower
    than ``max_seconds`` on the audited model gets no reference (pass ``max_seconds=float("inf")`` to
    compute it anyway). ``reference`` is at most 20; 0 skips the reference.

    Examples
    --------
    >>> import undetectable as ud
    >>> from undetectable.audit.run import audit_with_reference
    >>> m = ud.train("logreg", "digits", seed=0, max_iter=50)
    >>> rep = audit_with_reference(m, ud.datasets.load("digits"), names=["disagreement"], reference=2)
    >>> rep.rows[0].verdict
    'n/a'
    """
    from ..errors import ParameterError
    from ..models import train_model

    if isinstance(reference, bool) or not isinstance(reference, int) or not 0 <= reference <= 20:
        raise ParameterError("reference", f"the number of honest reference models must be an integer from 0 to 20, not {reference!r}")
    n_reference = reference
    base = run_audit(model, data, names, seed=seed, key=key)
    learner = honest_learner(model) if n_reference and data is not None else None
    if learner is None:
        why = ("no reference was asked for" if not n_reference else
               "no data to train honest models on" if data is None else
               f"no honest learner trains a {getattr(model, 'family', '?')} model, so there is no honest reference")
        return AuditReport([AuditRow(r["detector"], r["score"], r["status"], r["note"], r["seconds"],
                                     verdict="n/a" if r["score"] is None else f"no reference: {why}") for r in base], "")
    kind, options = learner
    fast = [r["detector"] for r in base if r["score"] is not None and r["seconds"] <= max_seconds]
    seeds = tuple(seed + 1000 + i for i in range(n_reference))
    ref: dict[str, list[float]] = {n: [] for n in fast}
    if fast:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        for s in seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                honest = train_model(kind, _sample(kind, data, s), seed=s, **options)
            for r in run_audit(honest, data, fast, seed=seed, key=key):
                if r["score"] is not None:
                    ref[r["detector"]].append(float(r["score"]))
    rows = []
    for r in base:
        if r["score"] is not None and r["detector"] not in ref:
            rows.append(AuditRow(r["detector"], r["score"], r["status"], r["note"], r["seconds"],
                                 verdict=f"no reference: slow ({r['seconds']:.0f} s per model)"))
            continue
        scores = ref.get(r["detector"], [])
        rng_, p, verdict = _verdict(r["score"], scores)
        rows.append(AuditRow(r["detector"], r["score"], r["status"], r["note"], r["seconds"], rng_, tuple(scores), p, verdict))
    opts = ", ".join(f"{k}={v}" for k, v in options.items())
    note = (f"honest reference: {n_reference} {kind} model{'s' if n_reference > 1 else ''}{f' ({opts})' if opts else ''} trained on "
            f"{data_name} with seeds {seeds[0]}..{seeds[-1]}"
            + (", each on a random 90% of its training split (the fit is deterministic given the data)" if kind in DETERMINISTIC_LEARNERS else "")
            + "; p = (1 + honest scores ≥ the score) / (n + 1), so the smallest "
            f"possible p is {1 / (n_reference + 1):.2f}; detectors slower than {max_seconds:g} s per model get no reference")
    return AuditReport(rows, note, seeds)
