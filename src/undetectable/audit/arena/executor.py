"""The arena's executor: pure work units run sequentially, on local joblib workers, or on a Dask cluster.

A unit is a pure function of (scheme, data, seed, role, index, detectors, params, fitted meta state):
it builds one model and scores it with every detector (a model is trained once, not once per detector),
so the same call gives the same scores on any worker (joblib == Dask, tested).
"""
from __future__ import annotations

import contextlib
import time
import zlib
from typing import Any, Callable

import numpy as np

from ...errors import UndetectableError, UsageError
from .catalogue import build_model, dataset, model_seed, null_key


def _limit_threads(threads: int | None):
    if not threads:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass
    return threadpool_limits(threads)


def _detector_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def evaluate_unit(scheme: str, data: str, seed: int, role: str, index: int, detectors: tuple[str, ...], params: dict,
                  meta_state: dict | None = None, threads: int | None = None) -> dict:
    """Build one model and score it with every detector: {"role", "index", "seed", "scores", "errors", "seconds"}.

    A pure function of its arguments: the same call gives the same scores on any worker. A detector that
    cannot run on this model (``NotApplicable``, or any one-line ``UndetectableError``) is recorded in
    "errors"; any other exception is a bug and propagates.
    """
    from ..base import get_detector

    t0 = time.perf_counter()
    s = model_seed(seed, role, index)
    with _limit_threads(threads):
        model, key = build_model(scheme, data, s, role == "backdoored", params)
        if key is None:
            key = null_key(scheme, model, s, params)
        ds = dataset(data)
        scores, errors = {}, {}
        for name in detectors:
            d = get_detector(name)
            try:
                scores[name] = float(d.run(model, ds, key if d.needs_key else None, _detector_rng(s, name), meta_state or {}))
            except UndetectableError as exc:  # n/a on this model: recorded, the arena goes on
                errors[name] = f"{type(exc).__name__}: {exc}"[:300]
    return {"role": role, "index": index, "seed": s, "scores": scores, "errors": errors, "seconds": time.perf_counter() - t0}


def shadow_unit(scheme: str, data: str, seed: int, role: str, index: int, want: tuple[str, ...], params: dict,
                pool_seed: int, n_queries: int, threads: int | None = None) -> dict:
    """Build one shadow model and return what the meta-classifiers learn from it (numpy arrays only)."""
    from ..meta import query_pool, shadow_record

    s = model_seed(seed, role, index)
    with _limit_threads(threads):
        model, _ = build_model(scheme, data, s, role == "shadow_backdoored", params)
        ds = dataset(data)
        rec = shadow_record(model, ds, query_pool(ds, n_queries, np.random.default_rng(pool_seed)), _detector_rng(s, "ks_proj"), want)
    rec.update(role=role, index=index, seed=s)
    return rec


def run_units(fn: Callable[..., dict], units: list[dict], n_jobs: int, scheduler: str | None, desc: str) -> list[dict]:
    """Run ``fn(**unit)`` for every unit: sequentially, on joblib workers, or on a Dask cluster; keep order."""
    from ...progress import progress

    out: list[dict | None] = [None] * len(units)
    with progress(desc, total=len(units), unit="models") as bar:
        if scheduler:
            try:
                from dask.distributed import Client, as_completed
            except ImportError as exc:  # pragma: no cover
                raise UsageError("--scheduler needs dask.distributed; pip install 'undetectable[dist]'") from exc
            try:
                client = Client(scheduler, timeout=10)  # as_completed needs it as the default client
            except OSError as exc:
                raise UsageError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start one or drop --scheduler") from exc
            try:
                futures = [client.submit(fn, pure=False, key=f"{desc}-{i}-{time.time_ns()}", **u) for i, u in enumerate(units)]
                where = {f.key: i for i, f in enumerate(futures)}
                for fut in as_completed(futures):
                    out[where[fut.key]] = fut.result()
                    bar.advance()
            finally:
                client.close()
        elif n_jobs == 1:
            for i, u in enumerate(units):
                out[i] = fn(**u)
                bar.advance()
        else:
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for i, r in par(delayed(_indexed)(fn, i, u) for i, u in enumerate(units)):
                out[i] = r
                bar.advance()
    return out  # type: ignore[return-value]


def _indexed(fn, i, u):
    return i, fn(**u)
