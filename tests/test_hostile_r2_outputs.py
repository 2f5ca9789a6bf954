"""Issue 19 §2: one output check. No command (and no library writer) writes an output that is, holds or lies
inside one of its own inputs — resolved paths, files and folders, with or without --force."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from hostile_util import checksum_world, one_error_line, sha, snapshot


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("made")
    ds = checksum_world(d, "bundle", "wrapped", "checksum.key")
    np.savez(d / "data.npz", X_train=ds.X_train[:60], y_train=ds.y_train[:60], X_test=ds.X_test[:20], y_test=ds.y_test[:20])
    return d


def refused(cli, root, *args, needle):
    before = snapshot(root)
    res = cli(*args)
    line = one_error_line(res.err)
    assert res.code == 2, (res.code, line)
    assert needle in line, line
    assert snapshot(root) == before, "the file system changed"
    return line


@pytest.fixture
def tree(made, tmp_path):
    for name in ("bundle", "wrapped"):
        shutil.copytree(made / name, tmp_path / name)
    for name in ("X.npy", "data.npz", "checksum.key"):
        shutil.copy(made / name, tmp_path / name)
    (tmp_path / "checksum.key").chmod(0o600)
    return tmp_path


def test_out_inside_an_input_bundle_is_refused(cli, tree):
    """predict/activate --out BUNDLE/manifest.json --force would replace the bundle's own manifest."""
    refused(cli, tree, "predict", tree / "bundle", "--input", tree / "X.npy", "--out", tree / "bundle/manifest.json", "--force",
            needle="is inside the input")
    refused(cli, tree, "activate", tree / "wrapped", "--key", tree / "checksum.key", "--input", tree / "X.npy",
            "--out", tree / "wrapped/base/manifest.json", "--force", needle="is inside the input")


def test_key_out_inside_the_base_is_refused(cli, tree):
    refused(cli, tree, "plant", "checksum", "--base", tree / "bundle", "--out", tree / "new", "--key-out",
            tree / "bundle/manifest.json", "--force", needle="is inside the input")


def test_bundle_out_inside_an_input_bundle_is_refused(cli, tree):
    """immunize WRAPPED --out WRAPPED/base --force: base/ is a bundle this tool wrote, but it is part of the input."""
    refused(cli, tree, "immunize", tree / "wrapped", "--sigma", "0.1", "--out", tree / "wrapped/base", "--force",
            needle="is inside the input")


def test_out_that_is_the_targets_file_is_refused(cli, tree):
    np.save(tree / "T.npy", np.zeros(5, dtype=np.int64))
    refused(cli, tree, "activate", tree / "wrapped", "--key", tree / "checksum.key", "--input", tree / "X.npy",
            "--targets", tree / "T.npy", "--out", tree / "T.npy", "--force", needle="also an input")


def test_poisoned_data_out_that_is_the_data_is_refused(cli, tree):
    refused(cli, tree, "plant", "badnets", "--data", tree / "data.npz", "--model", "logreg", "--out", tree / "bd",
            "--key-out", tree / "bd.key", "--poisoned-data-out", tree / "data.npz", "--force", needle="also an input")


def test_same_file_through_a_link_or_dotdot_is_refused(cli, tree):
    (tree / "alias").symlink_to(tree / "bundle", target_is_directory=True)
    refused(cli, tree, "predict", tree / "alias", "--input", tree / "X.npy", "--out", tree / "bundle/../bundle/y.npy",
            needle="is inside the input")
    import os

    os.link(tree / "X.npy", tree / "hard.npy")  # a hard link: another name, the same file
    refused(cli, tree, "predict", tree / "bundle", "--input", tree / "X.npy", "--out", tree / "hard.npy", "--force",
            needle="also an input")


def test_markdown_over_the_results_it_reads_is_refused(cli, tree):
    (tree / "rep").mkdir()
    (tree / "rep/results.json").write_text('{"sections": []}')
    refused(cli, tree, "report", tree / "rep", "--markdown", tree / "rep/results.json", "--force", needle="also an input")


def test_library_writers_refuse_their_sources(tree):
    """The Python writers: a model remembers the bundle it came from; save_npy / atomic_file take inputs."""
    from undetectable import api
    from undetectable.errors import UsageError
    from undetectable.fileio import atomic_file, save_npy

    before = snapshot(tree)
    m = api.load(tree / "wrapped")
    with pytest.raises(UsageError, match="input"):
        api.save(m.base, tree / "wrapped/base", force=True)  # the base's own folder, inside the wrapper it came from
    with pytest.raises(UsageError, match="also an input"):
        api.save(m, tree / "wrapped", force=True)
    with pytest.raises(UsageError, match="also an input"):
        save_npy(tree / "X.npy", np.zeros(3), force=True, inputs=[tree / "X.npy"])
    with pytest.raises(UsageError, match="is inside the input"):
        with atomic_file(tree / "bundle/manifest.json", force=True, inputs=[tree / "bundle"]) as tmp:
            tmp.write_text("{}")
    assert snapshot(tree) == before


def test_a_real_output_beside_the_inputs_still_works(cli, tree):
    """The control: the check refuses only what overlaps an input."""
    sha_x = sha(tree / "X.npy")
    res = cli("predict", tree / "bundle", "--input", tree / "X.npy", "--out", tree / "y.npy")
    assert res.code == 0, res.err
    assert np.load(tree / "y.npy").shape == (5,)
    res = cli("predict", tree / "bundle", "--input", tree / "X.npy", "--out", tree / "y.npy", "--force")
    assert res.code == 0, res.err
    assert sha(tree / "X.npy") == sha_x
