"""Issue 19 §9: no hostile input ends in the catch-all ``error: unexpected X`` line, and every cost knob is bounded.

The catch-all stays for bugs; inputs get a line naming the file (or the flag) and the fix, exit 2. (The
hostile suites' ``cli`` fixture also fails any test whose command prints the catch-all: tests/conftest.py.)
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from hostile_util import checksum_world, one_error_line


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("unexp")
    checksum_world(d, "B", "W", "ck.key")
    from safetensors.numpy import save_file

    save_file({"v": np.zeros(512, np.uint8)}, str(d / "badmeta.key"), metadata={"undetectable_key": "checksum", "meta": "{not json"})
    os.chmod(d / "badmeta.key", 0o600)
    from undetectable.keys import generate_keys

    generate_keys(d / "keys")
    return d


def line_of(res, code, *needles):
    line = one_error_line(res.err)
    assert res.code == code, (res.code, line)
    assert "unexpected" not in line, line
    for n in needles:
        assert n in line, line
    return line


def test_a_negative_seed_names_the_flag(cli, made, tmp_path):
    line_of(cli("train", "--data", "breast-cancer", "--seed", "-1", "--out", tmp_path / "o"), 2, "--seed")


def test_a_key_file_with_broken_metadata_names_the_file(cli, made, tmp_path):
    res = cli("activate", made / "W", "--key", made / "badmeta.key", "--input", made / "X.npy", "--target", "1",
              "--out", tmp_path / "a.npy")
    line_of(res, 2, "badmeta.key", "metadata is not valid JSON", "written when the model was planted")


def test_a_public_key_given_for_activation_says_so(cli, made, tmp_path):
    res = cli("activate", made / "W", "--key", made / "keys/backdoor_key.pub.pem", "--input", made / "X.npy", "--target", "1",
              "--out", tmp_path / "a.npy")
    line_of(res, 2, "is a public key", "backdoor_key.pem")


def test_random_features_are_bounded(cli, tmp_path):
    """On main: 'out of memory' (240 GB of weights asked for), exit 1, naming neither the flag nor the limit."""
    line_of(cli("train", "--data", "breast-cancer", "--model", "rff", "--features", "1000000000", "--out", tmp_path / "o"),
            2, "--features:", "[1, 100000]")
    line_of(cli("plant", "relu", "--data", "breast-cancer", "--features", "1000000000", "--out", tmp_path / "o",
                "--key-out", tmp_path / "k"), 2, "--features:", "[1, 100000]")


@pytest.mark.parametrize("args, flag", [
    (("audit", "replication", "W", "--key", "ck.key", "--steps", "1000000000"), "--steps"),
    (("arena", "--scheme", "checksum", "--data", "breast-cancer", "--models", "2", "--shadows", "1000000000"), "--shadows"),
], ids=["replication-steps", "arena-shadows"])
def test_unbounded_knobs_are_refused_at_once(made, tmp_path, args, flag):
    """A subprocess with a timeout: on main these allocated hundreds of GB or ran for days."""
    args = [str(made / a) if a in ("W", "ck.key") else str(tmp_path / a) if a == "K" else a for a in args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        res = subprocess.run([sys.executable, "-m", "undetectable", *args, "--out", str(tmp_path / "out")] if args[0] != "audit"
                             else [sys.executable, "-m", "undetectable", *args], capture_output=True, text=True, env=env, timeout=150)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{flag} is unbounded: the command ran on for minutes")
    line = one_error_line(res.stderr)
    assert res.returncode == 2, line
    assert line.startswith(f"error: {flag}:") and "outside" in line, line
    assert not (tmp_path / "out").exists()


def test_jobs_is_bounded(cli, tmp_path):
    res = cli("arena", "--scheme", "checksum", "--data", "breast-cancer", "--models", "2", "--jobs", "100000", "--out", tmp_path / "o")
    line_of(res, 2, "--jobs", "1,024")


def test_library_bounds_name_the_parameter():
    """The library raises ParameterError naming the parameter (the CLI adds the flag)."""
    from undetectable.errors import ParameterError
    from undetectable.schemes.relu import ReLUScheme

    with pytest.raises(ParameterError) as err:
        ReLUScheme(n_features=10**9).plant("breast-cancer", seed=0)
    assert err.value.param == "n_features" and "--" not in str(err.value)
