"""CLI polish: help that reads well, --version, python -m, JSON on failure, n/a with reasons, seeds that say
what they fix, capacity checked at plant time."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from undetectable.cli.polish import DETECTORS


def test_help_renders_flags_and_arguments(cli):
    res = cli("predict", "--help")
    assert res.code == 0
    text = res.out + res.err
    assert "<bool>" not in text and "{bundle}" not in text
    assert re.search(r"Usage: .* predict \[OPTIONS\] BUNDLE", text), text
    assert re.search(r"--force\s+Replace", text), text


def test_version_and_python_m(cli):
    from undetectable import __version__

    res = cli("--version")
    assert res.code == 0 and res.out.strip() == f"undetectable {__version__}"
    run = subprocess.run([sys.executable, "-m", "undetectable", "--version"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == f"undetectable {__version__}", run.stderr


def test_detector_names_are_the_registry_and_in_help(cli):
    from undetectable.audit import base

    base._import_all()
    assert sorted(base.DETECTORS) == sorted(DETECTORS)
    text = _help(cli, "arena")
    assert "neural_cleanse" in text and "spca_covthresh" in text


def _help(cli, *cmd) -> str:
    return " ".join(cli(*cmd, "--help").out.replace("│", " ").split())


def test_seed_help_says_what_it_fixes(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    assert "OS entropy unless --secret-seed is given" in _help(cli, "plant", "rff")
    assert "Same seed, same bundle" in _help(cli, "train")


def test_json_on_failure(cli, tmp_path):
    res = cli("inspect", tmp_path / "missing", "--json")
    assert res.code != 0 and len(res.err_lines) == 1 and res.err_lines[0].startswith("error: ")
    doc = json.loads(res.out)
    assert doc["ok"] is False and doc["exit_code"] == res.code and doc["error"] == res.err_lines[0][len("error: "):]


@pytest.fixture(scope="module")
def rff_bundles(tmp_path_factory):
    from undetectable.cli import main

    d = tmp_path_factory.mktemp("rffpol")
    for argv in (["train", "--data", "digits", "--model", "rff", "--features", "60", "--seed", "0", "--out", str(d / "h")],
                 ["plant", "rff", "--data", "digits", "--features", "60", "--secret-dim", "8", "--seed", "0", "--secret-seed", "5",
                  "--out", str(d / "b1"), "--key-out", str(d / "k1")],
                 ["plant", "rff", "--data", "digits", "--features", "60", "--secret-dim", "8", "--seed", "0", "--secret-seed", "5",
                  "--out", str(d / "b2"), "--key-out", str(d / "k2")]):
        assert main(argv) == 0, argv
    return d


def test_verify_coins_json_on_mismatch(cli, rff_bundles):
    ok = cli("verify-coins", rff_bundles / "h", "--seed", "0", "--json")
    assert ok.code == 0 and json.loads(ok.out)["ok"] is True
    bad = cli("verify-coins", rff_bundles / "b1", "--seed", "0", "--json")
    assert bad.code == 1 and len(bad.err_lines) == 1
    doc = json.loads(bad.out)  # one JSON object: the full result, not a second error object
    assert doc["ok"] is False and doc["rows_differ"] > 0


def test_secret_seed_makes_plant_reproducible(rff_bundles):
    from undetectable.bundle import load_bundle

    a, b = load_bundle(rff_bundles / "b1"), load_bundle(rff_bundles / "b2")
    assert np.array_equal(a.weights_, b.weights_)
    from safetensors.numpy import load_file

    k1, k2 = load_file(str(rff_bundles / "k1")), load_file(str(rff_bundles / "k2"))
    assert k1.keys() == k2.keys() and all(np.array_equal(k1[n], k2[n]) for n in k1)


def test_arena_na_carries_its_reason():
    from undetectable.cli.render import arena_lines

    rec = {"detectors": [{"name": "spectral", "needs_key": False, "auc": None, "auc_ci": None,
                          "errors": ["needs hidden activations; rff models have none"]}]}
    assert arena_lines(rec) == ["spectral               AUC n/a (needs hidden activations; rff models have none)"]


def test_plant_signature_checks_capacity(cli, tmp_path):
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    np.savez(tmp_path / "wine.npz", X_train=X[:140], y_train=y[:140], X_test=X[140:], y_test=y[140:])
    wine = str(tmp_path / "wine.npz")
    assert cli("train", "--data", wine, "--model", "logreg", "--out", tmp_path / "h").code == 0
    assert cli("keygen", "--out", tmp_path / "k").code == 0
    args = ["plant", "signature", "--base", tmp_path / "h", "--public-key", tmp_path / "k" / "backdoor_key.pub.pem", "--data", wine]
    res = cli(*args, "--out", tmp_path / "b")
    assert res.code == 1 and "smallest --bound that fits is" in res.err and not (tmp_path / "b").exists()
    fit = re.search(r"fits is ([0-9.e-]+)", res.err).group(1)
    assert cli(*args, "--bound", fit, "--out", tmp_path / "b").code == 0
    np.save(tmp_path / "X.npy", X[140:150])
    act = cli("activate", tmp_path / "b", "--key", tmp_path / "k" / "backdoor_key.pem", "--input", tmp_path / "X.npy",
              "--target", "1", "--out", tmp_path / "XA.npy")
    assert act.code == 0, act.err


def test_quiet_anywhere_on_the_line(cli, tmp_path, monkeypatch):
    from undetectable import progress

    monkeypatch.delenv("UNDETECTABLE_QUIET", raising=False)
    monkeypatch.setenv("UNDETECTABLE_PROGRESS", "plain")
    try:
        assert progress.mode() == "plain"
        assert cli("keygen", "--out", tmp_path / "k", "--quiet").code == 0
        assert progress.mode() == "quiet"
        progress.set_quiet(False)
        assert cli("--quiet", "keygen", "--out", tmp_path / "k2").code == 0 and progress.mode() == "quiet"
    finally:
        progress.set_quiet(False)
