"""Hostile or careless inputs: arrays, datasets, knobs and key files. One stderr line, exit 1 or 2, nothing written."""
from __future__ import annotations

import os

import numpy as np
import pytest

from hostile_util import npy_bytes, one_error_line


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A breast-cancer logreg bundle, a 40-feature backdoored rff bundle with its key, and good inputs."""
    from undetectable.schemes.rff import RFFScheme
    from undetectable.bundle import save_bundle
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    d = tmp_path_factory.mktemp("inputs")
    ds = load_dataset("breast-cancer")
    save_bundle(train_model("logreg", ds, seed=0), d / "lr")
    m, key = RFFScheme(n_features=40, secret_dim=8, beta=0.01, shift="half").plant(ds, seed=0)
    save_bundle(m, d / "rff")
    key.save(d / "rff.key")
    np.save(d / "X.npy", ds.X_test[:5])
    return d


def fails(cli, tmp_path, *args, needle: str, code: int = 2) -> str:
    before = sorted(p.name for p in tmp_path.iterdir())
    res = cli(*args)
    line = one_error_line(res.err)
    assert res.code == code, (res.code, line)
    assert needle.lower() in line.lower(), line
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "something was written"
    return line


def predict(made, tmp_path, name: str):
    return ("predict", made / "lr", "--input", tmp_path / name, "--out", tmp_path / "Y.npy")


# --- arrays ---------------------------------------------------------------------------------------

def test_huge_declared_npy_shape_is_refused_from_the_header(cli, made, tmp_path):
    (tmp_path / "huge.npy").write_bytes(npy_bytes((10**6, 10**6)))  # 8 TB declared, 128 bytes on disk
    line = fails(cli, tmp_path, *predict(made, tmp_path, "huge.npy"), needle="over the limit")
    assert "UNDETECTABLE_MAX_ARRAY_BYTES" in line


def test_truncated_npy_is_refused_from_the_header(cli, made, tmp_path):
    (tmp_path / "short.npy").write_bytes(npy_bytes((1000, 30), payload=b"\0" * 80))
    fails(cli, tmp_path, *predict(made, tmp_path, "short.npy"), needle="truncated")


def test_object_array_is_refused(cli, made, tmp_path):
    np.save(tmp_path / "obj.npy", np.array([[{"a": 1}] * 30], dtype=object), allow_pickle=True)
    fails(cli, tmp_path, *predict(made, tmp_path, "obj.npy"), needle="python objects")


def test_archive_is_refused(cli, made, tmp_path):
    np.savez(tmp_path / "X.npz", X=np.zeros((2, 30)))
    os.rename(tmp_path / "X.npz", tmp_path / "arch.npy")
    fails(cli, tmp_path, *predict(made, tmp_path, "arch.npy"), needle="archive")


@pytest.mark.parametrize("value", [1.7e308, -1e300, 1e31])
def test_extreme_floats_are_refused(cli, made, tmp_path, value):
    X = np.load(made / "X.npy")
    X[0, 3] = value
    np.save(tmp_path / "big.npy", X)
    for bundle in ("lr", "rff"):
        fails(cli, tmp_path, "predict", made / bundle, "--input", tmp_path / "big.npy", "--out", tmp_path / "Y.npy", needle="rescale")


@pytest.mark.parametrize("make", [
    lambda X: X.astype(np.complex128),
    lambda X: X > 0,
    lambda X: X.astype("datetime64[s]"),
    lambda X: X.astype(str),
], ids=["complex", "bool", "datetime", "str"])
def test_unsupported_dtypes_are_refused(cli, made, tmp_path, make):
    np.save(tmp_path / "odd.npy", make(np.load(made / "X.npy")))
    fails(cli, tmp_path, *predict(made, tmp_path, "odd.npy"), needle="dtype")


# --- datasets (.npz) ------------------------------------------------------------------------------

def _npz(tmp_path, name="d.npz", **over):
    from undetectable.data import load_dataset

    ds = load_dataset("breast-cancer")
    arrays = {"X_train": ds.X_train, "y_train": ds.y_train, "X_test": ds.X_test, "y_test": ds.y_test} | over
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


def test_single_class_training_data(cli, tmp_path):
    from undetectable.data import load_dataset

    p = _npz(tmp_path, y_train=np.zeros(len(load_dataset("breast-cancer").y_train), dtype=np.int64))
    fails(cli, tmp_path, "train", "--data", p, "--out", tmp_path / "b", needle="at least 2 classes")


def test_two_dimensional_labels(cli, tmp_path):
    from undetectable.data import load_dataset

    y = load_dataset("breast-cancer").y_train
    p = _npz(tmp_path, y_train=np.stack([y, y], axis=1))
    fails(cli, tmp_path, "train", "--data", p, "--out", tmp_path / "b", needle="1-D")


def test_extreme_training_features(cli, tmp_path):
    from undetectable.data import load_dataset

    X = load_dataset("breast-cancer").X_train.copy()
    X[0, 0] = 1e308
    p = _npz(tmp_path, X_train=X)
    fails(cli, tmp_path, "train", "--data", p, "--out", tmp_path / "b", needle="rescale")


def test_npz_member_declaring_a_huge_array(cli, tmp_path):
    import zipfile

    p = tmp_path / "bomb.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("X_train", "y_train", "X_test", "y_test"):
            zf.writestr(f"{name}.npy", npy_bytes((1 << 28, 30)) + b"\0" * 64)
    fails(cli, tmp_path, "train", "--data", p, "--out", tmp_path / "b", needle="over the limit")


# --- the user's own knobs -------------------------------------------------------------------------

def test_immunize_absurd_n(cli, made, tmp_path):
    line = fails(cli, tmp_path, "immunize", made / "lr", "--sigma", "0.1", "--n", "1000000000", "--out", tmp_path / "s",
                 needle="over the limit of 100,000")
    assert "1,000,000,000" in line


def test_arena_absurd_models(cli, tmp_path):
    fails(cli, tmp_path, "arena", "--scheme", "rff", "--data", "breast-cancer", "--models", "100000", "--out", tmp_path / "a",
          needle="over the limit of 1,000")


def test_disagreement_absurd_queries(made):
    from undetectable.bundle import load_bundle
    from undetectable.audit.disagreement import disagreement_search
    from undetectable.errors import UsageError

    m = load_bundle(made / "lr")
    with pytest.raises(UsageError, match="over the limit"):
        disagreement_search(m, m, np.load(made / "X.npy"), np.random.default_rng(0), n_random=10**12)


# --- key files ------------------------------------------------------------------------------------

def test_private_key_readable_by_others_is_refused(cli, made, tmp_path):
    import shutil

    from undetectable.keys import load_secret

    key = tmp_path / "rff.key"
    shutil.copy(made / "rff.key", key)
    key.chmod(0o644)
    args = ("activate", made / "rff", "--key", key, "--input", made / "X.npy", "--out", tmp_path / "XA.npy")
    line = fails(cli, tmp_path, *args, needle="chmod 600")
    assert "--insecure-key-permissions" in line and "0644" in line
    with pytest.raises(Exception, match="chmod 600"):
        load_secret(key)
    load_secret(key, insecure_permissions=True)
    res = cli(*args, "--insecure-key-permissions")
    assert res.code == 0, res.err
    key.chmod(0o600)
    assert cli(*args[:-1], tmp_path / "XB.npy").code == 0


def test_pem_key_readable_by_group_is_refused(tmp_path):
    from undetectable.errors import UsageError
    from undetectable.keys import generate_keys, load_private_key

    priv, _ = generate_keys(tmp_path / "k")
    assert (priv.stat().st_mode & 0o777) == 0o600
    priv.chmod(0o640)
    with pytest.raises(UsageError, match="mode 0640"):
        load_private_key(priv)
    load_private_key(priv, insecure_permissions=True)


# --- the top-level guard --------------------------------------------------------------------------

@pytest.mark.catch_all
def test_unexpected_exception_is_one_line_with_debug_hint(cli, made, tmp_path, monkeypatch):
    import undetectable.bundle as bundle

    def boom(*a, **k):
        raise ZeroDivisionError("something we did not foresee")

    monkeypatch.setattr(bundle, "load_bundle", boom)
    np.save(tmp_path / "none.npy", np.zeros((1, 4), np.uint8))  # inputs are checked before the model is loaded
    line = fails(cli, tmp_path, *predict(made, tmp_path, "none.npy"), needle="re-run with --debug", code=1)
    assert "ZeroDivisionError" in line
    with pytest.raises(ZeroDivisionError):
        cli(*predict(made, tmp_path, "none.npy"), "--debug")


def test_memory_error_is_one_line(cli, made, tmp_path, monkeypatch):
    import undetectable.bundle as bundle

    def oom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(bundle, "load_bundle", oom)
    np.save(tmp_path / "none.npy", np.zeros((1, 4), np.uint8))  # inputs are checked before the model is loaded
    fails(cli, tmp_path, *predict(made, tmp_path, "none.npy"), needle="out of memory", code=1)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupt_is_one_line_and_exit_130(cli, made, tmp_path, monkeypatch, how):
    """Ctrl-C (and SIGTERM, which the CLI turns into the same) exit 130 with one line; typer used to make it exit 0."""
    import signal
    import threading

    import undetectable.bundle as bundle

    if how == "sigterm" and threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")

    def interrupted(*a, **k):
        if how == "sigterm":
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "the CLI installed no SIGTERM handler"
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle, "load_bundle", interrupted)
    np.save(tmp_path / "none.npy", np.zeros((1, 4), np.uint8))  # inputs are checked before the model is loaded
    fails(cli, tmp_path, *predict(made, tmp_path, "none.npy"), needle="interrupted", code=130)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or how == "ctrl-c"
