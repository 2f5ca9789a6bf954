"""Hostile-input guards: limits, the manifest schema, safe paths, and header checks before allocating.

A bundle is something an auditor downloads from someone they do not trust. Everything here runs
*before* a byte of weights is parsed or an array allocated:

* ``limit(name)``: the configurable bounds (environment variables ``UNDETECTABLE_MAX_*``); every
  error that hits one names the limit and how to raise it;
* ``strict_json(text)``: JSON with duplicate keys refused and nesting depth bounded;
* ``validate_manifest(m)``: the manifest schema (types, lengths, sizes) — nothing else reads a
  manifest field before it passes;
* ``check_bundle_tree`` / ``open_bundle_file``: every listed path is a plain relative path inside
  the bundle; no symlink, device or fifo anywhere in it (``lstat``, ``O_NOFOLLOW``);
* ``check_safetensors`` / ``check_npy_header`` / ``check_zip``: declared shapes and uncompressed
  sizes against the limits and the file's real size;
* ``check_knob``: bounds on the user's own cost knobs (smoothing's n, arena sizes, queries);
* ``check_key_permissions``: private key files readable by group/others are refused (like ssh).

Examples
--------
>>> strict_json('{"a": [1, 2]}')
{'a': [1, 2]}
>>> try:
...     strict_json('{"a": 1, "a": 2}')
... except ValueError as exc:
...     print(exc)
duplicate key 'a'
"""
from __future__ import annotations

import contextvars
import json
import math
import os
import re
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any

from .errors import BundleError, UsageError

# --- limits -----------------------------------------------------------------------------------

#: name -> (default, unit, what it bounds). Override with the environment variable UNDETECTABLE_MAX_<NAME>.
LIMITS: dict[str, tuple[int, str, str]] = {
    "FILE_BYTES": (2 << 30, "bytes", "size of one file in a bundle"),
    "ARRAY_BYTES": (1 << 30, "bytes", "declared size of one array (bundle weights, .npy inputs, skops members)"),
    "ARCHIVE_BYTES": (2 << 30, "bytes", "total uncompressed size of a zip archive (skops, .npz)"),
    "MANIFEST_BYTES": (16 << 20, "bytes", "size of manifest.json"),
    "JSON_DEPTH": (32, "levels", "nesting depth of manifest JSON"),
    "BUNDLE_FILES": (4096, "files", "number of files in a bundle"),
    "NESTING": (4, "bundles", "depth of wrapped bundles (base/ inside base/ ...)"),
    "FEATURES": (10_000_000, "features", "input features declared by a manifest"),
    "CLASSES": (100_000, "classes", "classes declared by a manifest"),
}


def limit(name: str) -> int:
    """The current value of limit ``name`` (environment variable ``UNDETECTABLE_MAX_<NAME>`` or the default)."""
    default = LIMITS[name][0]
    raw = os.environ.get(f"UNDETECTABLE_MAX_{name}")
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise UsageError(f"UNDETECTABLE_MAX_{name}={raw!r} is not a number; set it to a positive integer") from None
    if value <= 0:
        raise UsageError(f"UNDETECTABLE_MAX_{name}={raw!r} must be positive")
    return value


def over_limit(what: str, value: int, name: str, error=BundleError) -> Exception:
    """The one-line error for ``value`` beyond limit ``name``: names both numbers and how to raise it."""
    lim = limit(name)
    unit = LIMITS[name][1]
    return error(f"{what} is {value:,} {unit}, over the limit of {lim:,} {unit}; if you trust it, raise the limit "
                 f"with UNDETECTABLE_MAX_{name}={value}")


def check_limit(what: str, value: int, name: str, error=BundleError) -> None:
    if value > limit(name):
        raise over_limit(what, value, name, error)


# --- JSON --------------------------------------------------------------------------------------

def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def strict_json(text: str | bytes, max_depth: int | None = None) -> Any:
    """``json.loads`` refusing duplicate keys, NaN/Infinity and nesting deeper than ``max_depth``; ValueError."""
    max_depth = limit("JSON_DEPTH") if max_depth is None else max_depth
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    # depth before the recursive parser sees it: the brackets outside strings, counted exactly (the cheap
    # count of every bracket is an upper bound, so within it nothing is deeper); json.loads below adds no check
    if text.count("[") + text.count("{") > max_depth:
        opened = 0
        for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
            tok = m.group()
            if tok in "[{":
                opened += 1
                if opened > max_depth:
                    raise ValueError(f"JSON nested deeper than {max_depth} levels, limit UNDETECTABLE_MAX_JSON_DEPTH")
            elif tok in "]}":
                opened -= 1

    def bad_constant(name):
        raise ValueError(f"non-standard JSON constant {name}")

    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=bad_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


# --- manifest schema ---------------------------------------------------------------------------

_HEX64 = re.compile(r"[0-9a-f]{64}")
_FAMILY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool)) and math.isfinite(x)


def check_rel_path(rel: Any) -> str:
    """A listed bundle path must be plain and relative: segments of [A-Za-z0-9_.-], no '..', no '/', no '\\'."""
    if not isinstance(rel, str) or not 0 < len(rel) <= 512:
        raise ValueError(f"file name {str(rel)[:60]!r} is not a string of 1..512 characters")
    if rel.startswith("/") or "\\" in rel or "\x00" in rel or re.match(r"[A-Za-z]:", rel):
        raise ValueError(f"file {rel[:80]!r} is an absolute or non-portable path; bundle paths are relative")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"file {rel[:80]!r} leaves the bundle or is not a plain path ('..', '.', '//')")
    if not all(_SEGMENT.fullmatch(p) for p in parts):
        raise ValueError(f"file {rel[:80]!r} has characters outside [A-Za-z0-9_.-]")
    if len(parts) > limit("NESTING") * 2 + 2:
        raise ValueError(f"file {rel[:80]!r} is nested {len(parts)} folders deep, beyond the wrapper limit "
                         f"UNDETECTABLE_MAX_NESTING={limit('NESTING')}")
    return rel


def validate_manifest(m: Any, fmt: str, version: int) -> dict:
    """Check the manifest schema (types, lengths, sizes); raise ValueError naming the field.

    Fields: ``format`` (== ``fmt``), ``format_version`` (== ``version``), ``family`` (a short name),
    ``input`` ({shape: 1..4 positive ints, dtype: uint8|float64, low/high: finite or null,
    feature_std: null or one finite number > 0 per feature}; float32/int64: model files), ``classes`` (unique labels: strings
    or finite numbers), ``params`` (an object), ``files`` ({plain relative path: sha256 hex}).
    Extra top-level fields are allowed (strings, numbers or small objects), never read.
    """
    if not isinstance(m, dict):
        raise ValueError(f"the manifest is a JSON {type(m).__name__}, not an object")
    if m.get("format") != fmt:
        raise ValueError(f"format field missing or not {fmt!r}")
    if not _is_int(m.get("format_version")):
        raise ValueError(f"format_version {m.get('format_version')!r} is not an integer")
    for key in ("family", "input", "classes", "params", "files"):
        if key not in m:
            raise ValueError(f"it lacks '{key}'")
    if m["format_version"] != version:
        return m  # the caller reports the version mismatch
    fam = m["family"]
    if not isinstance(fam, str) or not _FAMILY.fullmatch(fam):
        raise ValueError(f"'family' must be a short name of letters, digits, '_', '-' or '.', not {str(fam)[:40]!r}")
    inp = m["input"]
    if not isinstance(inp, dict):
        raise ValueError("'input' must be an object")
    shape = inp.get("shape")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 4 or not all(_is_int(s) and s > 0 for s in shape):
        raise ValueError(f"'input.shape' must be a list of 1..4 positive integers, not {str(shape)[:60]}")
    n_features = math.prod(shape)
    if n_features > limit("FEATURES"):
        raise ValueError(f"'input.shape' declares {n_features:,} features, over the limit of {limit('FEATURES'):,} "
                         f"(raise it with UNDETECTABLE_MAX_FEATURES={n_features})")
    if inp.get("dtype") not in ("uint8", "float64", "float32", "int64"):
        raise ValueError(f"'input.dtype' must be 'uint8', 'float64', 'float32' or 'int64', not {str(inp.get('dtype'))[:40]!r}")
    for k in ("low", "high"):
        if inp.get(k) is not None and not _is_num(inp[k]):
            raise ValueError(f"'input.{k}' must be a finite number or null")
    if (inp.get("low") is None) != (inp.get("high") is None) or (
            inp.get("low") is not None and not inp["low"] < inp["high"]):
        raise ValueError("'input.low' and 'input.high' must both be null or finite with low < high")
    if inp["dtype"] == "uint8" and inp.get("low") is None:
        raise ValueError("'input.low'/'input.high' are required for uint8 inputs")
    std = inp.get("feature_std")
    if std is not None and (not isinstance(std, list) or len(std) != n_features
                            or not all(_is_num(s) and s > 0 for s in std)):
        raise ValueError(f"'input.feature_std' must be null or {n_features} finite positive numbers")
    classes = m["classes"]
    if not isinstance(classes, list) or not 1 <= len(classes) <= limit("CLASSES"):
        raise ValueError(f"'classes' must be a list of 1..{limit('CLASSES'):,} labels")
    if not all((isinstance(c, str) and len(c) <= 256) or _is_num(c) for c in classes):
        raise ValueError("'classes' must hold labels: strings (≤ 256 characters) or finite numbers")
    if len({(type(c).__name__ == "str", c) for c in classes}) != len(classes):
        raise ValueError("'classes' has repeated labels")
    if len({type(c) is str for c in classes}) > 1:
        raise ValueError("'classes' mixes strings and numbers")
    if not isinstance(m["params"], dict):
        raise ValueError("'params' must be an object")
    files = m["files"]
    if not isinstance(files, dict):
        raise ValueError("'files' must be an object {relative path: sha256}")
    if len(files) > limit("BUNDLE_FILES"):
        raise ValueError(f"'files' lists {len(files):,} files, over the limit of {limit('BUNDLE_FILES'):,} "
                         f"(raise it with UNDETECTABLE_MAX_BUNDLE_FILES={len(files)})")
    for rel, digest in files.items():
        check_rel_path(rel)
        if rel == "manifest.json":
            raise ValueError("'files' lists manifest.json itself")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise ValueError(f"'files[{rel!r}]' is not a sha256 hex digest")
    if "created_by" in m and not (isinstance(m["created_by"], str) and len(m["created_by"]) <= 200):
        raise ValueError("'created_by' must be a short string")
    return m


# --- the bundle's files: no symlinks, nothing outside ------------------------------------------

def check_bundle_tree(root: Path) -> list[str]:
    """Walk ``root`` without following links; return its files' relative posix paths (manifest included).

    Refuses (ValueError) symlinks, devices, fifos and sockets anywhere, more files than
    UNDETECTABLE_MAX_BUNDLE_FILES, and folders nested deeper than the wrapper limit allows.
    """
    out: list[str] = []
    max_files = limit("BUNDLE_FILES")
    max_depth = limit("NESTING") * 2 + 2
    stack: list[tuple[Path, str, int]] = [(root, "", 0)]
    while stack:
        d, prefix, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"folders nested {depth} deep at {prefix!r} (limit UNDETECTABLE_MAX_NESTING)")
        with os.scandir(d) as it:
            for e in it:
                rel = f"{prefix}{e.name}"
                st = e.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    raise ValueError(f"{rel} is a symlink; bundles may not contain links")
                if stat.S_ISDIR(st.st_mode):
                    stack.append((Path(e.path), rel + "/", depth + 1))
                elif stat.S_ISREG(st.st_mode):
                    out.append(rel)
                    if len(out) > max_files:
                        raise ValueError(f"it holds more than {max_files:,} files (limit UNDETECTABLE_MAX_BUNDLE_FILES)")
                else:
                    raise ValueError(f"{rel} is not a regular file (device, fifo or socket)")
    return sorted(out)


def open_nofollow(path: Path, limit_name: str = "FILE_BYTES", what: str | None = None) -> int:
    """Open ``path`` read-only without following a final symlink; check it is a regular file within size."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ValueError(f"{what or path} cannot be opened as a plain file ({exc.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ValueError(f"{what or path} is not a regular file")
    if st.st_size > limit(limit_name):
        os.close(fd)
        raise over_limit(f"{what or path}", st.st_size, limit_name)
    return fd


# --- headers before allocation ------------------------------------------------------------------

_ST_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
              "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}


def check_safetensors(path: Path, what: str) -> None:
    """Check a safetensors file's header: declared shapes × dtypes match the offsets, lie inside the file, within limits."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise BundleError(f"{what} is not a safetensors file (too short); re-create the bundle")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 16 << 20):
            raise BundleError(f"{what}: safetensors header declares {n:,} bytes, more than the file holds; it is corrupted or hostile")
        try:
            header = strict_json(fh.read(n), max_depth=4)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{what}: safetensors header is not valid JSON ({exc}); re-create the bundle") from None
    if not isinstance(header, dict):
        raise BundleError(f"{what}: safetensors header is not an object; re-create the bundle")
    data_len = size - 8 - n
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(t, dict) and t.get("dtype") in _ST_DTYPES and isinstance(t.get("shape"), list)
                and all(_is_int(s) and s >= 0 for s in t["shape"]) and isinstance(t.get("data_offsets"), list)
                and len(t["data_offsets"]) == 2 and all(_is_int(o) and o >= 0 for o in t["data_offsets"])):
            raise BundleError(f"{what}: tensor {str(name)[:40]!r} has a malformed header entry; re-create the bundle")
        nbytes = math.prod(t["shape"]) * _ST_DTYPES[t["dtype"]]
        check_limit(f"{what}: tensor {name!r} {tuple(t['shape'])}", nbytes, "ARRAY_BYTES")
        a, b = t["data_offsets"]
        if b - a != nbytes or b > data_len:
            raise BundleError(f"{what}: tensor {str(name)[:40]!r} declares {nbytes:,} bytes at offsets {a}..{b} of "
                              f"{data_len:,}; the file lies about its size, re-create the bundle")


def npy_header(fh) -> tuple[tuple[int, ...], Any, bool]:
    """Read a .npy header from an open binary file: (shape, dtype, fortran_order). ValueError if not .npy."""
    import numpy as np
    from numpy.lib import format as npf

    version = npf.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = npf.read_array_header_1_0(fh, max_header_size=10_000)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = npf.read_array_header_2_0(fh, max_header_size=10_000)
    else:  # pragma: no cover - numpy rejects unknown versions in read_magic
        raise ValueError(f"unsupported .npy version {version}")
    return tuple(shape), np.dtype(dtype), fortran


def check_npy_header(fh, available: int, what: str, error=UsageError) -> None:
    """Refuse object dtypes and declared sizes beyond ``available`` bytes or the ARRAY_BYTES limit."""
    try:
        shape, dtype, _ = npy_header(fh)
    except (ValueError, EOFError, SyntaxError) as exc:
        raise error(f"{what} is not a readable .npy array ({str(exc).splitlines()[0] if str(exc) else 'bad header'}); "
                    "save it with numpy.save") from None
    if dtype.hasobject:
        raise error(f"{what} holds Python objects (dtype {dtype}), which are never unpickled; save a numeric array")
    nbytes = math.prod(shape) * dtype.itemsize
    check_limit(f"{what} (declared shape {shape}, {dtype})", nbytes, "ARRAY_BYTES", error)
    available -= fh.tell()
    if nbytes > available:
        raise error(f"{what} declares shape {shape} ({nbytes:,} bytes) but holds only {available:,}; it is truncated or corrupted")


def check_zip(path: Path, what: str, error=BundleError) -> None:
    """Before a zip (skops, .npz) is opened for real: member count, total uncompressed size, and each
    ``.npy`` member's declared shape against its declared size and the limits (a zip bomb built small
    is refused without inflating it)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise error(f"{what} is not a readable zip archive ({exc}); re-create it") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limit("BUNDLE_FILES"):
            raise over_limit(f"{what} member count", len(infos), "BUNDLE_FILES", error)
        total = sum(i.file_size for i in infos)
        check_limit(f"{what} uncompressed size", total, "ARCHIVE_BYTES", error)
        for i in infos:
            check_limit(f"{what}: member {i.filename[:60]!r}", i.file_size, "ARRAY_BYTES", error)
            if i.filename.endswith(".npy"):
                with zf.open(i) as fh:
                    check_npy_header(fh, i.file_size, f"{what}: member {i.filename[:60]!r}", error)


def skops_types(path: Path) -> set[str]:
    """Every ``module.class`` named anywhere in a skops file's schema (call ``check_zip`` first)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("schema.json") if "schema.json" in zf.namelist() else None
        if info is None:
            raise BundleError(f"{path} is not a skops file (no schema.json); re-create the bundle")
        try:
            schema = strict_json(zf.read(info), max_depth=limit("JSON_DEPTH") * 4)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{path}: skops schema is not valid JSON ({str(exc)[:120]}); re-create the bundle") from None
    found: set[str] = set()
    stack = [schema]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            if isinstance(o.get("__module__"), str) and isinstance(o.get("__class__"), str):
                found.add(f"{o['__module__']}.{o['__class__']}")
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return found


# --- the user's own knobs ------------------------------------------------------------------------

def check_knob(flag: str, value, low: float, high: float, why: str) -> None:
    """Refuse a cost knob outside [low, high] with the number, the limit and why (UsageError, exit 2)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{flag} must be a number, got {value!r}")
    if value < low:
        raise UsageError(f"{flag} = {value:,} is below {low:,}; pass {flag} ≥ {low:,}")
    if value > high:
        raise UsageError(f"{flag} = {value:,} is over the limit of {high:,} ({why}); pass {flag} ≤ {high:,}")


# --- private key files ---------------------------------------------------------------------------

#: CLI flag --insecure-key-permissions sets this for the run; the library takes a keyword argument.
INSECURE_KEY_PERMISSIONS: contextvars.ContextVar[bool] = contextvars.ContextVar("insecure_key_permissions", default=False)


def check_key_permissions(path: Path, insecure: bool | None = None) -> None:
    """Refuse a private key file that group or others may read or write (as ssh does), unless ``insecure``."""
    if os.name != "posix":  # pragma: no cover
        return
    if insecure is None:
        insecure = INSECURE_KEY_PERMISSIONS.get()
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077 and not insecure:
        raise UsageError(f"private key file {path} is accessible by group/others (mode {mode:04o}); run 'chmod 600 {path}', "
                         "or pass --insecure-key-permissions")
