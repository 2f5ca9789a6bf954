"""The first-hour snags of a new user: a missing path is a usage error (exit 2) whichever argument it is,
inputs are checked before outputs, and a public key given where the private key goes is called one."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_clean_failure
from undetectable.errors import BundleError, UsageError


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny honest bundle, an input array and a key pair (written by the CLI itself)."""
    from undetectable.cli import main

    d = tmp_path_factory.mktemp("first_hour")
    assert main(["train", "--data", "synthetic", "--model", "logreg", "--seed", "0", "--out", str(d / "honest")]) == 0
    assert main(["keygen", "--out", str(d / "keys")]) == 0
    np.save(d / "X.npy", np.zeros((3, 784)))
    return d


def test_missing_bundle_and_missing_input_are_both_usage_errors(small, cli, tmp_path):
    out = tmp_path / "Y.npy"
    res = cli("predict", small / "nope", "--input", small / "X.npy", "--out", out)
    assert_clean_failure(res, out, contains="does not exist")
    assert res.code == 2
    res = cli("predict", small / "honest", "--input", small / "nope.npy", "--out", out)
    assert_clean_failure(res, out, contains="does not exist")
    assert res.code == 2
    # control: the same command with both paths present succeeds
    assert cli("predict", small / "honest", "--input", small / "X.npy", "--out", out).code == 0


def test_library_missing_bundle_is_a_usage_error(tmp_path):
    from undetectable.bundle import load_bundle

    with pytest.raises(UsageError, match="does not exist"):
        load_bundle(tmp_path / "nope")


def test_missing_base_inside_a_bundle_is_a_damaged_bundle(tmp_path):
    from undetectable.bundle import _DEPTH, read_manifest

    token = _DEPTH.set(2)  # as when a wrapper loads its base/
    try:
        with pytest.raises(BundleError) as exc:
            read_manifest(tmp_path / "base")
        assert not isinstance(exc.value, UsageError)
    finally:
        _DEPTH.reset(token)


def test_missing_input_reported_before_existing_output(small, cli, tmp_path):
    out = tmp_path / "Y.npy"
    out.write_bytes(b"keep me")
    res = cli("predict", small / "honest", "--input", small / "nope.npy", "--out", out)
    assert res.code == 2 and "nope.npy" in res.err and "already exists" not in res.err, res.err
    assert out.read_bytes() == b"keep me"
    # control: with the input present, the existing output is what is reported
    res = cli("predict", small / "honest", "--input", small / "X.npy", "--out", out)
    assert res.code == 2 and "already exists" in res.err, res.err


def test_public_key_given_as_private_key_is_named(small):
    from undetectable.keys import load_private_key

    pub = small / "keys" / "backdoor_key.pub.pem"
    pub.chmod(0o644)
    with pytest.raises(UsageError) as exc:
        load_private_key(pub)
    assert "public key" in str(exc.value) and "chmod" not in str(exc.value)
    assert load_private_key(small / "keys" / "backdoor_key.pem") is not None  # control: the private key loads
