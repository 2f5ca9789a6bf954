"""audit with an honest reference: each score beside the range of honest shadow models of the same family and
data, an empirical p-value and a verdict; notes shown once."""
from __future__ import annotations

import json

import pytest

from undetectable.audit.run import _verdict, audit_with_reference, honest_learner


@pytest.fixture(scope="module")
def digits():
    from undetectable import datasets

    return datasets.load("digits")


@pytest.fixture(scope="module")
def rff(digits):
    import undetectable as ud

    return ud.train("rff", digits, seed=0, n_features=200)


def test_verdict_rule():
    ref = [1.0, 2.0, 3.0]
    assert _verdict(3.5, ref) == ((1.0, 3.0), 0.25, "above honest range, not significant (p = 0.25 with 3 honest models)")
    assert _verdict(30.0, list(range(20)))[2] == "above honest range (p = 0.048)"
    assert _verdict(2.0, ref)[1:] == (0.75, "within honest range")
    assert _verdict(0.5, ref)[2] == "below honest range"
    assert _verdict(None, ref)[2] == "n/a"
    assert _verdict(1.0, [1.0])[2].startswith("no reference")


def test_reference_from_honest_models_of_the_same_family(rff, digits):
    assert honest_learner(rff) == ("rff", {"n_features": 200})
    rep = audit_with_reference(rff, digits, ["ks_coord", "kurtosis", "spectral"], seed=0, reference=3, data_name="digits")
    rows = {r.detector: r for r in rep.rows}
    for name in ("ks_coord", "kurtosis"):
        r = rows[name]
        assert r.reference is not None and len(r.reference_scores) == 3 and 0.25 <= r.p_value <= 1
        assert r.reference == (min(r.reference_scores), max(r.reference_scores))
        assert r.verdict.startswith(("within honest range", "above honest range", "below honest range"))
    assert rows["spectral"].verdict == "n/a" and rows["spectral"].reference is None
    assert "3 rff models (n_features=200) trained on digits with seeds 1000..1002" in rep.reference_note


def test_the_honest_twin_is_within_range(digits):
    """The control: a model whose random weights the reference holds (seed 1000 = the first shadow's coins) is within
    range for the weight statistics, p ≥ 1/2."""
    import undetectable as ud

    twin = ud.train("rff", digits, seed=1000, n_features=200)
    rep = audit_with_reference(twin, digits, ["ks_coord", "ad_coord"], seed=0, reference=3)
    for r in rep.rows:
        assert r.score in r.reference_scores and r.verdict == "within honest range" and r.p_value >= 0.5


def test_a_wrapper_is_compared_with_its_base_family(tmp_path):
    from types import SimpleNamespace

    base = SimpleNamespace(family="relu", weights_=__import__("numpy").zeros((7, 3)))
    wrapper = SimpleNamespace(family="signature", base=base, triggered=lambda X: None)
    assert honest_learner(wrapper) == ("relu", {"n_features": 7})
    assert honest_learner(SimpleNamespace(family="onnx")) is None


@pytest.mark.parametrize("bad", [-1, 21, True, 2.5])
def test_bad_reference_size_is_a_parameter_error(rff, digits, bad):
    from undetectable.errors import ParameterError

    with pytest.raises(ParameterError, match="from 0 to 20") as exc:
        audit_with_reference(rff, digits, ["ks_coord"], reference=bad)
    assert exc.value.param == "reference"


def test_cli_bad_reference_is_one_line(cli, rff, tmp_path):
    from conftest import assert_clean_failure

    from undetectable.bundle import save_bundle

    save_bundle(rff, tmp_path / "m")
    assert_clean_failure(cli("audit", tmp_path / "m", "--data", "digits", "--reference", "21"), contains="--reference")


def test_cli_shows_reference_verdict_and_each_note_once(cli, rff, tmp_path):
    from undetectable.bundle import save_bundle

    save_bundle(rff, tmp_path / "m")
    r = cli("audit", tmp_path / "m", "--data", "digits", "--detectors", "ks_coord,spectral,activation_clustering",
            "--reference", "2")
    assert r.code == 0, r.err
    out = " ".join(r.out.split())
    assert "honest range" in out and "honest reference: 2 rff models" in out
    # spectral and activation_clustering share one note: printed once
    assert out.count("needs a model with a hidden layer") == 1, r.out
    j = cli("audit", tmp_path / "m", "--data", "digits", "--detectors", "ks_coord", "--reference", "2", "--json")
    row = json.loads(j.out)["detectors"][0]
    assert len(row["reference_scores"]) == 2 and row["verdict"] and "reference" in json.loads(j.out)
    none = cli("audit", tmp_path / "m", "--data", "digits", "--detectors", "ks_coord", "--reference", "0", "--json")
    assert json.loads(none.out)["detectors"][0]["verdict"].startswith("no reference")


def test_no_data_or_no_learner_means_no_reference_said_so(rff):
    from types import SimpleNamespace

    rep = audit_with_reference(rff, None, ["integer-subgraph"], reference=3)
    assert all(r.reference is None for r in rep.rows) and rep.reference_note == ""
    assert honest_learner(SimpleNamespace(family="onnx")) is None
