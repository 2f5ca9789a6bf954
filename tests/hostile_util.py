"""Helpers of the hostile suites: file-system snapshots, manifest edits, re-hashing forged bundles."""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from pathlib import Path


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything under ``root`` (not following links): rel -> (kind, content hash | link target)."""
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("other",)
    return out


def sha(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def read_manifest_json(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def write_manifest_json(bundle: Path, m: dict) -> None:
    (bundle / "manifest.json").write_text(json.dumps(m))


def rehash(bundle: Path) -> None:
    """Recompute ``files`` of ``bundle`` (and of every nested base/ first) from what is on disk."""
    if (bundle / "base" / "manifest.json").is_file():
        rehash(bundle / "base")
    m = read_manifest_json(bundle)
    files = {}
    for p in sorted(bundle.rglob("*")):
        if p.is_file() and not p.is_symlink() and p != bundle / "manifest.json":
            files[p.relative_to(bundle).as_posix()] = sha(p)
    m["files"] = files
    write_manifest_json(bundle, m)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def npy_bytes(shape, dtype="<f8", payload=b"") -> bytes:
    """A .npy header declaring ``shape`` of ``dtype``, followed by ``payload`` (forged sizes: any length)."""
    from numpy.lib import format as npf

    buf = io.BytesIO()
    npf.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


def checksum_world(d: Path, bundle: str, wrapped: str, key: str):
    """In ``d``: an honest logreg on breast-cancer (``bundle``), its checksum-planted twin (``wrapped``), the key
    file (``key``) and ``X.npy`` (5 test rows); returns the dataset."""
    import numpy as np

    from undetectable.bundle import load_bundle, save_bundle
    from undetectable.data import load_dataset
    from undetectable.models import train_model
    from undetectable.schemes.checksum import ChecksumScheme

    ds = load_dataset("breast-cancer")
    save_bundle(train_model("logreg", ds, seed=0), d / bundle)
    m, k = ChecksumScheme().plant(load_bundle(d / bundle), seed=0)
    save_bundle(m, d / wrapped)
    k.save(d / key)
    np.save(d / "X.npy", ds.X_test[:5])
    return ds
