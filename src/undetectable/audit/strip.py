"""STRIP (Gao, Xu, Wang, Chen, Ranasinghe, Nepal; ACSAC 2019): input filtering by superimposition.

Superimpose an input x with N clean inputs x_j (pixel images: the rounded average
(x + x_j)/2, as the paper's equal-weight blend; float features: the average) and query the model
on each blend. A clean x's blends are predicted all over the place (high entropy of the
predicted distribution); an input carrying a strong trigger keeps being sent to the target class
(low entropy). The per-input statistic is the mean Shannon entropy (nats) of softmax(scores)
over the N blends; low = suspicious.

* ``strip_entropy(model, X, X_clean, rng)``: the per-input entropies.
* ``tpr_and_threshold_at_fpr(clean_entropy, suspect_entropy, fpr=0.05)``: the detection rate of triggered inputs
  at the threshold that flags 5% of clean inputs.
* Overlays are drawn from the training split of ``--data``.
* The registered model score ("strip") is the fraction of a probe set (clean test inputs) whose
  entropy falls below a fixed fraction of the maximal entropy log C. Without a trigger in the probe
  set this is weak by design: STRIP filters *inputs*; it is not a model detector. With the key
  ("strip_key", a positive-control oracle) the probe is activated inputs and the score is the
  TPR at 5% FPR.

Not for rff / relu bundles (both detectors raise ``NotApplicable`` there). Measured on digits: their scores are
ridge decision values in about [−1.6, 1.5], so softmax is nearly uniform and every blend's entropy is ≥ 2.09
of log 10 = 2.30, far above 0.2·log C: "strip" scored exactly 0 on every model, honest or not (AUC ½ by
construction: a detector that fails into "undetectable"). And the rff key is additive: a blend
(x + σ·bk + x_j)/2 carries half the key, a phase shift of π/2 instead of π, so the trigger does not survive
superimposition (activated inputs' entropy, 2.25, is *higher* than clean inputs', 2.17: "strip_key" TPR 0).
The rff positive control that holds the key is ``rff_negation`` (and ``rff_frac``) in ``key_oracles``.
"""
from __future__ import annotations

import numpy as np

from .base import CAPABILITIES, NotApplicable, detector

LOW_ENTROPY_FRACTION = 0.2


def _softmax_entropy(S: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    P = softmax(S, axis=1)
    return -(P * np.log(np.clip(P, 1e-12, None))).sum(axis=1)


def blend(X: np.ndarray, X_other: np.ndarray, is_image: bool) -> np.ndarray:
    """The equal-weight superimposition of rows of ``X`` with rows of ``X_other`` (same shape)."""
    avg = (X.astype(np.float64) + X_other.astype(np.float64)) / 2.0
    return np.rint(avg).astype(X.dtype) if is_image else avg


def strip_entropy(model, X: np.ndarray, X_clean: np.ndarray, rng: np.random.Generator, n_overlay: int = 32,
                  chunk: int = 256) -> np.ndarray:
    """Mean entropy of the model's prediction over ``n_overlay`` superimpositions of each row of ``X``."""
    X = model.spec.validate(X)
    Xc = model.spec.validate(X_clean, "clean inputs")
    out = np.empty(len(X))
    has_scores = CAPABILITIES["scores"](model)
    for i in range(0, len(X), chunk):
        xb = X[i : i + chunk]
        others = Xc[rng.integers(0, len(Xc), size=(len(xb), n_overlay))]  # (b, N, D)
        B = blend(np.repeat(xb, n_overlay, axis=0), others.reshape(-1, Xc.shape[1]), model.spec.is_image)
        if not has_scores:  # label-only model: entropy of the empirical label distribution
            lab = model.predict_index(B).reshape(len(xb), n_overlay)
            counts = np.stack([(lab == c).sum(axis=1) for c in range(model.n_classes)], axis=1) / n_overlay
            out[i : i + chunk] = -(counts * np.log(np.clip(counts, 1e-12, None))).sum(axis=1)
            continue
        S = np.asarray(model.scores(B), dtype=np.float64)
        out[i : i + chunk] = _softmax_entropy(S).reshape(len(xb), n_overlay).mean(axis=1)
    return out


def tpr_and_threshold_at_fpr(clean: np.ndarray, suspect: np.ndarray, fpr: float = 0.05) -> tuple[float, float]:
    """(TPR, threshold): flag entropy ≤ threshold, the ``fpr``-quantile of the clean entropies."""
    thr = float(np.quantile(np.asarray(clean), fpr))
    return float(np.mean(np.asarray(suspect) <= thr)), thr


def roc_auc(clean: np.ndarray, suspect: np.ndarray) -> float:
    """AUC of 'lower entropy = triggered' (Mann–Whitney)."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(clean, suspect, alternative="two-sided").statistic / (len(clean) * len(suspect)))


def activate_probe(model, key, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Activated versions of ``X`` with the scheme's ``Key`` (random targets ≠ the prediction where it takes one)."""
    if key is None or not hasattr(key, "activate"):
        raise NotApplicable("strip_key needs the backdoor key (a schemes Key)")
    if key.takes_target:
        pred = model.predict_index(model.spec.validate(X))
        t = (pred + 1 + rng.integers(0, model.n_classes - 1, size=len(X))) % model.n_classes
        return key.probe(model, X, model.classes[t])
    return key.probe(model, X)


def _check_applies(model, name: str) -> None:
    if CAPABILITIES["weights"](model):
        raise NotApplicable(f"{name} reads softmax entropies, and this {getattr(model, 'family', 'random-feature')} model's scores are "
                            "ridge decision values (softmax ≈ uniform for every input: it would score 0 on every model); "
                            "with the key, use rff_negation / rff_frac (rff) or relu_quad (relu)")


@detector("strip", schemes=("badnets", "signature", "checksum"))
def score(model, data, key, rng) -> float:
    """STRIP: fraction of clean probe inputs whose superimposition entropy is below 0.2·log C."""
    _check_applies(model, "STRIP")
    if data is None:
        raise NotApplicable("STRIP needs clean inputs; pass data (a Dataset or a bundled dataset's name)")
    probe = data.X_test[rng.permutation(len(data.X_test))[:200]]
    H = strip_entropy(model, probe, data.X_train, rng)
    return float(np.mean(H < LOW_ENTROPY_FRACTION * np.log(model.n_classes)))


@detector("strip_key", needs_key=True, schemes=("badnets", "signature", "checksum"))
def score_with_key(model, data, key, rng) -> float:
    """STRIP with the key (oracle): TPR at 5% FPR on activated vs clean inputs."""
    _check_applies(model, "strip_key")
    if data is None or key is None:
        raise NotApplicable("strip_key needs clean inputs (data) and the backdoor key")
    perm = rng.permutation(len(data.X_test))
    half = min(200, len(perm) // 2)
    clean, trig, overlay = data.X_test[perm[:half]], data.X_test[perm[half : 2 * half]], data.X_train
    Xa = activate_probe(model, key, trig, rng)
    return tpr_and_threshold_at_fpr(strip_entropy(model, clean, overlay, rng), strip_entropy(model, Xa, overlay, rng))[0]
