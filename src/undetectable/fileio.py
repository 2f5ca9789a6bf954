"""Atomic, non-clobbering file output and validated array input.

No output is ever left half-written: files are written to a temporary sibling and renamed;
directories are built in a temporary sibling and renamed into place. Nothing is overwritten
unless ``force`` is set.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import UsageError


def check_writable(path: str | os.PathLike, force: bool) -> Path:
    """Refuse to overwrite ``path`` unless ``force``; make sure its parent exists."""
    path = Path(path)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; choose another path or pass --force to overwrite it")
    if not path.parent.exists():
        raise UsageError(f"directory {path.parent} does not exist; create it first")
    return path


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, force: bool = False, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``path`` (optionally chmod ``mode`` first)."""
    path = check_writable(path, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        if mode is not None:
            os.chmod(tmp_path, mode)
        yield tmp_path
        if mode is not None:
            os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces ``path``."""
    path = check_writable(path, force)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.is_dir():  # only reachable with force=True
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_npy(path: str | os.PathLike, array: np.ndarray, force: bool = False) -> Path:
    """Write ``array`` to ``path`` as .npy, atomically."""
    path = Path(path)
    with atomic_file(path, force) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(array), allow_pickle=False)
    return path


def load_npy(path: str | os.PathLike, what: str = "input") -> np.ndarray:
    """Load a .npy file safely (never unpickles); clear error when missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what} file {path} does not exist; pass a path to a .npy array")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"{what} file {path} is not a readable .npy array ({exc}); save it with numpy.save") from None
    if not isinstance(arr, np.ndarray):
        raise UsageError(f"{what} file {path} holds an archive, not one array; pass a single .npy array")
    return arr
