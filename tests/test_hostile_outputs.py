"""Careless users and interrupted runs: writing never destroys what this tool does not own.

Each refusal: exit 2, exactly one stderr line naming the path, the file system unchanged. Replacing a
bundle is atomic for readers: a kill -9 in the middle leaves the old bundle intact plus a clearly named
temporary that the next run removes; SIGTERM / SIGINT remove the temporary themselves.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hostile_util import one_error_line, snapshot

TRAIN = ("train", "--data", "breast-cancer", "--model", "logreg")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A bundle, a key pair and inputs, written once through the library."""
    from undetectable.bundle import save_bundle
    from undetectable.data import load_dataset
    from undetectable.keys import generate_keys
    from undetectable.models import train_model

    d = tmp_path_factory.mktemp("made")
    ds = load_dataset("breast-cancer")
    save_bundle(train_model("logreg", ds, seed=0), d / "bundle")
    generate_keys(d / "keys")
    np.save(d / "X.npy", ds.X_test[:5])
    return d


def refused(cli, tmp_path, *args, needle: str, code: int = 2, root: Path | None = None) -> str:
    root = root or tmp_path
    before = snapshot(root)
    res = cli(*args)
    line = one_error_line(res.err)
    assert res.code == code, (res.code, line)
    assert needle.lower() in line.lower(), line
    assert snapshot(root) == before, "the file system changed"
    return line


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".undetectable-" in p.name)


def test_force_over_a_key_folder_is_refused(cli, made, tmp_path):
    shutil.copytree(made / "keys", tmp_path / "keys")
    refused(cli, tmp_path, *TRAIN, "--out", tmp_path / "keys", "--force", needle="not a bundle")
    assert (tmp_path / "keys/backdoor_key.pem").is_file()


def test_force_over_a_bundle_holding_a_key_is_refused(cli, made, tmp_path):
    shutil.copytree(made / "bundle", tmp_path / "b")
    shutil.copy(made / "keys/backdoor_key.pem", tmp_path / "b/backdoor_key.pem")
    refused(cli, tmp_path, *TRAIN, "--out", tmp_path / "b", "--force", needle="key file backdoor_key.pem")


def test_force_over_a_bundle_holding_a_foreign_file_is_refused(cli, made, tmp_path):
    shutil.copytree(made / "bundle", tmp_path / "b")
    (tmp_path / "b/notes.txt").write_text("mine")
    refused(cli, tmp_path, *TRAIN, "--out", tmp_path / "b", "--force", needle="notes.txt, which is not part of the bundle")


def test_force_over_a_plain_directory_is_refused(cli, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d/precious.txt").write_text("x")
    line = refused(cli, tmp_path, *TRAIN, "--out", tmp_path / "d", "--force", needle="not a bundle")
    assert str(tmp_path / "d") in line
    # and the same, specific message without --force
    refused(cli, tmp_path, *TRAIN, "--out", tmp_path / "d", needle="not a bundle")


def test_out_dot_and_parents_of_cwd_are_refused(cli, made, tmp_path, monkeypatch):
    shutil.copytree(made / "bundle", tmp_path / "b")  # even a real bundle, when it is the cwd
    monkeypatch.chdir(tmp_path / "b")
    refused(cli, tmp_path, *TRAIN, "--out", ".", "--force", needle="current directory")
    refused(cli, tmp_path, *TRAIN, "--out", "..", "--force", needle="current directory")


def test_output_holding_an_input_is_refused(cli, made, tmp_path):
    shutil.copytree(made / "bundle", tmp_path / "b")
    refused(cli, tmp_path, "immunize", tmp_path / "b", "--sigma", "0.1", "--out", tmp_path / "b", "--force", needle="also an input")


def test_file_output_that_is_an_input_is_refused(cli, made, tmp_path):
    """``predict --input X.npy --out X.npy --force`` would overwrite the user's own input."""
    shutil.copy(made / "X.npy", tmp_path / "X.npy")
    refused(cli, tmp_path, "predict", made / "bundle", "--input", tmp_path / "X.npy", "--out", tmp_path / "X.npy", "--force",
            needle="also an input")


def test_symlink_outputs_are_refused(cli, made, tmp_path):
    target = tmp_path / "target.npy"
    target.write_bytes(b"precious")
    (tmp_path / "link.npy").symlink_to(target)
    refused(cli, tmp_path, "predict", made / "bundle", "--input", made / "X.npy", "--out", tmp_path / "link.npy", "--force", needle="symlink")
    (tmp_path / "dangling.npy").symlink_to(tmp_path / "nowhere.npy")
    refused(cli, tmp_path, "predict", made / "bundle", "--input", made / "X.npy", "--out", tmp_path / "dangling.npy", needle="symlink")
    shutil.copytree(made / "bundle", tmp_path / "real")
    (tmp_path / "linkdir").symlink_to(tmp_path / "real", target_is_directory=True)
    refused(cli, tmp_path, *TRAIN, "--out", tmp_path / "linkdir", "--force", needle="symlink")


def test_kind_mismatches_are_refused(cli, made, tmp_path):
    (tmp_path / "f.txt").write_text("a file")
    refused(cli, tmp_path, *TRAIN, "--out", tmp_path / "f.txt", "--force", needle="not a bundle directory")
    (tmp_path / "d").mkdir()
    refused(cli, tmp_path, "predict", made / "bundle", "--input", made / "X.npy", "--out", tmp_path / "d", "--force", needle="is a directory")
    shutil.copy(made / "keys/backdoor_key.pem", tmp_path / "backdoor_key.pem")
    refused(cli, tmp_path, "predict", made / "bundle", "--input", made / "X.npy", "--out", tmp_path / "backdoor_key.pem", "--force",
            needle="private key file")


def test_read_only_output_folder(cli, made, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes anyway: simulate the permission check's answer
            import undetectable.fileio as fio

            real = fio.os.access
            monkeypatch.setattr(fio.os, "access", lambda p, m: False if Path(p) == ro else real(p, m))
        refused(cli, tmp_path, "predict", made / "bundle", "--input", made / "X.npy", "--out", ro / "Y.npy", needle="not writable")
        refused(cli, tmp_path, *TRAIN, "--out", ro / "b", needle="not writable")
    finally:
        ro.chmod(0o755)


def test_permission_error_while_creating_temp_is_one_line(cli, made, tmp_path, monkeypatch):
    import undetectable.fileio as fio

    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fio.os, "mkdir", deny)
    refused(cli, tmp_path, *TRAIN, "--out", tmp_path / "b", needle="cannot write in")


def test_force_replaces_our_bundle_and_leaves_nothing(cli, made, tmp_path):
    shutil.copytree(made / "bundle", tmp_path / "b")
    res = cli(*TRAIN, "--seed", "3", "--out", tmp_path / "b")
    assert res.code == 2 and "--force" in one_error_line(res.err)
    res = cli(*TRAIN, "--seed", "3", "--out", tmp_path / "b", "--force")
    assert res.code == 0, res.err
    assert _leftovers(tmp_path) == []
    (tmp_path / "empty").mkdir()
    assert cli(*TRAIN, "--out", tmp_path / "empty", "--force").code == 0  # an empty folder owns nothing


def test_stale_temporaries_of_dead_runs_are_cleaned_or_restored(cli, made, tmp_path):
    from undetectable.bundle import read_manifest

    shutil.copytree(made / "bundle", tmp_path / ".b.undetectable-tmp-999999999")
    shutil.copytree(made / "bundle", tmp_path / "b")
    assert cli(*TRAIN, "--out", tmp_path / "b", "--force").code == 0
    assert _leftovers(tmp_path) == []
    # a swap killed between its two renames: b is gone, the old bundle is .b.undetectable-old-PID
    shutil.rmtree(tmp_path / "b")
    shutil.copytree(made / "bundle", tmp_path / ".b.undetectable-old-999999999")
    res = cli(*TRAIN, "--out", tmp_path / "b")  # no --force: the restored bundle must not be replaced
    assert res.code == 2 and "already exists" in one_error_line(res.err)
    read_manifest(tmp_path / "b")
    assert _leftovers(tmp_path) == []


# --- interrupted writes (subprocesses and signals) ---------------------------------------------------

SLOW_BUNDLE = """
import shutil, sys, time
from pathlib import Path
from undetectable.fileio import atomic_dir  # what save_bundle uses; no model imports, so the test stays fast
target = Path(sys.argv[1])
with atomic_dir(target, force=True) as tmp:
    for f in target.iterdir():
        shutil.copy(f, tmp / f.name)
    (tmp / "manifest.json").write_text("{}")  # the new bundle, half-written
    print("READY", flush=True)
    time.sleep(60)
"""

SLOW_FILE = """
import sys, time
from pathlib import Path
from undetectable.fileio import atomic_file
with atomic_file(Path(sys.argv[1]), force=True) as tmp:
    tmp.write_bytes(b"x" * 5_000_000)
    print("READY", flush=True)
    time.sleep(60)
"""


def _interrupt(script: str, target: Path, sig: int) -> int:
    import undetectable

    env = dict(os.environ, PYTHONPATH=str(Path(undetectable.__file__).parents[1]))
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), str(target)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        assert p.stdout.readline().strip() == "READY"
        p.send_signal(sig)
        return p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "term"])
def test_interrupted_bundle_replacement_keeps_the_old_bundle(cli, made, tmp_path, sig):
    from undetectable.bundle import read_manifest

    b = tmp_path / "b"
    shutil.copytree(made / "bundle", b)
    before = snapshot(b)
    rc = _interrupt(SLOW_BUNDLE, b, sig)
    assert rc != 0
    assert snapshot(b) == before  # the old bundle, untouched and loadable
    read_manifest(b)
    left = _leftovers(tmp_path)
    if sig == signal.SIGKILL:
        assert len(left) == 1 and left[0].startswith(".b.undetectable-tmp-"), left  # named, beside it
        assert cli(*TRAIN, "--out", b, "--force").code == 0  # the next run cleans it
        assert _leftovers(tmp_path) == []
    else:
        assert left == []  # SIGTERM / SIGINT: the temporary removed by the run itself


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["kill-9", "term", "int"])
def test_interrupted_file_write(made, tmp_path, sig):
    from undetectable.fileio import save_npy

    f = tmp_path / "XA.npy"
    f.write_bytes(b"old")
    assert _interrupt(SLOW_FILE, f, sig) != 0
    assert f.read_bytes() == b"old"
    left = _leftovers(tmp_path)
    assert left == ([] if sig != signal.SIGKILL else [left[0]]) and all(x.startswith(".XA.npy.undetectable-tmp-") for x in left)
    save_npy(f, np.zeros(3), force=True)  # the next write cleans it
    assert _leftovers(tmp_path) == []


SWAP_KILLED_MIDWAY = """
import os, shutil, sys, time
from pathlib import Path
import undetectable.fileio as fio
fio._renameat2 = lambda *a: False  # the portable two-rename swap (no RENAME_EXCHANGE)
real_rename = os.rename
def slow_rename(src, dst):
    real_rename(src, dst)
    if ".undetectable-old-" in str(dst):  # between the two renames: the bundle's name is empty now
        print("READY", flush=True)
        time.sleep(60)
fio.os.rename = slow_rename
target = Path(sys.argv[1])
with fio.atomic_dir(target, force=True) as tmp:
    for f in target.iterdir():
        shutil.copy(f, tmp / f.name)
"""


def test_kill_between_the_two_renames_of_the_portable_swap(cli, made, tmp_path):
    """Without renameat2 a kill -9 can land between the renames: the old bundle survives as
    .b.undetectable-old-PID and the next run restores it (and refuses to replace it without --force)."""
    from undetectable.bundle import read_manifest

    b = tmp_path / "b"
    shutil.copytree(made / "bundle", b)
    before = snapshot(b)
    assert _interrupt(SWAP_KILLED_MIDWAY, b, signal.SIGKILL) != 0
    left = _leftovers(tmp_path)
    old = [x for x in left if ".undetectable-old-" in x]
    assert not b.exists() and len(old) == 1
    assert snapshot(tmp_path / old[0]) == before  # intact, under a clear name
    res = cli(*TRAIN, "--out", b)
    assert res.code == 2 and "already exists" in one_error_line(res.err)
    assert snapshot(b) == before and _leftovers(tmp_path) == []
    read_manifest(b)
