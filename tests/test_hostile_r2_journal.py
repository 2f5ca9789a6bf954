"""Issue 19 §6: the arena journal (OUT/units.jsonl) is bound to its configuration and read as untrusted.

One real (tiny) arena run writes a journal; each test edits a copy the way an attacker or an accident would
and resumes: exit 2, one line naming units.jsonl and the line, nothing run. The control resumes the
unedited copy.
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from hostile_util import one_error_line

ARENA = ("arena", "--scheme", "checksum", "--data", "breast-cancer", "--models", "2", "--quick", "--detectors", "strip")


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    from undetectable.audit.arena import run_arena

    d = tmp_path_factory.mktemp("arena")
    run_arena("checksum", "breast-cancer", 2, ["strip"], quick=True, seed=0, out=d / "ar")
    return d / "ar"


@pytest.fixture
def ar(ran, tmp_path):
    shutil.copytree(ran, tmp_path / "ar")
    return tmp_path / "ar"


def lines(ar):
    return [json.loads(x) for x in (ar / "units.jsonl").read_text().splitlines()]


def write(ar, recs):
    (ar / "units.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def resume_refused(cli, ar, *needles, env=None):
    res = cli(*ARENA, "--resume", "--out", ar)
    line = one_error_line(res.err)
    assert res.code == 2, (res.code, line)
    assert "units.jsonl" in line, line
    for n in needles:
        assert n in line, line
    return line


def test_the_unedited_journal_resumes(cli, ar):
    recs = lines(ar)
    assert recs[0]["journal"] == 2 and len(recs) == 5 and all(r["fp"] == recs[0]["fingerprint"] for r in recs[1:])
    res = cli(*ARENA, "--resume", "--out", ar)
    assert res.code == 0, res.err


def test_a_unit_of_another_seed_is_refused(cli, ar):
    """Lines spliced from a run with --seed 1 carry that run's fingerprint (and its model seeds)."""
    from undetectable.audit.arena.catalogue import model_seed
    from undetectable.audit.journal import fingerprint

    recs = lines(ar)
    other = dict(recs[0]["config"], seed=1)
    r = recs[1]
    r["fp"] = fingerprint(other)
    r["result"]["seed"] = model_seed(1, r["result"]["role"], r["result"]["index"])
    write(ar, recs)
    resume_refused(cli, ar, "line 2", "another arena configuration")


def test_a_fabricated_unit_is_refused(cli, ar):
    """Right fingerprint, but a seed this arena never derives (a unit made up, or moved from another index)."""
    recs = lines(ar)
    recs[2]["result"]["seed"] = recs[1]["result"]["seed"]
    write(ar, recs)
    resume_refused(cli, ar, "line 3", "model seed")


def test_nan_scores_and_unknown_roles_are_refused(cli, ar):
    recs = lines(ar)
    text = (ar / "units.jsonl").read_text()
    recs[1]["result"]["scores"]["strip"] = float("nan")
    write(ar, recs)
    resume_refused(cli, ar, "line 2", "not a finite number")
    (ar / "units.jsonl").write_text(text.replace('"checksum arena:honest/0"', '"checksum arena:evil/0"').replace('"role":"honest"', '"role":"evil"'))
    resume_refused(cli, ar, "line 2", "unknown unit")


def test_one_line_cannot_allocate_without_bound(cli, ar, monkeypatch):
    recs = lines(ar)
    recs[1]["result"]["extra"] = {"__nd__": "<f8", "shape": [10**9], "data": []}  # 8 GB declared, nothing behind it
    write(ar, recs)
    resume_refused(cli, ar, "line 2", "shape")
    recs[1]["result"]["extra"] = [0.0] * 2000
    write(ar, recs)
    monkeypatch.setenv("UNDETECTABLE_MAX_JOURNAL_LINE_BYTES", "4000")
    resume_refused(cli, ar, "line 2", "over 4,000 bytes", "UNDETECTABLE_MAX_JOURNAL_LINE_BYTES")


def test_a_symlinked_journal_is_never_written_through(cli, tmp_path):
    out = tmp_path / "fresh"
    out.mkdir()
    (out / "units.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")  # dangling: main wrote the header through it
    res = cli(*ARENA, "--out", out, "--force")
    line = one_error_line(res.err)
    assert res.code == 2 and "symlink" in line and "units.jsonl" in line, line
    assert not (tmp_path / "elsewhere.jsonl").exists()
    (tmp_path / "elsewhere.jsonl").write_text("precious\n")
    res = cli(*ARENA, "--resume", "--out", out)
    assert res.code == 2 and "symlink" in one_error_line(res.err)
    assert (tmp_path / "elsewhere.jsonl").read_text() == "precious\n"
    assert os.path.islink(out / "units.jsonl")
