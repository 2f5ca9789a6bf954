"""Arena results stream to disk as models finish; an interrupted run resumes where it stopped.

``Journal(path, config, check=None)`` is an append-only JSON-lines file (``OUT/units.jsonl``):

* line 1, the header: ``{"journal": 2, "fingerprint": sha256(config), "config": {...}}`` — the arena's
  scheme, data, seed, parameters and detectors. Resuming with a different configuration is refused
  (one line naming the file), so a journal never mixes two populations;
* then one line per finished work unit: ``{"key": "honest/17", "fp": <the header's fingerprint>, "result": {...}}``,
  written and flushed (``fsync``) the moment the unit's result reaches the parent process — from joblib
  workers or from a Dask cluster alike. A last line cut short by a kill is ignored on reading; numpy arrays
  (the shadow models' meta-classifier records) are stored as ``{"__nd__": dtype, "shape": [...], "data": [...]}``.

Reading a journal back treats it as untrusted (issue 19 §6): the file is opened without following a link
(a symlinked ``units.jsonl`` is refused, never read or written through); every line is bounded
(``UNDETECTABLE_MAX_JOURNAL_LINE_BYTES``) before it is parsed, parsed strictly (no NaN/Infinity, no duplicate
keys, bounded depth), must carry the header's fingerprint (a line spliced from another run — another seed,
other options — is refused), may not repeat a unit, and decodes only numeric arrays whose declared shape
matches their data. ``check(key, result)`` (the arena's: roles, indices, each unit's seed recomputed from
the configuration, finite scores) refuses the rest. What this does not do: it is not a MAC — whoever can
write the folder can compute a matching fingerprint and seed and write any finite scores; keep ``--out``
private if that matters.

Work units are pure functions of their arguments, so a unit computed before the interruption is the
unit that would be computed now: resuming skips every key already in the journal and runs the rest.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "units.jsonl"
>>> j = Journal(p, {"scheme": "rff"})
>>> j.append("honest/0", {"scores": {"mp_edge": 0.5}})
>>> Journal(p, {"scheme": "rff"}).done()["honest/0"]["scores"]
{'mp_edge': 0.5}
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

from ..errors import UsageError

VERSION = 2
_ND_KINDS = "biuf"  # arrays in a journal are numbers: no objects, strings or voids


def _enc(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return {"__nd__": x.dtype.str, "shape": list(x.shape), "data": x.ravel().tolist()}
    if isinstance(x, dict):
        return {str(k): _enc(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_enc(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def _dec(x: Any) -> Any:
    if isinstance(x, dict):
        if "__nd__" in x:
            return _dec_array(x)
        return {k: _dec(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_dec(v) for v in x]
    return x


def _dec_array(x: dict) -> np.ndarray:
    """A numeric array whose declared dtype and shape agree with its data (ValueError otherwise)."""
    try:
        dt = np.dtype(x["__nd__"])
    except (TypeError, ValueError):
        raise ValueError(f"an array declares dtype {str(x.get('__nd__'))[:40]!r}") from None
    shape, data = x.get("shape"), x.get("data")
    if dt.kind not in _ND_KINDS or dt.itemsize > 16:
        raise ValueError(f"an array declares dtype {dt.str}; journals hold numeric arrays only")
    if not (isinstance(shape, list) and len(shape) <= 8 and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise ValueError("an array's shape is not a list of at most 8 non-negative integers")
    if not isinstance(data, list) or math.prod(shape) != len(data):
        raise ValueError(f"an array declares shape {shape} but holds {len(data) if isinstance(data, list) else 'no'} values")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, bool) and dt.kind == "b" for v in data):
        raise ValueError("an array holds values that are not numbers")
    return np.asarray(data, dtype=dt).reshape(shape)


def _parse(raw: bytes) -> Any:
    """One journal line: duplicate keys refused, depth bounded (NaN allowed here: arrays of features may hold it;
    every number outside an array must be finite, ``_check_finite``)."""
    from ..safety import _no_duplicates

    text = raw.decode("utf-8")
    if text.count("[") + text.count("{") > 64 and max(_depths(text)) > 64:
        raise ValueError("nested deeper than 64 levels")
    return json.loads(text, object_pairs_hook=_no_duplicates)


def _depths(text: str):
    d = 0
    for ch in text:  # an upper bound (brackets inside strings count too): enough to refuse absurd nesting
        if ch in "[{":
            d += 1
            yield d
        elif ch in "]}":
            d -= 1
    yield 0


def _check_finite(x: Any, where: str = "result") -> None:
    """Every number outside a numpy array record is finite (a NaN score would move an AUC silently)."""
    if isinstance(x, dict):
        if "__nd__" in x:
            return
        for k, v in x.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(x, list):
        for v in x:
            _check_finite(v, where)
    elif isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"{where} is {x}, not a finite number")


def fingerprint(config: dict) -> str:
    """sha256 of the configuration's canonical JSON (keys sorted)."""
    return hashlib.sha256(json.dumps(_enc(config), sort_keys=True, default=str).encode()).hexdigest()


def _open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        raise UsageError(f"{path} cannot be opened as a plain file ({exc.strerror}); remove it or choose another output folder") from None


class Journal:
    """Append-only JSON-lines record of finished arena units; see the module docstring.

    ``check(key, result)``: raises ValueError (its message says what is wrong) for a unit line that does
    not belong to this configuration; called on every line read back.
    """

    def __init__(self, path: str | Path, config: dict, check: Callable[[str, dict], None] | None = None) -> None:
        self.path = Path(path)
        self.config = config
        self.check = check
        self.fp = fingerprint(config)
        self._done: dict[str, dict] = {}
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise UsageError(f"{self.path} is a symlink; refusing to read or write an arena journal through it, remove the link "
                             "or choose another output folder")
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{self.path} is not a regular file; remove it or choose another output folder")
        if st is not None and st.st_size > 0:
            self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write_line({"journal": VERSION, "fingerprint": self.fp, "config": _enc(config)})

    def _refuse(self, n: int, why: str) -> UsageError:
        return UsageError(f"{self.path} line {n}: {why}; this journal is damaged or was edited: remove the line (or the "
                          "file, to start afresh)")

    def _read(self) -> None:
        from ..safety import limit

        max_line = limit("JOURNAL_LINE_BYTES")
        fd = _open_nofollow(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            n = 0
            while True:
                raw = fh.readline(max_line + 1)
                if not raw:
                    break
                n += 1
                complete = raw.endswith(b"\n")
                if len(raw) > max_line:
                    raise UsageError(f"{self.path} line {n} is over {max_line:,} bytes; if you trust it, raise the limit "
                                     f"with UNDETECTABLE_MAX_JOURNAL_LINE_BYTES")
                if not raw.strip():
                    continue
                try:
                    rec = _parse(raw)
                except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                    if n == 1:
                        raise UsageError(f"{self.path} is not an arena journal (unreadable header); remove it or choose another "
                                         "output folder") from None
                    if not complete:
                        continue  # the last line of a killed run may be cut short (a shorter line ends with a newline)
                    raise self._refuse(n, f"not valid JSON ({str(exc)[:80]})") from None
                if n == 1:
                    self._check_header(rec)
                    continue
                self._take(n, rec)
        if n == 0:
            raise UsageError(f"{self.path} is not an arena journal (no header); remove it or choose another output folder")

    def _check_header(self, head: Any) -> None:
        if not isinstance(head, dict) or head.get("journal") != VERSION:
            raise UsageError(f"{self.path} is not an arena journal of this version; remove it (or pass force) to start afresh")
        if head.get("fingerprint") != self.fp or fingerprint(_dec(head.get("config"))) != self.fp:
            raise UsageError(f"{self.path} belongs to a different arena configuration (scheme, data, seed, params or "
                             "detectors differ); use the same options to resume, or pass force to start afresh")

    def _take(self, n: int, rec: Any) -> None:
        if not isinstance(rec, dict) or set(rec) != {"key", "fp", "result"}:
            raise self._refuse(n, "not a unit record {key, fp, result}")
        key, result = rec["key"], rec["result"]
        if rec["fp"] != self.fp:
            raise self._refuse(n, "the unit belongs to another arena configuration (another seed or other options)")
        if not isinstance(key, str) or not 0 < len(key) <= 200:
            raise self._refuse(n, "the unit key is not a short string")
        if key in self._done:
            raise self._refuse(n, f"unit {key!r} appears twice")
        if not isinstance(result, dict):
            raise self._refuse(n, "the unit result is not an object")
        try:
            _check_finite(result)
            result = _dec(result)
            if self.check is not None:
                self.check(key, result)
        except ValueError as exc:
            raise self._refuse(n, f"unit {key!r}: {exc}") from None
        self._done[key] = result

    def _write_line(self, obj: dict) -> None:
        fd = _open_nofollow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def done(self) -> dict[str, dict]:
        """key -> result of every unit already finished."""
        return dict(self._done)

    def append(self, key: str, result: dict) -> None:
        """Record one finished unit (flushed to disk before returning)."""
        enc = _enc(result)
        _check_finite(enc)  # what could not be read back is not written
        if self.check is not None:
            self.check(key, result)
        self._write_line({"key": key, "fp": self.fp, "result": enc})
        self._done[key] = result
