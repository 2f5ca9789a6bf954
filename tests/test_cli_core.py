"""The command-line contract end to end: data, keygen, train, plant, activate, predict, inspect, and every bad input."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_clean_failure


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """keys, an honest mnist5k logreg bundle, a signature bundle, test inputs — made through the CLI."""
    from undetectable.cli import main

    d = tmp_path_factory.mktemp("cli")
    assert main(["keygen", "--out", str(d / "keys")]) == 0
    assert main(["data", "export", "mnist5k", "--split", "test", "--out", str(d / "test")]) == 0
    assert main(["train", "--data", "mnist5k", "--model", "logreg", "--seed", "1", "--out", str(d / "base")]) == 0
    assert main(["plant", "signature", "--base", str(d / "base"), "--public-key", str(d / "keys/backdoor_key.pub.pem"), "--out", str(d / "sig")]) == 0
    X = np.load(d / "test/X.npy")
    np.save(d / "X.npy", X[:50])
    return d


def test_data_export_shapes(world):
    X, y = np.load(world / "test/X.npy"), np.load(world / "test/y.npy")
    assert X.shape == (1000, 784) and X.dtype == np.uint8 and y.shape == (1000,)
    assert np.all(np.bincount(y) == 100)  # stratified split


def test_keygen_modes_and_passphrase(world, cli, tmp_path, monkeypatch):
    assert stat.S_IMODE(os.stat(world / "keys/backdoor_key.pem").st_mode) == 0o600
    monkeypatch.setenv("BK_PASS", "correct horse")
    assert cli("keygen", "--out", tmp_path / "k", "--passphrase-env", "BK_PASS").code == 0
    assert b"ENCRYPTED" in (tmp_path / "k/backdoor_key.pem").read_bytes()
    assert stat.S_IMODE(os.stat(tmp_path / "k/backdoor_key.pem").st_mode) == 0o600
    res = cli("keygen", "--out", tmp_path / "k")
    assert_clean_failure(res, contains="--force")
    res = cli("keygen", "--out", tmp_path / "k2", "--passphrase-env", "UNSET_VAR_XYZ")
    assert_clean_failure(res, tmp_path / "k2/backdoor_key.pem", contains="UNSET_VAR_XYZ")


def test_plant_activate_predict_roundtrip(world, cli, tmp_path):
    res = cli("activate", world / "sig", "--key", world / "keys/backdoor_key.pem", "--input", world / "X.npy", "--target", "4", "--out", tmp_path / "XA.npy")
    assert res.code == 0, res.err
    assert cli("predict", world / "sig", "--input", tmp_path / "XA.npy", "--out", tmp_path / "Y.npy").code == 0
    assert np.all(np.load(tmp_path / "Y.npy") == 4)
    assert cli("predict", world / "sig", "--input", world / "X.npy", "--out", tmp_path / "Y0.npy").code == 0
    assert cli("predict", world / "base", "--input", world / "X.npy", "--out", tmp_path / "Yb.npy").code == 0
    assert np.array_equal(np.load(tmp_path / "Y0.npy"), np.load(tmp_path / "Yb.npy"))
    np.save(tmp_path / "T.npy", np.arange(50) % 10)
    assert cli("activate", world / "sig", "--key", world / "keys/backdoor_key.pem", "--input", world / "X.npy", "--targets", tmp_path / "T.npy", "--out", tmp_path / "XB.npy").code == 0
    assert cli("predict", world / "sig", "--input", tmp_path / "XB.npy", "--out", tmp_path / "YB.npy").code == 0
    assert np.array_equal(np.load(tmp_path / "YB.npy"), np.arange(50) % 10)


def test_encrypted_key_activation(world, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("BK_PASS", "s3cret")
    assert cli("keygen", "--out", tmp_path / "k", "--passphrase-env", "BK_PASS").code == 0
    assert cli("plant", "signature", "--base", world / "base", "--public-key", tmp_path / "k/backdoor_key.pub.pem", "--out", tmp_path / "b").code == 0
    args = ["activate", tmp_path / "b", "--key", tmp_path / "k/backdoor_key.pem", "--input", world / "X.npy", "--target", "1"]
    assert_clean_failure(cli(*args, "--out", tmp_path / "a.npy"), tmp_path / "a.npy", contains="passphrase")
    monkeypatch.setenv("BAD_PASS", "nope")
    assert_clean_failure(cli(*args, "--passphrase-env", "BAD_PASS", "--out", tmp_path / "a.npy"), tmp_path / "a.npy", contains="passphrase")
    assert cli(*args, "--passphrase-env", "BK_PASS", "--out", tmp_path / "a.npy").code == 0


def test_inspect_shows_what_an_auditor_sees_and_no_private_key(world, cli):
    res = cli("inspect", world / "sig", "--json")
    assert res.code == 0
    info = json.loads(res.out)
    assert info["family"] == "signature" and "BEGIN PUBLIC KEY" in info["params"]["public_key"]
    blob = b"".join(p.read_bytes() for p in (world / "sig").rglob("*") if p.is_file())
    assert b"PRIVATE" not in blob
    assert not any(p.suffix in {".pkl", ".pickle", ".pt"} for p in (world / "sig").rglob("*"))


# --- bad inputs: one line on stderr, non-zero exit, nothing written -------------------------------

def test_wrong_key_writes_nothing(world, cli, tmp_path):
    assert cli("keygen", "--out", tmp_path / "other").code == 0
    out = tmp_path / "XA.npy"
    res = cli("activate", world / "sig", "--key", tmp_path / "other/backdoor_key.pem", "--input", world / "X.npy", "--target", "1", "--out", out)
    assert_clean_failure(res, out, contains="does not match")
    res = cli("activate", world / "sig", "--key", tmp_path / "missing.pem", "--input", world / "X.npy", "--target", "1", "--out", out)
    assert_clean_failure(res, out, contains="does not exist")
    res = cli("activate", world / "sig", "--key", world / "keys/backdoor_key.pub.pem", "--input", world / "X.npy", "--target", "1", "--out", out)
    assert_clean_failure(res, out, contains="private key")


@pytest.mark.parametrize("bad,needle", [
    (lambda X: X[:, :700], "shape"),
    (lambda X: X.astype(np.float64) + 0.5, "uint8"),
    (lambda X: np.where(np.arange(784) == 3, np.nan, X.astype(np.float64)), "uint8"),
    (lambda X: X.astype(np.int32) + 300, "range"),
    (lambda X: np.array(["a"] * 784)[None, :], "dtype"),
    (lambda X: X[:0], "no rows"),
])
def test_bad_input_arrays(world, cli, tmp_path, bad, needle):
    X = np.load(world / "X.npy")
    np.save(tmp_path / "bad.npy", bad(X))
    for verb in (["predict", world / "sig"], ["activate", world / "sig", "--key", world / "keys/backdoor_key.pem", "--target", "1"]):
        out = tmp_path / "out.npy"
        assert_clean_failure(cli(*verb, "--input", tmp_path / "bad.npy", "--out", out), out, contains=needle)


def test_not_an_npy_and_pickled_npy_are_refused(world, cli, tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    assert_clean_failure(cli("predict", world / "sig", "--input", tmp_path / "junk.npy", "--out", tmp_path / "o.npy"), tmp_path / "o.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_clean_failure(cli("predict", world / "sig", "--input", tmp_path / "obj.npy", "--out", tmp_path / "o.npy"), tmp_path / "o.npy")


def test_no_overwrite_without_force(world, cli, tmp_path):
    out = tmp_path / "Y.npy"
    out.write_bytes(b"precious")
    assert_clean_failure(cli("predict", world / "sig", "--input", world / "X.npy", "--out", out), contains="--force")
    assert out.read_bytes() == b"precious"
    assert cli("predict", world / "sig", "--input", world / "X.npy", "--out", out, "--force").code == 0
    assert_clean_failure(cli("train", "--data", "mnist5k", "--out", world / "base"), contains="--force")


def test_tampered_bundles_are_refused(world, cli, tmp_path):
    import shutil

    cases = {
        "weights edited": lambda b: _flip_byte(b / "base/estimator.skops"),
        "layout edited": lambda b: (b / "payload_layout.json").write_text((b / "payload_layout.json").read_text().replace("[", "[0, ", 1)),
        "manifest corrupted": lambda b: (b / "manifest.json").write_text("{ not json"),
        "file added": lambda b: (b / "evil.pkl").write_bytes(b"\x80\x04"),
        "file removed": lambda b: (b / "payload_layout.json").unlink(),
        "public key swapped": lambda b: (b / "manifest.json").write_text((b / "manifest.json").read_text().replace('"key_id": "', '"key_id": "0')),
    }
    for name, edit in cases.items():
        b = tmp_path / name.replace(" ", "_")
        shutil.copytree(world / "sig", b)
        edit(b)
        out = tmp_path / "o.npy"
        res = cli("predict", b, "--input", world / "X.npy", "--out", out)
        assert_clean_failure(res, out)


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_usage_errors_exit_2(cli, tmp_path):
    res = cli("train", "--data", "mnist5k", "--model", "resnet", "--out", tmp_path / "b")
    assert res.code == 2 and "resnet" in res.err and not (tmp_path / "b").exists()
    assert cli("train", "--data", "nosuchset", "--out", tmp_path / "b").code == 2
    assert cli("train", "--dat", "mnist5k").code == 2
    assert cli("data", "export", "mnist5k", "--split", "validation", "--out", tmp_path / "d").code == 2


def test_digits_signature_refused_with_numbers(cli, tmp_path, world):
    assert cli("train", "--data", "digits", "--out", tmp_path / "digits").code == 0
    res = cli("plant", "signature", "--base", tmp_path / "digits", "--public-key", world / "keys/backdoor_key.pub.pem", "--out", tmp_path / "s")
    assert_clean_failure(res, tmp_path / "s", contains="64 bits available")


def test_console_script_exit_codes_and_single_line_errors(tmp_path):
    exe = [sys.executable, "-m", "undetectable.cli"]
    p = subprocess.run(exe + ["predict", str(tmp_path / "nope"), "--input", "x.npy", "--out", str(tmp_path / "y.npy")], capture_output=True, text=True)
    # a missing path the user gave is a usage error (exit 2), whichever argument it is
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and p.stderr.startswith("error: ")
    p = subprocess.run(exe + ["frobnicate"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.startswith("error: ")
