"""``undetectable arena``: N honest vs N backdoored models, every applicable detector, AUC with 95% CI.

Undetectable (§6, appendix) means no key-free detector separates the populations once the k tests are
corrected for multiplicity (Holm; ``audit.power``); the key oracles
(``key_oracles``) and a classical BadNets backdoor are the positive controls that must be detected.
Meta-classifiers are first fitted on held-out shadow models (their own units, with disjoint seeds).
"""
from __future__ import annotations

import time
from pathlib import Path
from collections.abc import Iterable

import numpy as np

from ...errors import ParameterError, UsageError
from .catalogue import check_scheme, construction_params, dataset, scheme_params
from .executor import evaluate_unit, run_units, shadow_unit
from .metrics import detector_summary


def arena_detectors(scheme: str, names: Iterable[str] | None = None) -> list[tuple[str, bool]]:
    """(name, needs_key) of the detectors that apply to ``scheme``."""
    from ..base import get_detectors

    names = list(names) if names else None
    dets = get_detectors(names, scheme)
    if names and not dets:
        raise ParameterError("detectors", f"none of the detectors {names} applies to scheme {scheme!r}; leave detectors None to run all that do")
    return [(d.name, d.needs_key) for d in dets]


#: Models per population beyond this are refused (hours of training; split the run with --scheduler instead).
MAX_MODELS = 1000
#: Local joblib workers beyond this are refused (each is a process; a cluster goes through --scheduler).
MAX_JOBS = 1024


def run_arena(scheme: str, data: str, n_models: int, detectors: list[str] | None = None, quick: bool = False, seed: int = 0,
              n_jobs: int = 1, scheduler: str | None = None, out: str | Path | None = None, params: dict | None = None,
              n_shadows: int | None = None, force: bool = False, resume: bool = False, partial: bool = False) -> dict:
    """Build ``n_models`` honest and ``n_models`` backdoored models of ``scheme``, run every applicable
    detector, and summarize (AUC + 95% CI, TrojAI cross-entropy, TPR at 5% FPR).

    With ``out``, writes ``out/arena.json`` and ``out/roc_<scheme>.png``, and streams every finished model's
    scores to ``out/units.jsonl`` as it finishes; ``resume=True`` continues an interrupted run from that
    journal (same options; ``n_models`` may grow). ``partial=True`` (with ``resume``) runs nothing: it
    summarizes the units the journal already holds into ``out/arena.partial.json`` (honest and backdoored
    units alternate, so any prefix of a run is a balanced population). The record's ``multiple_testing`` entry holds Holm /
    Benjamini–Hochberg corrections across the key-free detectors (``audit.power``); every detector's ``verdict`` and
    the record's ``verdict`` come from the Holm-adjusted p-values, never from an uncorrected CI. Returns the arena record.
    """
    from ...data import load_dataset
    from ...report.results import versions

    check_scheme(scheme)
    if partial and (out is None or not resume):
        raise ParameterError("partial", "partial summarizes an existing journal; use it with resume and out")
    if not isinstance(n_models, (int, np.integer)) or n_models < 2:
        raise ParameterError("n_models", f"n models must be an integer ≥ 2 (per population); got {n_models!r}")
    from ...safety import check_knob

    check_knob("n_models", int(n_models), 2, MAX_MODELS, "each population trains and audits that many models")
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ParameterError("n_jobs", f"n jobs must be a positive integer or -1 (all cores); got {n_jobs!r}")
    from ...safety import check_param

    check_param("n_jobs", int(n_jobs), -1, MAX_JOBS, "local worker processes; use a Dask scheduler for more")
    if n_shadows is not None:
        check_param("n_shadows", n_shadows, 1, MAX_MODELS, "each shadow model is trained and queried")
    load_dataset(data)  # fail early, with the dataset's own error
    if out is not None:
        from ...fileio import check_writable

        out = Path(out)
        if out.exists() and not out.is_dir():
            raise ParameterError("out", f"{out} exists and is not a directory; pass a directory as out")
        if out.is_dir() and not resume:
            check_writable(out / "arena.json", force)
            if (out / "units.jsonl").exists() and not force:
                raise ParameterError("resume", f"{out / 'units.jsonl'} holds a previous (interrupted?) run; pass resume=True to continue it "
                                     "or force=True to start afresh")
    dets = arena_detectors(scheme, detectors)
    names = tuple(n for n, _ in dets)
    p = {**scheme_params(scheme, quick), **(params or {})}
    threads = 1 if (n_jobs != 1 or scheduler) else None
    t0 = time.perf_counter()

    # 1. meta-classifiers: fit on held-out shadow populations (disjoint seeds and keys)
    meta_state: dict = {}
    from ..base import get_detector

    want = tuple(n for n in names if get_detector(n).fitted)
    n_sh = int(n_shadows or max(4, n_models // 2 if quick else n_models))
    n_queries = 16
    journal = None
    if out is not None:
        from ..journal import Journal

        from .executor import unit_checker

        out.mkdir(parents=True, exist_ok=True)
        jpath = out / "units.jsonl"
        if jpath.is_symlink():
            raise UsageError(f"{jpath} is a symlink; refusing to read or write an arena journal through it, remove the link "
                             "or choose another output folder")
        if force and not resume and jpath.exists():
            jpath.unlink()
        journal = Journal(jpath, {"scheme": scheme, "data": data, "seed": int(seed), "quick": bool(quick),
                                  "params": p, "detectors": sorted(names), "n_shadows": n_sh if want else 0},
                          check=unit_checker(scheme, int(seed), max(MAX_MODELS, n_sh), names))
    if want and not partial:
        from ..meta import fit_blackbox, fit_whitebox

        units = [dict(scheme=scheme, data=data, seed=seed, role=r, index=i, want=want, params=p, pool_seed=seed + 7,
                      n_queries=n_queries, threads=threads) for r in ("shadow_honest", "shadow_backdoored") for i in range(n_sh)]
        recs = run_units(shadow_unit, units, n_jobs, scheduler, f"{scheme} shadows", journal)
        labels = np.array([r["role"] == "shadow_backdoored" for r in recs], dtype=int)
        mrng = np.random.default_rng([seed, 4242])
        if "meta_blackbox" in want:
            meta_state["meta_blackbox"] = fit_blackbox(recs, labels, dataset(data), mrng, n_queries=10, steps=150 if quick else 300)
        if "meta_whitebox" in want and all("wb" in r for r in recs):
            meta_state["meta_whitebox"] = fit_whitebox(np.stack([r["wb"] for r in recs]), labels)
    t_shadow = time.perf_counter() - t0

    # 2. the evaluated populations
    units = [dict(scheme=scheme, data=data, seed=seed, role=r, index=i, detectors=names, params=p, meta_state=meta_state,
                  threads=threads) for i in range(n_models) for r in ("honest", "backdoored")]  # alternate: prefixes balance
    if partial:
        done = journal.done() if journal is not None else {}
        units = [u for u in units if f"{scheme} arena:{u['role']}/{u['index']}" in done]
        if not units:
            raise UsageError(f"{out}/units.jsonl holds no finished model yet; nothing to summarize")
    res = run_units(evaluate_unit, units, n_jobs, scheduler, f"{scheme} arena", journal)
    elapsed = time.perf_counter() - t0

    crng = np.random.default_rng([seed, 2024])
    summaries: list[dict] = []
    scores: dict[str, dict[str, list[float]]] = {}
    for name, needs_key in dets:
        h = [r["scores"][name] for r in res if r["role"] == "honest" and name in r["scores"]]
        b = [r["scores"][name] for r in res if r["role"] == "backdoored" and name in r["scores"]]
        errs = sorted({r["errors"][name] for r in res if name in r["errors"]})
        summaries.append(detector_summary(name, needs_key, h, b, crng) | ({"errors": errs[:3]} if errs else {}))
        scores[name] = {"honest": h, "backdoored": b}
    from ..power import arena_verdicts, correct_arena

    multiple = correct_arena(summaries, scores, np.random.default_rng([seed, 2025]))
    verdict = arena_verdicts(summaries, multiple)
    record = {
        "scheme": scheme, "detectors": summaries, "data": data, "seed": seed, "quick": quick, "n_models": int(n_models),
        **({"partial": {"n_honest": sum(r["role"] == "honest" for r in res), "n_backdoored": sum(r["role"] == "backdoored" for r in res),
                        "note": "summary of the finished units of an unfinished run (arena --resume --partial)"}} if partial else {}),
        "n_shadows": n_sh if want else 0, "params": p,
        "model_seeds": {"honest": [r["seed"] for r in res if r["role"] == "honest"],
                        "backdoored": [r["seed"] for r in res if r["role"] == "backdoored"]},
        "scores": scores, "versions": versions(), "multiple_testing": multiple, "verdict": verdict,
        "timing": {"seconds": elapsed, "shadow_seconds": t_shadow, "n_jobs": n_jobs, "scheduler": scheduler,
                   "model_seconds": [r["seconds"] for r in res],
                   "models_x_detectors_per_minute": 60.0 * len(res) * len(dets) / elapsed if elapsed else None},
    }
    record["construction"] = construction_params(scheme, data, p)
    if out is not None:
        from ...report.results import write_json

        out.mkdir(parents=True, exist_ok=True)
        from .figure import roc_figure

        fig = roc_figure(record, out / f"roc_{scheme}{'.partial' if partial else ''}.png")
        record["figures"] = [fig.name]
        write_json(out / ("arena.partial.json" if partial else "arena.json"), record, force=True)
    return record
