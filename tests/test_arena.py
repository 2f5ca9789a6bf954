"""The arena: metrics cross-checked against sklearn, a --quick arena through the CLI, Dask = joblib."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from undetectable.audit import arena as A

from conftest import assert_clean_failure

TINY = {"n_train": 200, "max_iter": 25}  # logistic regressions on 200 rows: a population in seconds


def test_auc_matches_sklearn_and_ci_behaves():
    rng = np.random.default_rng(0)
    for shift in (0.0, 0.7, 3.0):
        h = np.round(rng.standard_normal(30), 1)  # rounding makes ties
        b = np.round(rng.standard_normal(25) + shift, 1)
        y = np.r_[np.zeros(30), np.ones(25)]
        auc = A.roc_auc(h, b)
        assert auc == pytest.approx(roc_auc_score(y, np.r_[h, b]), abs=1e-12)
        lo, hi = A.auc_bootstrap_ci(h, b, np.random.default_rng(1))
        assert lo <= auc <= hi and hi - lo < 0.4
    # chance: the CI of two samples from one distribution covers ½ (most of the time; fixed seed here)
    lo, hi = A.auc_bootstrap_ci(rng.standard_normal(40), rng.standard_normal(40), np.random.default_rng(2))
    assert lo < 0.5 < hi


def test_cross_entropy_and_tpr():
    labels = np.r_[np.zeros(8), np.ones(8)]
    const = A.platt_probabilities(np.ones(16), labels)
    assert A.trojai_cross_entropy(const, labels) == pytest.approx(np.log(2))
    sep = A.platt_probabilities(np.r_[np.zeros(8), np.ones(8)], labels)
    assert A.trojai_cross_entropy(sep, labels) < 0.4
    assert A.trojai_cross_entropy(np.r_[np.ones(8), np.zeros(8)], labels) > 20  # confidently wrong: TrojAI's clipping at 1e-12
    assert A.tpr_at_fpr(np.arange(20), np.arange(20) + 100) == 1.0
    assert A.tpr_at_fpr(np.arange(20), np.arange(20)) == pytest.approx(0.05)


def test_quick_arena_cli_writes_valid_json(cli, tmp_path):
    out = tmp_path / "arena"
    res = cli("arena", "--scheme", "signature", "--data", "mnist5k", "--models", "2", "--quick", "--detectors", "meta_blackbox", "--out", out)
    assert res.code == 0, res.err
    rec = json.loads((out / "arena.json").read_text())
    assert rec["scheme"] == "signature"
    for d in rec["detectors"]:
        assert set(d) >= {"name", "needs_key", "auc", "auc_ci", "cross_entropy", "tpr_at_5fpr", "n_honest", "n_backdoored"}
        assert isinstance(d["needs_key"], bool) and d["n_honest"] == d["n_backdoored"] == 2
        assert d["auc_ci"][0] <= d["auc"] <= d["auc_ci"][1]
    assert [d["name"] for d in rec["detectors"]] == ["meta_blackbox"]
    assert len(set(rec["model_seeds"]["honest"]) | set(rec["model_seeds"]["backdoored"])) == 4  # fresh seeds
    assert (out / rec["figures"][0]).stat().st_size > 1000
    # no overwrite without --force
    again = cli("arena", "--scheme", "signature", "--data", "mnist5k", "--models", "2", "--quick", "--out", out)
    assert_clean_failure(again, contains="--force")


@pytest.mark.parametrize("args,contains", [
    (["--scheme", "nope", "--models", "2"], "scheme"),
    (["--scheme", "signature", "--models", "1"], "--models"),
    (["--scheme", "signature", "--models", "2", "--detectors", "nope"], "unknown detector"),
    (["--scheme", "signature", "--models", "2", "--detectors", "mp_edge"], "applies"),
])
def test_arena_bad_inputs(cli, tmp_path, args, contains):
    out = tmp_path / "o"
    assert_clean_failure(cli("arena", "--data", "mnist5k", *args, "--out", out), out / "arena.json", contains=contains)


def test_dask_localcluster_matches_joblib():
    """The same work units on a Dask LocalCluster (loopback) and on 2 joblib workers give the same scores."""
    from dask.distributed import LocalCluster

    kw = dict(detectors=["meta_blackbox"], quick=True, seed=3, params=TINY, n_shadows=2)
    local = A.run_arena("signature", "mnist5k", 2, n_jobs=2, **kw)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        dist = A.run_arena("signature", "mnist5k", 2, scheduler=cluster.scheduler_address, **kw)
    assert local["model_seeds"] == dist["model_seeds"]
    for name, sc in local["scores"].items():
        for role in ("honest", "backdoored"):
            assert np.allclose(sc[role], dist["scores"][name][role], rtol=1e-9, atol=1e-12), (name, role)
    assert local["detectors"] == dist["detectors"]


def test_unit_seeds_are_fresh_and_reproducible():
    u = dict(scheme="checksum", data="mnist5k", seed=1, role="backdoored", index=0, detectors=(),
             params=A.scheme_params("checksum", True) | TINY)
    a, b = A.evaluate_unit(**u), A.evaluate_unit(**u)
    assert a["seed"] == b["seed"] and a["seed"] != A.evaluate_unit(**(u | {"role": "honest"}))["seed"]


def test_signature_backdoor_is_invisible_to_queries_by_construction():
    """Same seed → the signature model answers every natural or noise query exactly like its honest base,
    so any black-box meta-classifier gives both the same score (its arena AUC is chance by construction)."""
    from undetectable.audit.meta import query_pool, softmax_outputs

    ds = A._dataset("mnist5k")
    pool = query_pool(ds, 64, np.random.default_rng(0))
    s = A.model_seed(0, "backdoored", 0)
    p = A.scheme_params("signature", True) | TINY
    bd, sk = A.build_model("signature", "mnist5k", s, True, p)
    hon, _ = A.build_model("signature", "mnist5k", s, False, p)
    assert np.array_equal(softmax_outputs(bd, pool), softmax_outputs(hon, pool))
    # the control that can fail: an activated query is answered differently
    Xa = sk.activate(bd, pool[:4], [(int(c) + 1) % 10 for c in hon.predict_index(pool[:4])])
    assert not np.array_equal(bd.predict_index(Xa), hon.predict_index(Xa))


@pytest.mark.parametrize("scheme", ["rff", "relu"])
def test_whitebox_builders_are_reproducible(scheme):
    """A work unit must be a pure function of its seed: the planted weights (and key) are re-drawn exactly."""
    p = A.scheme_params(scheme, True) | {"n_features": 120}
    (m1, k1), (m2, k2) = (A.build_model(scheme, "digits", 77, True, p) for _ in range(2))
    assert np.array_equal(m1.weights_, m2.weights_)
    assert all(np.array_equal(a, k2.arrays()[n]) for n, a in k1.arrays().items())
    h, _ = A.build_model(scheme, "digits", 77, False, p)
    assert not np.array_equal(h.weights_, m1.weights_)
