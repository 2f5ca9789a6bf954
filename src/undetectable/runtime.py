"""How many threads long work may use: usable CPUs, and one deliberate thread budget for BLAS, OpenMP and torch.

BLAS (OpenBLAS / MKL), OpenMP and torch each size their thread pools to the machine's core count at
import. That is right on an idle machine and wrong almost everywhere else: on a shared server, a laptop
running a browser, or a cluster node with a CPU quota, those threads busy-wait on each other and on every
other process (measured on a 2-core machine with three busy neighbours: a 4 + 4 arena 5–17× slower
than idle; see ``benchmarks/bench_load.py``). This module decides the budget once:

* ``usable_cpus()`` — the CPUs this process may really use: the smallest of the scheduler affinity mask
  (``os.sched_getaffinity``: taskset, cpuset, Slurm/Kubernetes pinning), the cgroup CPU quota rounded
  up (cgroup v2 ``cpu.max``; v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``) and ``os.cpu_count()``;
  ``UNDETECTABLE_THREADS`` overrides it.
* ``thread_budget(workers)`` — threads per process: **one** per worker when several run (the arena
  parallelizes over models, not inside them); for a single process, the usable CPUs that other
  processes are not running on right now (``/proc/loadavg``'s runnable count), at least one.
* ``limited_threads(n)`` — a context manager (and ``@with_thread_budget`` a decorator) that applies the
  budget to every loaded BLAS / OpenMP pool (threadpoolctl) and to torch's intra-op pool, and restores
  the previous sizes on exit. Used around arena work units, ``audit``, demo sections, smoothing and
  training.

Caveat: a quota or affinity mask says what the process may use, not what is free. A busy machine with no
quota still reports every core; ``limited_threads`` then caps the pools at the usable count, which removes
the oversubscription *inside* this process but cannot make other processes yield.

Examples
--------
>>> from undetectable.runtime import limited_threads, thread_budget
>>> thread_budget(workers=4)
1
>>> thread_budget(workers=1, cpus=2, others=3)  # two cores, three busy neighbours
1
>>> with limited_threads(1):
...     pass
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from pathlib import Path
from typing import TypeVar
from collections.abc import Callable, Iterator

F = TypeVar("F", bound=Callable)

ENV_THREADS = "UNDETECTABLE_THREADS"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroup_paths(proc_cgroup: Path) -> dict[str, str]:
    """controller (or "" for the v2 unified hierarchy) -> this process's cgroup path, from /proc/self/cgroup."""
    text = _read(proc_cgroup)
    out: dict[str, str] = {}
    if not text:
        return out
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for c in (controllers.split(",") if controllers else [""]):
            out[c] = path
    return out


def _quota_v2(text: str | None) -> float | None:
    """cgroup v2 ``cpu.max`` ("QUOTA PERIOD" or "max PERIOD") -> CPUs, None when unlimited or unreadable."""
    if not text:
        return None
    parts = text.split()
    if not parts or parts[0] == "max":
        return None
    try:
        quota = float(parts[0])
        period = float(parts[1]) if len(parts) > 1 else 100000.0
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(quota_text: str | None, period_text: str | None) -> float | None:
    """cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` -> CPUs (quota −1 = unlimited -> None)."""
    try:
        quota, period = float(quota_text or ""), float(period_text or "")
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cpu_quota(root: str | Path = "/sys/fs/cgroup", proc_cgroup: str | Path = "/proc/self/cgroup") -> float | None:
    """The CPU quota (in CPUs, possibly fractional) of this process's cgroup, or None when there is none.

    Looks at the process's own cgroup directory and every ancestor up to ``root`` (the tightest quota
    wins), for cgroup v2 (``cpu.max``) and v1 (``cpu/`` or ``cpu,cpuacct/`` with ``cpu.cfs_quota_us``).

    Examples
    --------
    >>> q = cgroup_cpu_quota()
    >>> q is None or q > 0
    True
    """
    root = Path(root)
    own = _own_cgroup_paths(Path(proc_cgroup))
    found: list[float] = []

    def ancestors(rel: str) -> list[str]:
        parts = [p for p in rel.strip("/").split("/") if p]
        return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]

    # v2: the unified hierarchy mounted at root (or root/unified in hybrid mode)
    for base in (root, root / "unified"):
        for rel in ancestors(own.get("", "/")):
            q = _quota_v2(_read(base / rel / "cpu.max"))
            if q is not None:
                found.append(q)
    # v1: the cpu controller
    for ctl in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        base = root / ctl
        rel0 = own.get("cpu", "/")
        for rel in ancestors(rel0):
            q = _quota_v1(_read(base / rel / "cpu.cfs_quota_us"), _read(base / rel / "cpu.cfs_period_us"))
            if q is not None:
                found.append(q)
    return min(found) if found else None


def affinity_cpus() -> int:
    """CPUs in this process's scheduler affinity mask (``os.cpu_count()`` where the OS has no such call)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def usable_cpus(root: str | Path = "/sys/fs/cgroup", proc_cgroup: str | Path = "/proc/self/cgroup",
                env: dict | None = None) -> int:
    """CPUs this process may use: min(affinity mask, ⌈cgroup quota⌉, cpu_count), or ``$UNDETECTABLE_THREADS``.

    Examples
    --------
    >>> usable_cpus() >= 1
    True
    >>> usable_cpus(env={"UNDETECTABLE_THREADS": "3"})
    3
    """
    forced = (os.environ if env is None else env).get(ENV_THREADS)
    if forced:
        try:
            n = int(forced)
        except ValueError:
            from .errors import UsageError

            raise UsageError(f"{ENV_THREADS} must be a positive integer; got {forced!r}") from None
        if n < 1:
            from .errors import UsageError

            raise UsageError(f"{ENV_THREADS} must be a positive integer; got {forced!r}")
        return n
    n = affinity_cpus()
    q = cgroup_cpu_quota(root, proc_cgroup)
    if q is not None:
        n = min(n, max(1, math.ceil(q - 1e-9)))
    return max(1, min(n, os.cpu_count() or n))


def own_running(task_dir: str | Path = "/proc/self/task") -> int:
    """How many of this process's own threads are runnable right now (state R in ``/proc/self/task/*/stat``),
    at least 1 (the reader); 1 where the directory does not exist.

    Right after a torch or BLAS call, the pool's worker threads spin for a while in state R: they are ours,
    not a neighbour's, and must not shrink the budget (they did: an idle 2-core machine read as busy and
    smoothing ran on one thread while the bare model it is compared with ran on two).

    Examples
    --------
    >>> own_running() >= 1
    True
    """
    running = 0
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        return 1
    for t in tasks:
        text = _read(Path(task_dir) / t / "stat")
        if text and ")" in text and text[text.rindex(")") + 2 : text.rindex(")") + 3] == "R":
            running += 1
    return max(1, running)


def runnable_others(loadavg: str | Path = "/proc/loadavg", samples: int = 3,
                    task_dir: str | Path = "/proc/self/task") -> int:
    """How many *other* threads are runnable right now: the median over ``samples`` reads of the 4th field of
    ``/proc/loadavg`` ("running/total", this process's threads included) minus this process's own runnable
    threads (``own_running``); 0 where the file does not exist.

    An instantaneous count (the 1-minute load average lags by a minute). It is kernel-wide: inside a
    container on a large host it counts the host's threads too, which only makes the budget smaller.

    Examples
    --------
    >>> runnable_others() >= 0
    True
    """
    counts = []
    for i in range(max(1, samples)):
        text = _read(Path(loadavg))
        try:
            running = int(text.split()[3].split("/")[0]) if text else 1
        except (IndexError, ValueError):
            running = 1
        counts.append(running - own_running(task_dir))
        if i + 1 < samples:
            time.sleep(0.005)
    counts.sort()
    return max(0, counts[len(counts) // 2])


def thread_budget(workers: int = 1, cpus: int | None = None, others: int | None = None) -> int:
    """Threads for each of ``workers`` processes.

    One each when several workers run (the arena parallelizes over models). A single process gets the
    usable CPUs *not already busy*: ``max(1, cpus − others)``, ``others`` being the runnable threads of
    other processes (``runnable_others()``, measured when not given). On an idle 2-core machine that
    is 2; with three busy neighbours it is 1 — a second thread would only spin against them.

    Examples
    --------
    >>> thread_budget(workers=1, cpus=8, others=0)
    8
    >>> thread_budget(workers=1, cpus=8, others=3)
    5
    >>> thread_budget(workers=3, cpus=8)
    1
    """
    if int(workers) > 1:
        return 1
    if cpus is None:
        if os.environ.get(ENV_THREADS):  # an explicit $UNDETECTABLE_THREADS is not second-guessed
            return usable_cpus()
        cpus = usable_cpus()
    if others is None:
        now = time.monotonic()
        if now - _LAST_OTHERS[0] > 1.0:  # measured at most once a second (decorated calls can be frequent)
            _LAST_OTHERS[:] = [now, runnable_others()]
        others = int(_LAST_OTHERS[1])
    return max(1, min(cpus, cpus - int(others)))


_LAST_OTHERS: list[float] = [-1e9, 0]


def worker_count(n_jobs: int, cpus: int | None = None) -> int:
    """joblib-style ``n_jobs`` (−1 = all) resolved against the *usable* CPUs, not the machine's core count."""
    cpus = usable_cpus() if cpus is None else int(cpus)
    return cpus if n_jobs == -1 else max(1, int(n_jobs))


@contextlib.contextmanager
def limited_threads(n: int | None = None) -> Iterator[int]:
    """Cap every BLAS / OpenMP pool (threadpoolctl) and torch's intra-op pool at ``n`` threads (default:
    ``thread_budget()``) inside the block; restore the previous sizes afterwards. Yields ``n``.

    Examples
    --------
    >>> with limited_threads(1) as n:
    ...     n
    1
    """
    n = thread_budget() if n is None else max(1, int(n))
    stack = contextlib.ExitStack()
    with stack:
        controller = _threadpool_controller()
        if controller is not None:
            stack.enter_context(controller.limit(limits=n))
        torch = _torch_if_loaded()
        prev = torch.get_num_threads() if torch is not None else None
        if torch is not None and prev != n:
            torch.set_num_threads(n)
        _ACTIVE.depth += 1
        try:
            yield n
        finally:
            _ACTIVE.depth -= 1
            if torch is not None and prev is not None and torch.get_num_threads() != prev:
                torch.set_num_threads(prev)


_CONTROLLER: list = [None, -1]  # [threadpoolctl.ThreadpoolController, len(sys.modules) when it was made]


def _threadpool_controller():
    """threadpoolctl's view of the loaded BLAS / OpenMP libraries, made once and re-made only when modules
    were imported since (a new native library comes with a new module): scanning them costs ~20 ms, as much
    as a smoothing batch, while ``controller.limit`` costs ~0.01 ms. None where threadpoolctl is missing."""
    import sys

    if _CONTROLLER[0] is None or _CONTROLLER[1] != len(sys.modules):
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            return None
        _CONTROLLER[:] = [ThreadpoolController(), len(sys.modules)]
    return _CONTROLLER[0]


def _torch_if_loaded():
    """torch, imported here so that its pool is capped before the work inside the block first uses it
    (a pool sized after the block began would escape the cap); None where torch is not installed."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return None
    return torch


def with_thread_budget(fn: F | None = None, *, workers: int = 1) -> F:
    """Decorator: run ``fn`` inside ``limited_threads(thread_budget(workers))`` unless a budget is already active.

    Examples
    --------
    >>> @with_thread_budget
    ... def work():
    ...     return 1
    >>> work()
    1
    """

    def wrap(f):
        @functools.wraps(f)
        def inner(*a, **k):
            if _ACTIVE.depth:  # an outer block already chose the budget (e.g. an arena worker's one thread)
                return f(*a, **k)
            with limited_threads(thread_budget(workers)):
                return f(*a, **k)

        return inner

    return wrap(fn) if fn is not None else wrap  # type: ignore[return-value]


class _Depth:
    depth = 0


_ACTIVE = _Depth()
