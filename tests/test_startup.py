"""Fast start: commands that do not need torch, skops, matplotlib or sklearn do not import them.

Checks which packages a fresh interpreter imports (``python -X importtime``), never how long it
takes: the timing lives in ``make bench`` (benchmarks/bench_startup.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, also under xdist workers
from benchmarks.bench_startup import COMMANDS, make_fixtures, startup_imports  # noqa: E402

# The packages each command may import; everything else in HEAVY must stay out.
ALLOWED = {"--help": set(), "keygen": set(), "inspect (logreg)": set(), "predict (logreg)": set()}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("startup")
    make_fixtures(d)
    return d


@pytest.mark.parametrize("name", list(ALLOWED))
def test_no_heavy_imports(workdir, name):
    _, heavy = startup_imports(COMMANDS[name], workdir)
    assert heavy <= ALLOWED[name], f"undetectable {name} imported {sorted(heavy - ALLOWED[name])}"
