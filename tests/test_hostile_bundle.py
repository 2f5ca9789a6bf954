"""Hostile bundles: a bundle is downloaded from someone the auditor does not trust.

Every forged bundle is built programmatically from small honest ones (breast-cancer logreg, a 40-feature
rff, a smoothed wrapper) and fed to ``predict``: exit 1, exactly one stderr line naming the problem,
no output written, nothing outside the bundle read, the file system unchanged.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_util import npy_bytes, one_error_line, read_manifest_json, rehash, sha, snapshot, write_manifest_json


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """Small honest bundles, built once: logreg, rff (40 features), smoothed(logreg); and 8 test rows."""
    from undetectable.bundle import save_bundle
    from undetectable.data import load_dataset
    from undetectable.defend.smoothing import immunize
    from undetectable.models import train_model

    d = tmp_path_factory.mktemp("honest")
    ds = load_dataset("breast-cancer")
    lr = train_model("logreg", ds, seed=0)
    save_bundle(lr, d / "lr")
    save_bundle(train_model("rff", ds, seed=0, n_features=40), d / "rff")
    save_bundle(immunize(lr, 0.1, n=4), d / "sm")
    np.save(d / "X.npy", ds.X_test[:8])
    return d


@pytest.fixture
def forge(honest, tmp_path):
    """``forge("lr")`` → a fresh copy of an honest bundle under tmp_path/"work"/ to edit."""
    (tmp_path / "work").mkdir()

    def copy(name: str):
        dst = tmp_path / "work" / name
        shutil.copytree(honest / name, dst, symlinks=True)
        return dst

    return copy


def refused(cli, bundle, honest, tmp_path, needle: str, code: int = 1) -> str:
    """predict on ``bundle``: exit ``code``, one line containing ``needle``, nothing written, nothing changed."""
    before = snapshot(tmp_path)
    out = tmp_path / "Y.npy"
    t0 = time.perf_counter()
    res = cli("predict", bundle, "--input", honest / "X.npy", "--out", out)
    assert time.perf_counter() - t0 < 20, "refusal took too long"
    line = one_error_line(res.err)
    assert res.code == code, (res.code, line)
    assert needle.lower() in line.lower(), line
    assert not out.exists()
    assert snapshot(tmp_path) == before
    return line


def test_honest_bundles_load(cli, honest, tmp_path):
    for name in ("lr", "rff", "sm"):
        assert cli("predict", honest / name, "--input", honest / "X.npy", "--out", tmp_path / f"{name}.npy").code == 0


# --- paths: traversal, absolute, symlinks ---------------------------------------------------------

def test_traversal_path_is_refused_before_reading(cli, honest, forge, tmp_path):
    b = forge("lr")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"secret outside the bundle")
    m = read_manifest_json(b)
    m["files"]["../outside.bin"] = sha(outside)
    write_manifest_json(b, m)
    refused(cli, b, honest, tmp_path, "leaves the bundle")


def test_absolute_path_is_refused(cli, honest, forge, tmp_path):
    b = forge("lr")
    target = tmp_path / "abs.bin"
    target.write_bytes(b"x")
    m = read_manifest_json(b)
    m["files"][str(target)] = sha(target)
    write_manifest_json(b, m)
    refused(cli, b, honest, tmp_path, "absolute")


def test_huge_outside_file_is_never_read(cli, honest, forge, tmp_path):
    b = forge("lr")
    m = read_manifest_json(b)
    m["files"]["../../../../../../dev/zero"] = "0" * 64  # hashing it would never end
    write_manifest_json(b, m)
    refused(cli, b, honest, tmp_path, "leaves the bundle")


def test_symlinked_weight_file_is_refused(cli, honest, forge, tmp_path):
    b = forge("lr")
    real = tmp_path / "elsewhere.skops"
    shutil.copy(b / "estimator.skops", real)  # same bytes, same hash: only the link is wrong
    (b / "estimator.skops").unlink()
    (b / "estimator.skops").symlink_to(real)
    refused(cli, b, honest, tmp_path, "symlink")


def test_symlinked_base_folder_is_refused(cli, honest, forge, tmp_path):
    b = forge("sm")
    shutil.copytree(b / "base", tmp_path / "real_base")
    shutil.rmtree(b / "base")
    (b / "base").symlink_to(tmp_path / "real_base", target_is_directory=True)
    refused(cli, b, honest, tmp_path, "symlink")


def test_fifo_in_bundle_is_refused(cli, honest, forge, tmp_path):
    b = forge("lr")
    os.mkfifo(b / "pipe")
    refused(cli, b, honest, tmp_path, "not a regular file")


def test_manifest_that_is_a_directory(cli, honest, forge, tmp_path):
    b = forge("lr")
    (b / "manifest.json").unlink()
    (b / "manifest.json").mkdir()
    refused(cli, b, honest, tmp_path, "not a regular file")


def test_symlinked_manifest_is_refused(cli, honest, forge, tmp_path):
    b = forge("lr")
    shutil.copy(b / "manifest.json", tmp_path / "m.json")
    (b / "manifest.json").unlink()
    (b / "manifest.json").symlink_to(tmp_path / "m.json")
    refused(cli, b, honest, tmp_path, "manifest.json")


# --- the manifest: duplicates, depth, schema ------------------------------------------------------

def test_duplicate_key_in_files_is_refused(cli, honest, forge, tmp_path):
    b = forge("lr")
    text = (b / "manifest.json").read_text()
    m = json.loads(text)
    digest = m["files"]["estimator.skops"]
    # the same key twice: json.loads would silently keep the last one
    text = text.replace(f'"estimator.skops": "{digest}"', f'"estimator.skops": "{"0" * 64}", "estimator.skops": "{digest}"')
    (b / "manifest.json").write_text(text)
    refused(cli, b, honest, tmp_path, "duplicate key")


def test_deep_json_is_refused_quickly(cli, honest, forge, tmp_path):
    b = forge("lr")
    m = read_manifest_json(b)
    text = json.dumps(m).replace('"params": {', '"params": {"deep": ' + "[" * 100_000 + "]" * 100_000 + ", ", 1)
    (b / "manifest.json").write_text(text)
    refused(cli, b, honest, tmp_path, "nested deeper")


def test_huge_manifest_is_refused_by_size(cli, honest, forge, tmp_path, monkeypatch):
    b = forge("lr")
    monkeypatch.setenv("UNDETECTABLE_MAX_MANIFEST_BYTES", "1000")
    line = refused(cli, b, honest, tmp_path, "UNDETECTABLE_MAX_MANIFEST_BYTES")
    assert "over the limit of 1,000 bytes" in line


def _set(path):
    def edit(m, value):
        o = m
        for k in path[:-1]:
            o = o[k]
        o[path[-1]] = value
    return edit


WRONG_FIELDS = [
    (("files",), ["estimator.skops"], "files"),
    (("files",), "estimator.skops", "files"),
    (("files", "estimator.skops"), 12, "sha256"),
    (("classes",), "01", "classes"),
    (("classes",), [[0], [1]], "classes"),
    (("classes",), [True, False], "classes"),
    (("classes",), [0, 0], "repeated"),
    (("classes",), [], "classes"),
    (("family",), 5, "family"),
    (("family",), "../../evil", "family"),
    (("family",), ["sklearn"], "family"),
    (("input",), [30], "input"),
    (("input", "shape"), [-30], "shape"),
    (("input", "shape"), ["30"], "shape"),
    (("input", "shape"), [10**7, 10**7], "features"),
    (("input", "dtype"), "complex128", "dtype"),
    (("input", "dtype"), "object", "dtype"),
    (("input", "low"), "zero", "low"),
    (("input", "feature_std"), [1.0, 2.0], "feature_std"),
    (("input", "feature_std"), "wide", "feature_std"),
    (("params",), [], "params"),
    (("format_version",), "1", "format_version"),
    (("created_by",), {"x": 1}, "created_by"),
]


@pytest.mark.parametrize("path,value,needle", WRONG_FIELDS, ids=[f"{'.'.join(p)}={v!r}"[:40] for p, v, _ in WRONG_FIELDS])
def test_wrong_types_in_every_manifest_field(cli, honest, forge, tmp_path, path, value, needle):
    b = forge("lr")
    m = read_manifest_json(b)
    _set(path)(m, value)
    write_manifest_json(b, m)
    line = refused(cli, b, honest, tmp_path, needle)
    assert "re-create" in line


@pytest.mark.parametrize("missing", ["family", "input", "classes", "params", "files"])
def test_missing_manifest_fields(cli, honest, forge, tmp_path, missing):
    b = forge("lr")
    m = read_manifest_json(b)
    del m[missing]
    write_manifest_json(b, m)
    refused(cli, b, honest, tmp_path, missing)


def test_not_json_and_not_an_object(cli, honest, forge, tmp_path):
    for text in ("{ not json", "[1, 2, 3]", '"just a string"', "\xff\xfe", '{"format": NaN}'):
        b = forge("lr") if not (tmp_path / "work" / "lr").exists() else tmp_path / "work" / "lr"
        (b / "manifest.json").write_bytes(text.encode("latin-1"))
        refused(cli, b, honest, tmp_path, "bundle")


# --- sizes: declared shapes, size limits, zip bombs ------------------------------------------------

def _safetensors_bytes(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def test_safetensors_declared_shape_beyond_limit(cli, honest, forge, tmp_path):
    b = forge("rff")
    # a 4-byte file declaring a (2^20, 2^20) float64 array: 8 TiB
    (b / "rff.safetensors").write_bytes(_safetensors_bytes(
        {"weights": {"dtype": "F64", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 8 << 40]}}, b"\0" * 4))
    rehash(b)
    line = refused(cli, b, honest, tmp_path, "over the limit")
    assert "UNDETECTABLE_MAX_ARRAY_BYTES" in line


def test_safetensors_size_lie(cli, honest, forge, tmp_path):
    b = forge("rff")
    (b / "rff.safetensors").write_bytes(_safetensors_bytes(
        {"weights": {"dtype": "F64", "shape": [1000, 30], "data_offsets": [0, 240_000]}}, b"\0" * 64))
    rehash(b)
    refused(cli, b, honest, tmp_path, "lies about its size")


def test_file_size_limit_is_configurable(cli, honest, forge, tmp_path, monkeypatch):
    b = forge("rff")
    monkeypatch.setenv("UNDETECTABLE_MAX_FILE_BYTES", "1024")
    line = refused(cli, b, honest, tmp_path, "UNDETECTABLE_MAX_FILE_BYTES=")
    assert "if you trust it, raise the limit" in line
    monkeypatch.setenv("UNDETECTABLE_MAX_FILE_BYTES", str(1 << 30))
    assert cli("predict", b, "--input", honest / "X.npy", "--out", tmp_path / "ok.npy").code == 0


def _replace_skops_member(path, member_filter, new_bytes_for):
    """Rewrite the zip at ``path``, replacing the bytes of members chosen by ``member_filter``."""
    with zipfile.ZipFile(path) as zf:
        items = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in items:
            zf.writestr(name, new_bytes_for(name, data) if member_filter(name) else data)


def test_skops_member_declaring_a_huge_array(cli, honest, forge, tmp_path):
    """The small skops file whose array would inflate to 2 GiB: refused from the .npy header, nothing allocated."""
    b = forge("lr")
    _replace_skops_member(b / "estimator.skops", lambda n: n.endswith(".npy"),
                          lambda n, data: npy_bytes((1 << 28,)) + b"\0" * 64)
    rehash(b)
    line = refused(cli, b, honest, tmp_path, "over the limit")
    assert "UNDETECTABLE_MAX_ARRAY_BYTES" in line and (b / "estimator.skops").stat().st_size < 100_000


def test_zip_bomb_built_small(cli, honest, forge, tmp_path, monkeypatch):
    """A member that inflates 2,000x (8 MiB of zeros in ~8 KiB) against an 1 MiB limit: refused before inflating."""
    b = forge("lr")
    zeros = np.zeros(1 << 20)  # 8 MiB
    _replace_skops_member(b / "estimator.skops", lambda n: n.endswith(".npy"),
                          lambda n, data: npy_bytes(zeros.shape) + zeros.tobytes())
    rehash(b)
    assert (b / "estimator.skops").stat().st_size < 200_000
    monkeypatch.setenv("UNDETECTABLE_MAX_ARRAY_BYTES", str(1 << 20))
    refused(cli, b, honest, tmp_path, "UNDETECTABLE_MAX_ARRAY_BYTES")


# --- skops: exactly our trusted list -----------------------------------------------------------------

def test_default_skops_trusted_type_outside_our_list_is_refused(cli, honest, tmp_path):
    """skops trusts every sklearn estimator by default; our list names LogisticRegression, not GaussianNB."""
    import skops.io as sio
    from sklearn.naive_bayes import GaussianNB

    from undetectable.bundle import save_bundle
    from undetectable.data import load_dataset
    from undetectable.models.sklearn_model import SklearnModel

    ds = load_dataset("breast-cancer")
    est = GaussianNB().fit(ds.X_train, ds.y_train)
    (tmp_path / "probe.skops").write_bytes(sio.dumps(est))
    assert sio.get_untrusted_types(file=tmp_path / "probe.skops") == []  # skops itself would load it
    (tmp_path / "probe.skops").unlink()
    save_bundle(SklearnModel(est, ds.spec, np.array([0, 1])), tmp_path / "nb")
    line = refused(cli, tmp_path / "nb", honest, tmp_path, "trusted list")
    assert "GaussianNB" in line


# --- wrappers: nesting -----------------------------------------------------------------------------

def _nest(inner, outer_template, depth, dst):
    """smoothed(smoothed(...(inner))) ``depth`` levels deep, hashes recomputed (a forger can do that)."""
    cur = inner
    for i in range(depth):
        nxt = dst / f"n{i}"
        shutil.copytree(outer_template, nxt, symlinks=True)
        shutil.rmtree(nxt / "base")
        shutil.copytree(cur, nxt / "base", symlinks=True)
        rehash(nxt)
        cur = nxt
    return cur


def test_deep_wrapper_nesting_is_refused_quickly(cli, honest, tmp_path):
    (tmp_path / "n").mkdir()
    b = _nest(honest / "lr", honest / "sm", 12, tmp_path / "n")
    refused(cli, b, honest, tmp_path, "nested")


def test_wrapper_nesting_beyond_the_limit(cli, honest, tmp_path, monkeypatch):
    (tmp_path / "n").mkdir()
    b = _nest(honest / "lr", honest / "sm", 4, tmp_path / "n")  # 5 bundles deep: over the default 4
    line = refused(cli, b, honest, tmp_path, "UNDETECTABLE_MAX_NESTING")
    assert "deep" in line
    monkeypatch.setenv("UNDETECTABLE_MAX_NESTING", "8")
    res = cli("predict", b, "--input", honest / "X.npy", "--out", tmp_path / "ok.npy")
    assert res.code == 1  # loadable as a tree, but smoothing a smoothed model is refused on load too
    assert "already smoothed" in one_error_line(res.err)


def test_hostile_smoothing_n_in_a_bundle(cli, honest, forge, tmp_path):
    b = forge("sm")
    m = read_manifest_json(b)
    m["params"]["n"] = 10**9
    write_manifest_json(b, m)
    refused(cli, b, honest, tmp_path, "over the limit")


# --- fuzzing the manifest parser ------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
_FIELDS = ["format", "format_version", "family", "input", "classes", "params", "files", "created_by"]


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(field=st.sampled_from(_FIELDS + [f"input.{k}" for k in ("shape", "dtype", "low", "high", "feature_std")]),
       value=_json, raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_fuzz_manifest_parser(honest, tmp_path_factory, field, value, raw):
    """Whatever the manifest holds, read_manifest returns a manifest or raises BundleError: never anything else."""
    from undetectable.bundle import read_manifest
    from undetectable.errors import BundleError

    root = tmp_path_factory.getbasetemp() / "fuzz"
    b = root / "b"
    if not b.exists():
        shutil.copytree(honest / "lr", b)
    m = read_manifest_json(honest / "lr")
    if "." in field:
        m["input"][field.split(".")[1]] = value
    else:
        m[field] = value
    (b / "manifest.json").write_bytes(raw if raw is not None else json.dumps(m).encode())
    try:
        out = read_manifest(b)
        assert isinstance(out, dict)
    except BundleError as exc:
        assert "\n" not in str(exc)


def test_strict_json_unit():
    """The parser every bundle JSON goes through (manifest, safetensors headers, skops schema, payload layout)."""
    from undetectable.safety import strict_json

    assert strict_json('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    for bad, msg in [('{"a": 1, "a": 2}', "duplicate key"), ('{"a": NaN}', "non-standard"), ('{"a": Infinity}', "non-standard"),
                     ("[" * 40 + "]" * 40, "nested deeper"), ("[" * 50_000 + "]" * 50_000, "nested deeper")]:
        with pytest.raises(ValueError, match=msg):
            strict_json(bad)
