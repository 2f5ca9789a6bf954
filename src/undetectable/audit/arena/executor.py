"""The arena's executor: pure work units run sequentially, on local joblib workers, or on a Dask cluster.

A unit is a pure function of (scheme, data, seed, role, index, detectors, params, fitted meta state):
it builds one model and scores it with every detector (a model is trained once, not once per detector),
so the same call gives the same scores on any worker (joblib == Dask, tested).
"""
from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable

import numpy as np

from ...errors import ParameterError, UndetectableError
from .catalogue import build_model, dataset, model_seed, null_key


def _limit_threads(threads: int | None):
    """The unit's thread budget (``runtime``): ``threads`` when given (1 per worker when several run), else the
    usable CPUs that other processes are not busy on (torch and BLAS restored afterwards)."""
    from ...runtime import limited_threads, thread_budget

    return limited_threads(threads or thread_budget(1))


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
                score = float(d.run(model, ds, key if d.needs_key else None, _detector_rng(s, name), meta_state or {}))
            except UndetectableError as exc:  # n/a on this model: recorded, the arena goes on
                errors[name] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            if np.isfinite(score):
                scores[name] = score
            else:  # a NaN would move the AUC silently: recorded as this model's error instead
                errors[name] = f"the detector returned a non-finite score ({score})"
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


ARENA_ROLES = ("honest", "backdoored")
SHADOW_ROLES = ("shadow_honest", "shadow_backdoored")


def unit_checker(scheme: str, seed: int, n_max: int, detectors: tuple[str, ...]) -> Callable[[str, dict], None]:
    """The journal's check of one unit read back (``audit.journal.Journal(check=...)``): ValueError unless the key
    names a role of this arena and an index below ``n_max``, the result repeats them, its seed is the one
    ``model_seed`` derives from the arena's seed (a unit of another run or a fabricated one is refused), and
    its scores are finite numbers of known detectors."""
    def check(key: str, r: dict) -> None:
        desc, _, unit = key.rpartition(":")
        role, _, idx = unit.partition("/")
        roles = ARENA_ROLES if desc == f"{scheme} arena" else SHADOW_ROLES if desc == f"{scheme} shadows" else ()
        if role not in roles or not idx.isdigit() or int(idx) >= n_max:
            raise ValueError(f"unknown unit (role {role[:30]!r}, index {idx[:12]!r}); an arena of {scheme} has roles "
                             f"{', '.join(ARENA_ROLES + SHADOW_ROLES)} and indices below {n_max}")
        index = int(idx)
        if r.get("role") != role or r.get("index") != index:
            raise ValueError("the result's role/index differ from its key")
        if r.get("seed") != model_seed(seed, role, index):
            raise ValueError(f"its model seed {str(r.get('seed'))[:24]} is not the one this arena's seed derives for it "
                             "(a unit of another run, or fabricated)")
        if role in ARENA_ROLES:
            scores, errors = r.get("scores"), r.get("errors")
            if not isinstance(scores, dict) or not isinstance(errors, dict):
                raise ValueError("it lacks its scores/errors")
            for name, v in scores.items():
                if name not in detectors:
                    raise ValueError(f"it scores an unknown detector {name[:40]!r}")
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ValueError(f"its {name} score is {str(v)[:24]}, not a finite number")
            if not all(isinstance(e, str) and len(e) <= 1000 for e in errors.values()):
                raise ValueError("its errors are not short strings")
            sec = r.get("seconds")
            if isinstance(sec, bool) or not isinstance(sec, (int, float)) or not 0 <= sec < 1e9:
                raise ValueError("its duration is not a finite non-negative number")

    return check


def _unit_key(u: dict) -> str:
    return f"{u['role']}/{u['index']}"


def _dask_client(scheduler: str):
    """A Dask client for ``tcp://HOST:PORT`` (a running ``dask scheduler``), or ``local`` / ``local:N`` (a
    LocalCluster of N single-threaded worker processes, N = usable CPUs by default). Returns (client, cluster)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover
        raise ParameterError("scheduler", "a scheduler needs dask.distributed; pip install 'undetectable[dist]'") from exc
    if scheduler == "local" or scheduler.startswith("local:"):
        from ...runtime import usable_cpus

        n = scheduler.partition(":")[2]
        if n and not n.isdigit():
            raise ParameterError("scheduler", f"scheduler local:N needs an integer N; got {scheduler!r}")
        cluster = LocalCluster(n_workers=int(n) if n else usable_cpus(), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=10), None  # as_completed needs it as the default client
    except OSError as exc:
        raise ParameterError("scheduler", f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start one "
                             "(`dask scheduler`, then one-thread `dask worker ADDRESS`), use scheduler 'local', or none") from exc


def run_units(fn: Callable[..., dict], units: list[dict], n_jobs: int, scheduler: str | None, desc: str,
              journal=None) -> list[dict]:
    """Run ``fn(**unit)`` for every unit: sequentially, on joblib workers, or on a Dask cluster; keep order.

    With a ``journal`` (``audit.journal.Journal``), units whose key it already holds are not run again, and
    every result is appended to it the moment it arrives (an interrupted run resumes where it stopped).
    Progress: the project's ``progress`` step (a bar on a terminal, plain periodic lines in a log, nothing when quiet),
    counting the units still to run.
    """
    from ...progress import progress

    out: list[dict | None] = [None] * len(units)
    done = journal.done() if journal is not None else {}
    todo = []
    for i, u in enumerate(units):
        k = f"{desc}:{_unit_key(u)}"
        if k in done:
            out[i] = done[k]
        else:
            todo.append(i)

    resumed = len(units) - len(todo)
    label = desc + (f" (resumed: {resumed} of {len(units)} from the journal)" if resumed else "")
    with progress(label, total=len(todo), unit="units") as prog:

        def finish(i: int, r: dict) -> None:
            out[i] = r
            if journal is not None:
                journal.append(f"{desc}:{_unit_key(units[i])}", r)
            prog.advance()

        if not todo:
            pass
        elif scheduler:
            from dask.distributed import as_completed

            client, cluster = _dask_client(scheduler)
            try:
                futures = [client.submit(fn, pure=False, key=f"{desc}-{i}-{time.time_ns()}", **units[i]) for i in todo]
                where = {f.key: i for i, f in zip(todo, futures)}
                for fut in as_completed(futures):
                    finish(where[fut.key], fut.result())
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        elif n_jobs == 1:
            for i in todo:
                finish(i, fn(**units[i]))
        else:
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for i, r in par(delayed(_indexed)(fn, i, units[i]) for i in todo):
                finish(i, r)
    return out  # type: ignore[return-value]


def _indexed(fn, i, u):
    return i, fn(**u)
