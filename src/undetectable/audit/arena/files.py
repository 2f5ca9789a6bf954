"""The arena over the user's own populations: a folder of honest model files and a folder of suspect ones.

``run_file_arena(honest_dir, suspect_dir, data)`` loads every ``*.onnx`` file of each folder (regular files
only, no symlinks, at most ``UNDETECTABLE_MAX_BUNDLE_FILES`` per folder), runs every detector that applies
to a model file (black-box detectors with ``data``; graph detectors such as ``integer-subgraph`` without),
and summarizes each detector exactly as the scheme arena does (``metrics.detector_summary``: ROC-AUC with
a 95% bootstrap CI, TrojAI cross-entropy, TPR at 5% FPR; label 1 = suspect). Key oracles and fitted
meta-classifiers need keys or shadow populations the user does not have, so they are left out.
"""
from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UndetectableError, UsageError


def model_files(folder: str | os.PathLike, role: str) -> list[Path]:
    """The ``*.onnx`` regular files directly inside ``folder`` (sorted); ``UsageError`` naming the folder otherwise."""
    from ...safety import limit

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"the {role} folder {folder} does not exist or is not a directory; pass a folder of .onnx model files")
    found = []
    for p in sorted(folder.iterdir()):
        if p.name.endswith(".onnx") and stat.S_ISREG(os.lstat(p).st_mode):
            found.append(p)
            if len(found) > limit("BUNDLE_FILES"):
                raise UsageError(f"the {role} folder {folder} holds more than {limit('BUNDLE_FILES'):,} model files; if you trust "
                                 "it, raise the limit with UNDETECTABLE_MAX_BUNDLE_FILES")
    if len(found) < 2:
        raise UsageError(f"the {role} folder {folder} holds {len(found)} .onnx file(s); an AUC needs at least 2 models per side")
    return found


def file_detectors(names: list[str] | None = None) -> list[Any]:
    """The detectors that can score a model file without a key or shadow models."""
    from ..base import get_detectors

    dets = [d for d in get_detectors(names) if not d.needs_key and not d.fitted]
    if names and not dets:
        raise UsageError(f"none of the detectors {names} scores a model file without a key or shadow models; omit the "
                         "detector list to run all that do")
    return dets


def run_file_arena(honest_dir: str | os.PathLike, suspect_dir: str | os.PathLike, data: Any = None,
                   detectors: list[str] | None = None, seed: int = 0, out: str | os.PathLike | None = None,
                   force: bool = False) -> dict[str, Any]:
    """Score every model file of both folders with every applicable detector; one summary per detector.

    Returns the arena record: ``detectors`` (one ``detector_summary`` each, plus ``errors``: why a detector
    did not score some model), ``models`` (path, role, scores), ``scores`` per detector and side. With ``out``
    also ``out/arena.json`` and the ROC figure ``out/roc_files.png``.
    """
    from ...models.onnx_file import OnnxModel
    from ...progress import track
    from .metrics import detector_summary

    honest, suspect = model_files(honest_dir, "honest"), model_files(suspect_dir, "suspect")
    if out is not None:
        from ...fileio import check_writable

        out = Path(out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} exists and is not a directory; pass a directory for the arena's output")
        if out.is_dir():
            check_writable(out / "arena.json", force, "file", [*honest, *suspect])
    dets = file_detectors(detectors)
    t0 = time.perf_counter()
    models: list[dict[str, Any]] = []
    for role, paths in (("honest", honest), ("suspect", suspect)):
        for i, path in enumerate(track(paths, f"arena: {role} models", unit="models")):
            m = OnnxModel.from_file(path)
            scores, errors = {}, {}
            for det in dets:
                try:
                    scores[det.name] = det.run(m, data, None, np.random.default_rng([int(seed), i]))
                except UndetectableError as exc:  # n/a on this model: recorded, never a crash
                    errors[det.name] = " ".join(str(exc).split())[:200]
            models.append({"path": str(path), "role": role, "scores": scores, "errors": errors})
    rng = np.random.default_rng([int(seed), 2024])
    summaries, per_side = [], {}
    for det in dets:
        h = [r["scores"][det.name] for r in models if r["role"] == "honest" and det.name in r["scores"]]
        s = [r["scores"][det.name] for r in models if r["role"] == "suspect" and det.name in r["scores"]]
        errs = sorted({r["errors"][det.name] for r in models if det.name in r["errors"]})
        summary = detector_summary(det.name, False, h, s, rng)
        summaries.append(summary | ({"errors": errs[:3]} if errs else {}))
        per_side[det.name] = {"honest": h, "backdoored": s}
    elapsed = time.perf_counter() - t0
    record: dict[str, Any] = {
        "scheme": "files", "honest": str(honest_dir), "suspect": str(suspect_dir), "n_honest": len(honest), "n_suspect": len(suspect),
        "data": getattr(data, "name", None), "seed": int(seed), "detectors": summaries, "models": models, "scores": per_side,
        "timing": {"seconds": elapsed},
        "note": "label 1 = suspect; AUC ½ = the detector cannot tell the two folders apart",
    }
    if out is not None:
        from ...report.results import write_json
        from .figure import roc_figure

        out.mkdir(parents=True, exist_ok=True)
        if any(d["auc"] is not None for d in summaries):
            record["figures"] = [roc_figure(record, out / "roc_files.png").name]
        write_json(out / "arena.json", record, force=force)
    return record
