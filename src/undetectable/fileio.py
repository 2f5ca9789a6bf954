"""Atomic, non-clobbering file output and validated array input.

Writing never destroys what this tool does not own:

* nothing is overwritten without ``force``;
* with ``force`` a *file* output replaces only a regular file (never a directory, a symlink or a
  private key file unless a key is what is being written), and a *bundle* output replaces only a
  directory that is a bundle this tool wrote (its ``manifest.json`` has our format field and it holds
  nothing its manifest does not list) — never the current directory or one of its parents, never a
  folder holding an input or a key file, never a symlink;
* files are written to ``.NAME.undetectable-tmp-PID`` beside ``NAME`` and renamed into place;
  bundles are built in such a folder and *swapped* in (Linux ``renameat2(RENAME_EXCHANGE)``: a reader
  sees the old bundle or the new one, never neither; elsewhere two renames, with the old one kept as
  ``.NAME.undetectable-old-PID`` until the new one is in place);
* SIGINT and SIGTERM during a write remove the temporary; after ``kill -9`` the temporary stays, named
  as above, and the next write to the same ``NAME`` removes it (or restores an ``-old-`` bundle that a
  killed swap left behind).

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = save_npy(d / "X.npy", np.arange(3))
>>> load_npy(d / "X.npy").tolist()
[0, 1, 2]
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import signal
import stat
import threading
from pathlib import Path
from collections.abc import Iterable, Iterator

import numpy as np

from .errors import ParameterError, UsageError

BUNDLE_FORMAT = "undetectable-bundle"  # the manifest's format field (bundle.FORMAT); fileio sits below bundle
TMP_TAG = ".undetectable-tmp-"
OLD_TAG = ".undetectable-old-"
KEY_SUFFIXES = (".pem", ".key")


# --- what may be replaced ------------------------------------------------------------------------

def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def looks_like_private_key(path: Path) -> bool:
    """A PEM private key or an undetectable secret-key safetensors file (first bytes only)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return (b"-----BEGIN" in head[:64] and b"PRIVATE KEY" in head) or b'"undetectable_key"' in head


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_not_an_input(path: str | os.PathLike, inputs: Iterable) -> None:
    """Raise UsageError when the output ``path`` is one of the command's ``inputs``, lies inside one, or holds one.

    The one output check every writer runs (``check_writable``, ``atomic_file``, ``atomic_dir``,
    ``save_npy``): paths are compared resolved (symlinks, ``..``, hard links to the same file), so an
    output that is a bundle's own ``manifest.json``, a data file also read, or a folder holding an
    input is refused, with or without ``force``. Inputs that do not exist are ignored.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "b").mkdir(); _ = (d / "b" / "manifest.json").write_text("{}")
    >>> try:
    ...     check_not_an_input(d / "b" / "manifest.json", [d / "b"])
    ... except UsageError as exc:
    ...     print("refused")
    refused
    """
    p = Path(path)
    rp = p.resolve()
    for inp in inputs:
        if inp is None:
            continue
        ip = Path(inp)
        if not os.path.lexists(ip):
            continue
        ri = ip.resolve()
        if ri == rp or _same_file(ip, p):
            raise UsageError(f"{path} is also an input of this command ({inp}); refusing to write over it, choose another output path")
        if ri in rp.parents:
            raise UsageError(f"{path} is inside the input {inp}; refusing to write into an input, choose an output path outside it")
        if rp in ri.parents:
            raise UsageError(f"{path} holds the input {inp}; refusing to replace it, choose another output path")



def _check_replaceable_dir(path: Path) -> None:
    """Raise UsageError unless ``path`` is a bundle directory this tool wrote and nothing else lives in it."""
    rp = path.resolve()
    cwd = Path.cwd().resolve()
    if rp == cwd or rp in cwd.parents:
        raise UsageError(f"{path} is the current directory or one of its parents; refusing to replace it, choose a new output folder")
    with os.scandir(path) as it:
        if next(it, None) is None:
            return  # an empty folder: replacing it destroys nothing
    mpath = path / "manifest.json"
    st = _lstat(mpath)
    manifest = None
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_size < (16 << 20):
        try:
            manifest = json.loads(mpath.read_text())
        except (ValueError, OSError):
            manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise UsageError(f"{path} is a directory but not a bundle written by undetectable (no manifest.json with format "
                         f"'{BUNDLE_FORMAT}'); force replaces only bundles; choose another output path or move it away yourself")
    mfiles = manifest.get("files")
    listed: dict = mfiles if isinstance(mfiles, dict) else {}
    for root, dirs, files in os.walk(path):  # os.walk does not follow directory links
        for name in dirs + files:
            p = Path(root) / name
            rel = p.relative_to(path).as_posix()
            if p.is_symlink():
                raise UsageError(f"{path} holds a symlink {rel}; refusing to replace it, move it away yourself")
            if name in dirs:
                continue
            if name.endswith(KEY_SUFFIXES) or looks_like_private_key(p):
                raise UsageError(f"{path} holds a key file {rel}; refusing to replace it, move the key out first")
            if rel != "manifest.json" and rel not in listed:
                raise UsageError(f"{path} holds {rel}, which is not part of the bundle; refusing to replace it, move it out first")


def check_writable(path: str | os.PathLike, force: bool, kind: str = "file", inputs: Iterable = ()) -> Path:
    """Refuse to write ``path`` unless it is new, or ``force`` and it is ours to replace; its parent must exist.

    ``kind``: ``"file"`` (a regular file; an existing private key file is refused), ``"key"`` (a key
    file: may replace a key), or ``"bundle"`` (a directory: may replace only a bundle this tool
    wrote). ``inputs``: paths the run reads; the output may not be one of them nor contain one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_writable(d / "new.npy", force=False).name
    'new.npy'
    """
    path = Path(path)
    inputs = tuple(inputs)
    check_not_an_input(path, inputs)
    st = _lstat(path)
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise UsageError(f"{path} is a symlink; refusing to write through it, remove the link or choose another path")
        if stat.S_ISDIR(st.st_mode):
            if kind != "bundle":
                raise UsageError(f"{path} is a directory, not a file; choose a file path (e.g. {path}/out.npy)")
            _check_replaceable_dir(path)
        elif kind == "bundle":
            raise UsageError(f"{path} is a file, not a bundle directory; force replaces only bundles; choose another output path")
        elif not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is not a regular file (device, fifo or socket); choose another path")
        elif kind == "file" and looks_like_private_key(path):
            raise UsageError(f"{path} is a private key file; refusing to overwrite it, choose another path")
        if not force:
            raise ParameterError("force", f"{path} already exists; choose another path or pass force=True to overwrite it")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"directory {parent} is not writable; choose another output path or fix its permissions")
    return path


# --- temporaries: naming, cleaning, signals --------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(p: Path) -> None:
    st = _lstat(p)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def clean_stale(path: str | os.PathLike) -> list[Path]:
    """Remove temporaries that killed runs left beside ``path`` (restore an ``-old-`` bundle if ``path`` is gone).

    Only names ``.NAME.undetectable-tmp-PID`` / ``-old-PID`` of processes no longer alive are
    touched. Returns what was removed or restored.
    """
    path = Path(path)
    parent, prefix = path.parent, f".{path.name}"
    done: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return done
    for e in entries:
        for tag in (TMP_TAG, OLD_TAG):
            if not e.name.startswith(prefix + tag):
                continue
            pid = e.name[len(prefix + tag):]
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            p = Path(e.path)
            if tag == OLD_TAG and _lstat(path) is None and p.is_dir() and not p.is_symlink():
                os.rename(p, path)  # a swap killed between its two renames: the old bundle comes back
            else:
                _remove(p)
            done.append(p)
    return done


def _temp_name(path: Path, tag: str = TMP_TAG) -> Path:
    return path.parent / f".{path.name}{tag}{os.getpid()}"


@contextlib.contextmanager
def _cleanup_on_signals() -> Iterator[None]:
    """Turn SIGTERM (and SIGHUP) into KeyboardInterrupt while writing, so ``finally`` removes temporaries."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    installed = {}

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
            installed[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in installed.items():
            signal.signal(sig, old)


def _write_error(parent: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot write in {parent} ({exc.strerror}); choose another --out or fix the folder's permissions")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, force: bool = False, mode: int | None = None, kind: str = "file",
                inputs: Iterable = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path`` (mode ``mode``, default per umask).

    ``inputs``: the paths the caller reads; ``path`` may not be one of them, lie inside one or hold one
    (``check_not_an_input``), with or without ``force``.
    """
    inputs = tuple(inputs)
    clean_stale(path)
    path = check_writable(path, force, kind, inputs)
    tmp = _temp_name(path)
    _remove(tmp)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise _write_error(path.parent, exc) from None
    os.close(fd)
    try:
        with _cleanup_on_signals():
            yield tmp
            if mode is None:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
            else:
                os.chmod(tmp, mode)
            check_writable(path, force, kind, inputs)  # again: something may have appeared meanwhile
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            if _lstat(tmp) is not None:
                tmp.unlink()


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Linux renameat2; False where unavailable (then the caller falls back to rename)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EINVAL), errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(dst))


RENAME_EXCHANGE = 2


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False, inputs: Iterable = ()) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; on success swap it in for ``path`` atomically.

    An existing ``path`` must be a bundle this tool wrote (see ``check_writable``); it stays intact
    and readable until the new one is complete.
    """
    inputs = tuple(inputs)
    clean_stale(path)
    path = check_writable(path, force, "bundle", inputs)
    tmp = _temp_name(path)
    _remove(tmp)
    try:
        os.mkdir(tmp)
    except OSError as exc:
        raise _write_error(path.parent, exc) from None
    try:
        with _cleanup_on_signals():
            yield tmp
            if _lstat(path) is None:
                os.rename(tmp, path)
            else:
                check_writable(path, force, "bundle", inputs)
                if _renameat2(tmp, path, RENAME_EXCHANGE):
                    pass  # tmp now holds the old bundle: removed below
                else:
                    old = _temp_name(path, OLD_TAG)
                    _remove(old)
                    os.rename(path, old)
                    os.rename(tmp, path)
                    _remove(old)
    finally:
        _remove(tmp)


def save_npy(path: str | os.PathLike, array: np.ndarray, force: bool = False, inputs: Iterable = ()) -> Path:
    """Write ``array`` to ``path`` as .npy, atomically (never over, into or around one of ``inputs``)."""
    path = Path(path)
    with atomic_file(path, force, inputs=inputs) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(array), allow_pickle=False)
    return path


def load_npy(path: str | os.PathLike, what: str = "input") -> np.ndarray:
    """Load one .npy array safely: never unpickles; archives, object arrays and declared shapes beyond the
    file or the UNDETECTABLE_MAX_ARRAY_BYTES limit are refused from the header, before allocating."""
    from .safety import check_npy_header

    from .safety import open_regular

    path = Path(path)
    if not os.path.exists(path):
        raise UsageError(f"{what} file {path} does not exist; pass a path to a .npy array")
    fd = open_regular(path, "ARCHIVE_BYTES", f"{what} file {path}")  # regular, never blocks; the header bounds the array
    try:
        with os.fdopen(fd, "rb") as fh:
            magic = fh.read(6)
            if magic.startswith(b"PK\x03\x04") or magic.startswith(b"PK\x05\x06"):
                raise UsageError(f"{what} file {path} is an archive (.npz/zip), not one array; pass a single .npy array")
            fh.seek(0)
            check_npy_header(fh, os.fstat(fh.fileno()).st_size, f"{what} file {path}")
            fh.seek(0)
            arr = np.load(fh, allow_pickle=False)
    except UsageError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"{what} file {path} is not a readable .npy array ({exc}); save it with numpy.save") from None
    return arr
