"""progress: plain periodic lines off a terminal, transient rich bars on one, silence with --quiet / in workers."""
from __future__ import annotations

import threading
import time

import pytest

from undetectable import progress as P


@pytest.fixture(autouse=True)
def _reset(monkeypatch):
    for var in ("UNDETECTABLE_QUIET", "UNDETECTABLE_PROGRESS", "UNDETECTABLE_PROGRESS_EVERY"):
        monkeypatch.delenv(var, raising=False)
    P.set_quiet(False)
    yield
    P.set_quiet(False)


def _work(n=4, pause=0.08):
    with P.progress("demo 1/1: outer"):
        for _ in P.track(range(n), "planting", unit="models"):
            time.sleep(pause)


def test_plain_lines_say_what_how_far_and_eta(monkeypatch, capsys):
    monkeypatch.setenv("UNDETECTABLE_PROGRESS", "plain")
    monkeypatch.setenv("UNDETECTABLE_PROGRESS_EVERY", "0.05")
    _work()
    err = capsys.readouterr().err.splitlines()
    steps = [line for line in err if "planting:" in line]
    assert steps and all(line.startswith("[progress] demo 1/1: outer › planting: ") for line in steps), err
    assert any("/4 models (" in line and "ETA" in line for line in steps), err
    assert err[-1].startswith("[progress] demo 1/1: outer: done in"), err


def test_short_steps_print_nothing(monkeypatch, capsys):
    monkeypatch.setenv("UNDETECTABLE_PROGRESS", "plain")  # default period: first line only after 2 s
    _work(n=2, pause=0.01)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("how", ["flag", "env"])
def test_quiet(monkeypatch, capsys, how):
    monkeypatch.setenv("UNDETECTABLE_PROGRESS", "plain")
    monkeypatch.setenv("UNDETECTABLE_PROGRESS_EVERY", "0.05")
    if how == "flag":
        P.set_quiet(True)
    else:
        monkeypatch.setenv("UNDETECTABLE_QUIET", "1")
    _work(n=3)
    assert capsys.readouterr().err == ""


def test_rich_bars_are_transient(monkeypatch):
    """Nested bars share one live display, each removed when done; the display stops with the outermost."""
    monkeypatch.setenv("UNDETECTABLE_PROGRESS", "rich")
    with P.progress("outer", total=2) as outer:
        with P.progress("inner", total=3) as inner:
            inner.advance(3)
            assert len(P._rich.tasks) == 2
        assert len(P._rich.tasks) == 1
        outer.advance(2)
    assert P._rich is None and P._stack == []


def test_workers_stay_silent(monkeypatch):
    monkeypatch.setenv("UNDETECTABLE_PROGRESS", "plain")
    seen = []
    t = threading.Thread(target=lambda: seen.append(P.mode()))
    t.start()
    t.join()
    assert seen == ["quiet"] and P.mode() == "plain"


def test_status_and_eta():
    tr = P.Tracker("arena", 10, "models", "plain")
    tr.t0 -= 20
    tr.advance(4)
    assert tr.status() == "arena: 4/10 models (40%) · 20s · ETA 30s"
    assert P._duration(3725) == "1h02m" and P._duration(75) == "1m15s"
