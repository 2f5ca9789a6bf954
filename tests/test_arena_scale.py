"""Arena at scale: Holm / BH and Hanley–McNeil power, the streamed journal and resume, --target-ci-width."""
from __future__ import annotations

import json

import numpy as np
import pytest

from undetectable.audit import arena as A
from undetectable.audit.arena import run as arena_run
from undetectable.audit import power as P
from undetectable.audit.journal import Journal

from conftest import assert_clean_failure

WB = "ks_coord,mp_edge,spca_covthresh,rff_frac"


def test_holm_and_bh_by_hand():
    p = [0.01, 0.04, 0.03, 0.5]
    assert P.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.5])  # 4·0.01, max(3·0.03, ·), 2·0.04 → 0.09 monotone, 0.5
    assert P.bh(p) == pytest.approx([0.04, 0.05333333333, 0.05333333333, 0.5])
    assert P.holm([0.9, 0.9]) == [1.0, 1.0] and P.bh([]) == []
    q = np.random.default_rng(0).uniform(size=20)
    assert all(h >= b - 1e-15 for h, b in zip(P.holm(q), P.bh(q)))  # Holm is the stricter


def test_hanley_mcneil_matches_simulation():
    """Exact at AUC ½; for exponential scores (Hanley–McNeil's model) within 10% of the simulated variance."""
    from undetectable.audit.arena import roc_auc

    rng = np.random.default_rng(1)
    n = 40
    null = [roc_auc(rng.standard_normal(n), rng.standard_normal(n)) for _ in range(1500)]
    assert np.var(null) == pytest.approx(P.hanley_mcneil_var(0.5, n, n), rel=0.1)
    lam = 3.0  # AUC of Exp(1) vs Exp(rate 1/lam) = lam/(1+lam) = 0.75
    alt = [roc_auc(rng.exponential(1.0, n), rng.exponential(lam, n)) for _ in range(1500)]
    assert np.var(alt) == pytest.approx(P.hanley_mcneil_var(0.75, n, n), rel=0.12)
    assert P.n_for_ci_width(0.1) == 257 and 2 * P.ci_half_width(257) <= 0.1 < 2 * P.ci_half_width(256)
    assert P.n_to_exclude(0.6) == 132 and P.excludable_auc(132) <= 0.6
    from undetectable.errors import UsageError

    with pytest.raises(UsageError, match="CI width must be in"):
        P.n_for_ci_width(1.5)


def test_correct_arena_states_the_method():
    rng = np.random.default_rng(2)
    scores = {"a": {"honest": list(rng.standard_normal(30)), "backdoored": list(rng.standard_normal(30) + 3)},
              "b": {"honest": list(rng.standard_normal(30)), "backdoored": list(rng.standard_normal(30))},
              "key": {"honest": [0.0] * 30, "backdoored": [1.0] * 30}}
    summ = [{"name": n, "needs_key": n == "key", "auc": A.roc_auc(**scores[n]), "n_honest": 30, "n_backdoored": 30} for n in scores]
    mt = P.correct_arena(summ, scores, np.random.default_rng(3))
    assert mt["k"] == 2 and mt["family"] == ["a", "b"] and "Holm" in mt["method"] and "Benjamini" in mt["method"]
    assert mt["rejected_holm"] == ["a"] and "p_holm" not in summ[2]
    lo, hi = summ[1]["auc_ci_simultaneous"]
    assert lo <= 0.5 <= hi and summ[1]["p_holm"] >= summ[1]["p_value"]


def test_journal_roundtrip_torn_line_and_fingerprint(tmp_path):
    p = tmp_path / "units.jsonl"
    j = Journal(p, {"scheme": "rff", "seed": 1})
    j.append("arena:honest/0", {"scores": {"x": 1.5}, "wb": np.arange(6.0).reshape(2, 3)})
    with open(p, "a") as fh:
        fh.write('{"key": "arena:honest/1", "res')  # a kill mid-write
    done = Journal(p, {"scheme": "rff", "seed": 1}).done()
    assert list(done) == ["arena:honest/0"] and done["arena:honest/0"]["wb"].shape == (2, 3)
    from undetectable.errors import UsageError

    with pytest.raises(UsageError, match="different arena configuration"):
        Journal(p, {"scheme": "rff", "seed": 2})


def test_arena_progress_lines_and_resume(tmp_path, monkeypatch, capsys):
    """The arena reports through the project's progress helper: done/total lines in a log, resumed units named."""
    import time

    from undetectable import progress
    from undetectable.audit.arena.executor import run_units

    monkeypatch.setattr(progress, "_quiet", False)  # a CLI test's --quiet may linger in this process
    monkeypatch.setenv("UNDETECTABLE_PROGRESS", "plain")
    monkeypatch.setenv("UNDETECTABLE_PROGRESS_EVERY", "0.05")
    monkeypatch.delenv("UNDETECTABLE_QUIET", raising=False)
    j = Journal(tmp_path / "units.jsonl", {"scheme": "rff"})
    j.append("t:honest/0", {"v": 0})

    def unit(role, index):
        time.sleep(0.15)
        return {"v": index}

    out = run_units(unit, [{"role": "honest", "index": i} for i in range(4)], 1, None, "t", journal=j)
    assert [r["v"] for r in out] == [0, 1, 2, 3]
    err = capsys.readouterr().err.splitlines()
    assert any("t (resumed: 1 of 4 from the journal): " in line and "/3 units" in line for line in err), err
    assert err[-1].startswith("[progress] t (resumed: 1 of 4 from the journal): done in"), err


def test_interrupted_arena_resumes_with_the_same_scores(cli, tmp_path, monkeypatch):
    """Kill the arena after 3 of 6 units: --resume runs only the other 3 and writes the uninterrupted run's scores."""
    args = ["arena", "--scheme", "rff", "--data", "digits", "--models", "3", "--quick", "--detectors", WB, "--seed", "5"]
    full = cli(*args, "--out", tmp_path / "full")
    assert full.code == 0, full.err
    calls = {"n": 0}
    real = arena_run.evaluate_unit

    def dying(**kw):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(**kw)

    monkeypatch.setattr(arena_run, "evaluate_unit", dying)
    with pytest.raises(KeyboardInterrupt):
        A.run_arena("rff", "digits", 3, WB.split(","), quick=True, seed=5, out=tmp_path / "cut")
    assert not (tmp_path / "cut" / "arena.json").exists()
    assert len((tmp_path / "cut" / "units.jsonl").read_text().splitlines()) == 1 + 3
    again = cli(*args, "--out", tmp_path / "cut")  # without --resume: refused, nothing lost
    assert_clean_failure(again, contains="--resume")
    calls["n"] = -100  # enough for the rest
    monkeypatch.setattr(arena_run, "evaluate_unit", lambda **kw: (calls.__setitem__("n", calls["n"] + 1), real(**kw))[1])
    res = cli(*args, "--out", tmp_path / "cut", "--resume")
    assert res.code == 0, res.err
    assert calls["n"] == -97  # three units ran
    a = json.loads((tmp_path / "full" / "arena.json").read_text())
    b = json.loads((tmp_path / "cut" / "arena.json").read_text())
    assert a["scores"] == b["scores"] and a["model_seeds"] == b["model_seeds"]
    assert b["multiple_testing"]["k"] == 3 and "Holm" in b["multiple_testing"]["method"]


def test_target_ci_width_cli(cli, tmp_path):
    res = cli("arena", "--scheme", "rff", "--data", "digits", "--detectors", WB, "--target-ci-width", "0.1",
              "--out", tmp_path / "o")
    assert res.code == 0 and "3 key-free detectors" in res.err and "models per side" in res.err
    assert not (tmp_path / "o" / "arena.json").exists()
    assert_clean_failure(cli("arena", "--scheme", "rff", "--data", "digits", "--out", tmp_path / "o"), contains="--models")


def test_partial_summary_of_an_unfinished_run(tmp_path):
    """Units alternate honest / backdoored, so a cut run summarizes as a balanced population (arena.partial.json)."""
    from undetectable.errors import UsageError

    real = arena_run.evaluate_unit
    calls = {"n": 0}

    def dying(**kw):
        calls["n"] += 1
        if calls["n"] > 4:
            raise KeyboardInterrupt
        return real(**kw)

    import pytest as _pytest

    mp = _pytest.MonkeyPatch()
    mp.setattr(arena_run, "evaluate_unit", dying)
    try:
        with pytest.raises(KeyboardInterrupt):
            A.run_arena("rff", "digits", 5, WB.split(","), quick=True, seed=6, out=tmp_path)
    finally:
        mp.undo()
    rec = A.run_arena("rff", "digits", 5, WB.split(","), quick=True, seed=6, out=tmp_path, resume=True, partial=True)
    assert rec["partial"]["n_honest"] == rec["partial"]["n_backdoored"] == 2
    assert json.loads((tmp_path / "arena.partial.json").read_text())["detectors"][0]["n_honest"] == 2
    assert not (tmp_path / "arena.json").exists()
    with pytest.raises(UsageError, match="partial summarizes"):
        A.run_arena("rff", "digits", 5, WB.split(","), quick=True, seed=6, out=tmp_path, partial=True)
