"""Noise and perturbation knobs are finite and within a stated range (issue 19 §9's leftover): ``immunize``'s sigma
(at most ``defend.smoothing.sigma_limit``: 10 in [0,1] pixel units for images, 1000 training stds for float features)
and the payload ``bound`` of the signature, checksum and drop-in routes (in (0, ``BOUND_MAX`` = 1]). Out of range:
``ParameterError`` naming the parameter (the CLI: one line naming the flag, exit 2, nothing written); in range: accepted."""
from __future__ import annotations

import numpy as np
import pytest

import undetectable as ud
from undetectable.errors import ParameterError
from undetectable.schemes.base import BOUND_MAX
from undetectable.schemes.checksum import ChecksumScheme
from undetectable.schemes.signature import SignatureScheme, keygen

from conftest import assert_clean_failure

HUGE = (1e308, float("inf"), float("nan"))


@pytest.fixture(scope="module")
def digits_logreg():
    return ud.train("logreg", "digits", seed=0, max_iter=50)


@pytest.fixture(scope="module")
def bc_logreg():
    return ud.train("logreg", "breast-cancer", seed=0, max_iter=500)


@pytest.mark.parametrize("sigma", HUGE)
def test_immunize_refuses_a_sigma_out_of_range(digits_logreg, bc_logreg, sigma):
    for m in (digits_logreg, bc_logreg):
        with pytest.raises(ParameterError) as exc:
            ud.immunize(m, sigma, n=4)
        assert exc.value.param == "sigma" and "--" not in str(exc.value)


def test_sigma_limit_is_stated_and_the_edge_is_accepted(digits_logreg, bc_logreg):
    from undetectable.defend.smoothing import sigma_limit

    assert sigma_limit(digits_logreg.spec)[0] == 10.0
    limit = sigma_limit(bc_logreg.spec)[0]
    assert limit == pytest.approx(1000 * max(bc_logreg.spec.feature_std))
    assert ud.immunize(digits_logreg, 10.0, n=2).sigma == 10.0  # control: in range is accepted
    assert ud.immunize(bc_logreg, limit, n=2).family == "smoothed"
    with pytest.raises(ParameterError, match="at most"):
        ud.immunize(digits_logreg, 10.5, n=2)
    with pytest.raises(ParameterError, match="at most"):
        ud.immunize(bc_logreg, limit * 1.01, n=2)


@pytest.mark.parametrize("cls", [SignatureScheme, ChecksumScheme])
@pytest.mark.parametrize("bound", [*HUGE, 1.5, 0.0, -1e-3])
def test_payload_bound_out_of_range_is_refused(cls, bound):
    with pytest.raises(ParameterError) as exc:
        cls(bound=bound)
    assert exc.value.param == "bound" and "(0, 1]" in str(exc.value)


@pytest.mark.parametrize("cls", [SignatureScheme, ChecksumScheme])
def test_payload_bound_edge_is_accepted(cls, bc_logreg):
    assert cls(bound=BOUND_MAX).params.bound == 1.0
    kw = {"key": keygen(np.random.default_rng(0)).public} if cls is SignatureScheme else {"secret_seed": 0}
    bd, _ = cls(bound=0.5, **kw).plant(bc_logreg)  # control: a bound in range plants
    assert bd.family in ("signature", "checksum")


def test_dropin_bound_out_of_range_is_refused():
    from undetectable.models.onnx_file import OnnxModel
    from undetectable.schemes.dropin import plant_dropin

    with pytest.raises(ParameterError) as exc:
        plant_dropin(OnnxModel.__new__(OnnxModel), keygen(np.random.default_rng(0)).public, bound=1e308)  # refused before reading
    assert exc.value.param == "bound"


def test_cli_refuses_huge_sigma_and_bound(cli, tmp_path, digits_logreg):
    ud.save(digits_logreg, tmp_path / "lr")
    key = keygen(np.random.default_rng(0))
    key.public.save(tmp_path / "k.pub.pem")
    for bad in ("1e308", "inf"):
        out = tmp_path / "imm"
        res = cli("immunize", tmp_path / "lr", "--sigma", bad, "--n", "4", "--out", out)
        assert_clean_failure(res, out, contains="--sigma")
        assert res.code == 2 and "unexpected" not in res.err
        out = tmp_path / "bd"
        res = cli("plant", "signature", "--base", tmp_path / "lr", "--public-key", tmp_path / "k.pub.pem", "--bound", bad, "--out", out)
        assert_clean_failure(res, out, contains="--bound")
        assert res.code == 2 and "unexpected" not in res.err
    res = cli("immunize", tmp_path / "lr", "--sigma", "0.1", "--n", "4", "--out", tmp_path / "ok")  # control
    assert res.code == 0, res.err
