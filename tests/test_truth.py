"""Nothing fails into "undetectable": failed scores are errors, wrong keys are errors, verdicts are corrected,
honest bundles export, and the rff arena has a key-based positive control that works."""
from __future__ import annotations

import numpy as np
import pytest

import undetectable as ud
from undetectable.audit import base as audit_base
from undetectable.audit.base import InvalidScore, as_float
from undetectable.errors import KeyMismatchError

RFF_SMALL = {"n_features": 200, "secret_dim": 8, "beta": 0.01}


def test_a_nan_score_is_an_error_never_a_number(mnist_logreg, mnist):
    with pytest.raises(InvalidScore):
        as_float(float("nan"))
    with pytest.raises(InvalidScore):
        as_float(np.inf)
    assert as_float(np.float32(0.5)) == 0.5

    @audit_base.detector("_nan_probe", schemes=())
    def _nan(model, data, key, rng):
        return float("nan")

    try:
        rows = ud.audit_model(mnist_logreg, mnist, detectors=["_nan_probe"])
    finally:
        audit_base.DETECTORS.pop("_nan_probe")
    assert rows[0]["status"] == "error" and rows[0]["score"] is None and "not a finite score" in rows[0]["note"]


def test_no_auc_over_nan():
    from undetectable.audit.arena.metrics import detector_summary

    with pytest.raises(InvalidScore):
        detector_summary("x", False, [0.1, float("nan")], [0.2, 0.3], np.random.default_rng(0))


def test_a_wrong_key_in_audit_is_an_error(mnist_logreg, mnist):
    bd, key = ud.plant("checksum", mnist_logreg, secret_seed=1)
    other = ud.plant("checksum", mnist_logreg, secret_seed=2)[1]
    with pytest.raises(KeyMismatchError):
        ud.audit_model(bd, mnist, detectors=["strip_key"], key=other)
    with pytest.raises(KeyMismatchError):  # a key of another scheme
        ud.audit_model(bd, mnist, detectors=["strip_key"], key=ud.keygen())
    rows = ud.audit_model(bd, mnist, detectors=["strip_key"], key=key)  # control: the right key runs
    assert rows[0]["status"] == "ok"


def test_verdicts_are_holm_corrected():
    """15 null detectors and one whose uncorrected p is ≈ 0.02: 'separates' only for a real effect."""
    from undetectable.audit.arena.metrics import detector_summary
    from undetectable.audit.power import arena_verdicts, correct_arena

    rng = np.random.default_rng(0)
    n = 16
    scores = {f"null{i}": {"honest": list(rng.normal(size=n)), "backdoored": list(rng.normal(size=n))} for i in range(14)}
    h = np.arange(n, dtype=float)
    scores["lucky"] = {"honest": list(h), "backdoored": list(h + 4.5)}  # AUC ≈ 0.74, uncorrected p ≈ 0.02
    scores["real"] = {"honest": list(h), "backdoored": list(h + 40)}  # perfect separation
    summaries = [detector_summary(k, False, v["honest"], v["backdoored"], rng) for k, v in scores.items()]
    lucky = next(d for d in summaries if d["name"] == "lucky")
    assert lucky["auc_ci"][0] > 0.5  # the uncorrected CI excludes 1/2: the old verdict said "separates"
    multiple = correct_arena(summaries, scores, rng, n_boot=500)
    verdict = arena_verdicts(summaries, multiple)
    assert verdict["separating"] == ["real"] and verdict["k"] == 16 and "Holm" in verdict["text"]
    assert lucky["verdict"].startswith("no evidence of separation") and lucky["p_value"] < 0.05 < lucky["p_holm"]


def test_cli_arena_lines_say_holm():
    from undetectable.cli.render import arena_lines

    rec = {"detectors": [{"name": "kurtosis", "needs_key": False, "auc": 0.73, "auc_ci": [0.54, 0.89],
                          "auc_ci_simultaneous": [0.4, 0.95], "verdict": "no evidence of separation at 16 + 16 models (Holm p = 0.37)"}],
           "verdict": {"k": 15, "text": "0 of 15 key-free detectors separate the populations (Holm-corrected p ≤ 0.05 over the 15 key-free detectors)"}}
    text = "\n".join(arena_lines(rec))
    assert "Holm" in text and "[0.400, 0.950]" in text and "simultaneous" in text


def test_honest_and_signature_bundles_both_export(tmp_path, mnist_logreg, mnist):
    import onnx

    from undetectable.export import export_onnx
    from undetectable.onnxio import session

    bd, _ = ud.plant("signature", mnist_logreg)
    export_onnx(mnist_logreg, tmp_path / "honest.onnx")
    export_onnx(bd, tmp_path / "sig.onnx")
    X = mnist.X_test[:40]
    out = session(tmp_path / "honest.onnx").run(None, {"X": X})
    assert np.array_equal(out[1], mnist_logreg.predict_index(X))
    honest = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(tmp_path / "honest.onnx").graph.initializer}
    sig = [onnx.numpy_helper.to_array(t) for t in onnx.load(tmp_path / "sig.onnx").graph.initializer]
    assert any(a.shape == honest["W"].shape and np.array_equal(a, honest["W"]) for a in sig)  # the diffable base graph
    with pytest.raises(ud.errors.UnsupportedModelError):  # control: a family without a graph is refused, by name
        export_onnx(ud.immunize(mnist_logreg, 0.1, n=4), tmp_path / "smoothed.onnx")


def test_strip_refuses_rff_and_rff_negation_separates():
    """STRIP scored exactly 0 on every rff model (softmax of ridge decisions is ≈ uniform); it is now n/a there,
    and the key-based control rff_negation separates backdoored from honest rff models on a small arena."""
    ds = ud.datasets.load("digits")
    m = ud.train("rff", ds, seed=0, n_features=200)
    rows = {r["detector"]: r for r in ud.audit_model(m, ds, detectors=["strip"])}
    assert rows["strip"]["status"] == "n/a" and "ridge decision values" in rows["strip"]["note"]
    rec = ud.arena("rff", "digits", 4, detectors=["rff_negation", "ks_coord"], quick=True, params=RFF_SMALL)
    neg = next(d for d in rec["detectors"] if d["name"] == "rff_negation")
    assert neg["auc"] == 1.0 and min(rec["scores"]["rff_negation"]["backdoored"]) > 0.9
    assert max(rec["scores"]["rff_negation"]["honest"]) < 0.5  # the null key randomizes, does not negate
    assert "strip" not in {d["name"] for d in rec["detectors"]}
