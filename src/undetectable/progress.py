"""One progress helper for every step that can take more than ~2 seconds.

Three renderings, chosen once per process (``mode()``), all on stderr so stdout stays clean for
``--json`` and pipes:

* **rich** (stderr is a terminal): transient bars — a bar for each active step, nested steps
  below their parent, each removed when it finishes, so no stack of finished bars is left behind;
* **plain** (CI logs, ``nohup``, notebooks): after 2 s, and then every
  ``UNDETECTABLE_PROGRESS_EVERY`` seconds (default 15), one line naming every active step, how far
  it is and its ETA, e.g. ``[progress] demo 4/6: arena › rff arena: 6/16 models (38%) · 42s · ETA 1m10s``;
  and a closing ``done in`` line for an outermost step that printed anything;
* **quiet** (``--quiet``, ``set_quiet(True)`` or ``UNDETECTABLE_QUIET=1``): nothing.

``UNDETECTABLE_PROGRESS=rich|plain|quiet`` forces a mode. Only the main thread of the main
process reports: work units on joblib or Dask workers stay silent.

Examples
--------
>>> from undetectable.progress import progress, track
>>> with progress("training", total=3, unit="epochs") as p:
...     for _ in range(3):
...         p.advance()
>>> sum(track(range(4), "summing"))
6
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, TypeVar
from collections.abc import Iterable, Iterator

T = TypeVar("T")

_quiet = False
_lock = threading.RLock()
_stack: list[Tracker] = []
_rich: Any = None  # the shared rich.progress.Progress while a step is active in rich mode
_heartbeat: threading.Thread | None = None
_wake = threading.Event()


def set_quiet(flag: bool = True) -> None:
    """Silence (or restore) all progress output of this process (the CLI's ``--quiet``)."""
    global _quiet
    _quiet = bool(flag)


def mode() -> str:
    """``"quiet"``, ``"rich"`` or ``"plain"`` for the calling thread (see the module docstring)."""
    forced = os.environ.get("UNDETECTABLE_PROGRESS", "").strip().lower()
    if _quiet or os.environ.get("UNDETECTABLE_QUIET", "") not in ("", "0") or forced == "quiet":
        return "quiet"
    if threading.current_thread() is not threading.main_thread() or multiprocessing.current_process().name != "MainProcess":
        return "quiet"  # a worker: the parent reports the work units
    if forced in ("rich", "plain"):
        return forced
    try:
        return "rich" if sys.stderr.isatty() else "plain"
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return "plain"


def _every() -> float:
    try:
        return max(0.05, float(os.environ.get("UNDETECTABLE_PROGRESS_EVERY", "15")))
    except ValueError:
        return 15.0


def _duration(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Tracker:
    """One step: a description, optionally a total, and how much of it is done."""

    def __init__(self, desc: str, total: int | None, unit: str, kind: str) -> None:
        self.desc, self.total, self.unit, self.kind = desc, total, unit, kind
        self.done = 0
        self.t0 = time.monotonic()
        self.printed = False
        self._task: Any = None  # a rich TaskID in rich mode

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` more units done."""
        self.done += n
        if self._task is not None and _rich is not None:
            _rich.update(self._task, advance=n)

    def update(self, done: int | None = None, total: int | None = None, desc: str | None = None) -> None:
        """Set how much is done, the total or the description."""
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if desc is not None:
            self.desc = desc
        if self._task is not None and _rich is not None:
            _rich.update(self._task, completed=self.done, total=self.total, description=self.desc)

    def status(self) -> str:
        """``desc: done/total unit (pct%) · elapsed · ETA`` (or ``desc · elapsed`` without a total)."""
        el = time.monotonic() - self.t0
        if not self.total:
            return f"{self.desc} · {_duration(el)}"
        frac = min(1.0, self.done / self.total)
        eta = f" · ETA {_duration(el * (1 - frac) / frac)}" if self.done else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.desc}: {self.done}/{self.total}{unit} ({frac:.0%}) · {_duration(el)}{eta}"


def _beat() -> None:
    """The plain-mode reporter: a line after 2 s, then one every ``_every()`` seconds, while steps run."""
    global _heartbeat
    first = True
    while True:
        _wake.wait(min(2.0, _every()) if first else _every())
        _wake.clear()
        with _lock:
            if not _stack:
                _heartbeat = None
                return
            if time.monotonic() - _stack[0].t0 < min(2.0, _every()) - 1e-3:
                continue
            line = " › ".join(t.status() if i == len(_stack) - 1 else t.desc for i, t in enumerate(_stack))
            for t in _stack:
                t.printed = True
        first = False
        print(f"[progress] {line}", file=sys.stderr, flush=True)


def _start_rich() -> None:
    global _rich
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    _rich = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    _rich.start()


@contextmanager
def progress(desc: str, total: int | None = None, unit: str = "") -> Iterator[Tracker]:
    """A step of ``total`` units (or of unknown length); ``advance()`` the tracker as work gets done.

    Examples
    --------
    >>> with progress("planting", total=2, unit="models") as p:
    ...     p.advance(2)
    >>> p.status().startswith("planting: 2/2 models (100%)")
    True
    """
    global _heartbeat, _rich
    kind = mode()
    tracker = Tracker(desc, total, unit, kind)
    if kind == "quiet":
        yield tracker
        return
    with _lock:
        _stack.append(tracker)
        if kind == "rich":
            if _rich is None:
                _start_rich()
            indent = "  " * (len(_stack) - 1)
            tracker._task = _rich.add_task(indent + desc, total=total)
        elif _heartbeat is None:
            _heartbeat = threading.Thread(target=_beat, name="undetectable-progress", daemon=True)
            _heartbeat.start()
    try:
        yield tracker
    finally:
        with _lock:
            _stack.remove(tracker)
            if kind == "rich" and _rich is not None:
                if tracker._task is not None:
                    _rich.remove_task(tracker._task)
                if not _stack:
                    _rich.stop()
                    _rich = None
            outermost_done = kind == "plain" and not _stack and tracker.printed
            if not _stack:
                _wake.set()
        if outermost_done:
            print(f"[progress] {tracker.desc}: done in {_duration(time.monotonic() - tracker.t0)}", file=sys.stderr, flush=True)


def track(items: Iterable[T], desc: str, total: int | None = None, unit: str = "") -> Iterator[T]:
    """Iterate over ``items`` inside ``progress(desc, total)``, advancing once per item."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress(desc, total, unit) as p:
        for item in items:
            yield item
            p.advance()
