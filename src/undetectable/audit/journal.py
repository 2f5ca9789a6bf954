"""Arena results stream to disk as models finish; an interrupted run resumes where it stopped.

``Journal(path, config)`` is an append-only JSON-lines file (``OUT/units.jsonl``):

* line 1, the header: ``{"journal": 1, "config": {...}, "fingerprint": sha256(config)}`` — the arena's
  scheme, data, seed, parameters and detectors. Resuming with a different configuration is refused
  (one line naming the file), so a journal never mixes two populations;
* then one line per finished work unit: ``{"key": "honest/17", "result": {...}}``, written and flushed
  (``fsync``) the moment the unit's result reaches the parent process — from joblib workers or from a
  Dask cluster alike. A line cut short by a kill is ignored on reading; numpy arrays (the shadow models'
  meta-classifier records) are stored as ``{"__nd__": dtype, "shape": [...], "data": [...]}``.

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
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError


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
        if "__nd__" in x and "shape" in x and "data" in x:
            return np.asarray(x["data"], dtype=np.dtype(x["__nd__"])).reshape(x["shape"])
        return {k: _dec(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_dec(v) for v in x]
    return x


def fingerprint(config: dict) -> str:
    """sha256 of the configuration's canonical JSON (keys sorted)."""
    return hashlib.sha256(json.dumps(_enc(config), sort_keys=True, default=str).encode()).hexdigest()


class Journal:
    """Append-only JSON-lines record of finished arena units; see the module docstring."""

    def __init__(self, path: str | Path, config: dict) -> None:
        self.path = Path(path)
        self.config = config
        self.fp = fingerprint(config)
        self._done: dict[str, dict] = {}
        if self.path.exists() and self.path.stat().st_size > 0:
            self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write_line({"journal": 1, "fingerprint": self.fp, "config": _enc(config)})

    def _read(self) -> None:
        with open(self.path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        try:
            head = json.loads(lines[0])
        except json.JSONDecodeError:
            raise UsageError(f"{self.path} is not an arena journal (unreadable header); remove it or choose another output folder") from None
        if head.get("fingerprint") != self.fp:
            raise UsageError(f"{self.path} belongs to a different arena configuration (scheme, data, seed, params or "
                             "detectors differ); use the same options to resume, or start afresh (force)")
        for line in lines[1:]:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # the last line of a killed run may be cut short
                continue
            self._done[rec["key"]] = _dec(rec["result"])

    def _write_line(self, obj: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def done(self) -> dict[str, dict]:
        """key -> result of every unit already finished."""
        return dict(self._done)

    def append(self, key: str, result: dict) -> None:
        """Record one finished unit (flushed to disk before returning)."""
        self._write_line({"key": key, "result": _enc(result)})
        self._done[key] = result

