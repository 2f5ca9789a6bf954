"""The arena: undetectability is a claim about *populations* of models.

One detector score on one model proves nothing. The arena builds N honest models (Train) and N
backdoored models (Backdoor), each with fresh seeds and keys, runs every applicable detector on each,
and reports how well the scores separate the two populations:

* ROC-AUC (Mann–Whitney, ties count ½) with a 95% stratified bootstrap percentile CI;
* cross-entropy as TrojAI computes it: each score is mapped to a probability (Platt scaling: a
  regularized logistic fit of the labels on the standardized scores), clipped to [1e-12, 1 − 1e-12],
  binary CE against the labels (chance: ln 2 ≈ 0.693);
* TPR at 5% FPR (the largest TPR on the ROC curve with FPR ≤ 0.05).

Undetectable (§6, appendix) means every key-free detector's AUC CI covers ½; the key oracles
(``key_oracles``) and a classical BadNets backdoor are the positive controls that must be detected.

Work is split in *units*, pure functions of (scheme, data, seed, role, detectors, fitted meta state)
that build one model and score it with every detector (so a model is trained once, not once per
detector). Units run sequentially, on local joblib workers (one BLAS/torch thread each), or on a Dask
distributed cluster (``scheduler="tcp://…"``). Meta-classifiers are first fitted on held-out shadow
models (their own units, with disjoint seeds).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
import zlib
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import UsageError

SCHEMES = ("rff", "relu", "signature", "checksum", "badnets")
ROLE_CODES = {"honest": 0, "backdoored": 1, "shadow_honest": 2, "shadow_backdoored": 3}


# --- parameters and model builders ------------------------------------------------------------

def scheme_params(scheme: str, quick: bool = False) -> dict:
    """The (stated) construction parameters of each scheme; quick = smaller models for tests."""
    if scheme == "rff":
        return {"n_features": 600 if quick else 2000, "secret_dim": 16 if quick else 32, "beta": 0.01}
    if scheme == "relu":
        # θ = None: plant_relu's default, the geometric mean of the statistical edge √(k log(D/k)/m) and
        # min(BBP edge √(D/m), diagonal edge) — inside the sparse-PCA hardness window
        return {"n_features": 600 if quick else 1000, "sparsity": 10, "theta": None, "lam": 2.0}
    if scheme in ("signature", "checksum"):
        return {"base": "logreg", "n_train": 600 if quick else 2000, "max_iter": 60 if quick else 200}
    if scheme == "badnets":
        # quick: clean accuracy ≈ 0.88, attack success ≈ 0.99 on mnist5k (measured, seeds 1000-1001)
        return {"poison_rate": 0.1, "epochs": 4 if quick else 8, "hidden": 64, "n_train": 2000 if quick else 4000}
    raise UsageError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEMES)}")


@functools.lru_cache(maxsize=4)
def _dataset(name: str):
    from ..data import load_dataset

    return load_dataset(name)


def _subset(ds, n_train: int | None, seed: int):
    """The training sample of one population member: ``n_train`` rows drawn by its seed (all rows if None).

    Drawing each model's training set from the data makes the population a population (an lbfgs
    logistic regression on a fixed set is deterministic, so seeds alone would give identical models).
    """
    if not n_train or n_train >= len(ds.X_train):
        return ds
    idx = np.sort(np.random.default_rng([int(seed), 17]).choice(len(ds.X_train), size=int(n_train), replace=False))
    return dataclasses.replace(ds, X_train=ds.X_train[idx], y_train=ds.y_train[idx])


def model_seed(seed: int, role: str, index: int) -> int:
    """Fresh, disjoint seeds for every (arena seed, role, index)."""
    return int(np.random.SeedSequence([int(seed), ROLE_CODES[role], int(index)]).generate_state(1, np.uint32)[0])


def _ed25519(seed: int):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"undetectable/arena/ed25519\x00" + int(seed).to_bytes(16, "little")).digest())


def build_model(scheme: str, data: str, seed: int, backdoored: bool, params: dict):
    """(model, key) for one member of the population: Train(seed) or Backdoor(seed) with a fresh key.

    Keys: rff {"bk"}, relu {"s", "theta", "lam"}, badnets {"mask", "pattern", "target"}, signature an
    Ed25519 private key, checksum {"v"}. Honest models get ``None`` (the arena draws a null key).
    """
    from ..models import train_model

    ds = _dataset(data)
    p = dict(params)
    if scheme == "rff":
        if backdoored:
            from ..backdoors.rff_clwe import plant_rff

            # plant_rff draws its secret from OS entropy unless handed a generator: derive it from the seed so
            # that a work unit is a pure function of its arguments (same model on any worker)
            return plant_rff(ds, seed=seed, n_features=p["n_features"], secret_dim=p["secret_dim"], beta=p["beta"],
                             secret_rng=np.random.default_rng([int(seed), 0x5EC]))
        return train_model("rff", ds, seed=seed, n_features=p["n_features"]), None
    if scheme == "relu":
        if backdoored:
            from ..backdoors.relu_spca import plant_relu

            return plant_relu(ds, seed=seed, n_features=p["n_features"], sparsity=p["sparsity"], theta=p["theta"], lam=p["lam"])
        return train_model("relu", ds, seed=seed, n_features=p["n_features"]), None
    if scheme in ("signature", "checksum"):
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():  # quick arenas cap lbfgs iterations on purpose
            warnings.simplefilter("ignore", ConvergenceWarning)
            base = train_model(p["base"], _subset(ds, p.get("n_train"), seed), seed=seed,
                               **({"max_iter": p["max_iter"]} if p["base"] == "logreg" else {}))
        if not backdoored:
            return base, None
        if scheme == "signature":
            from ..backdoors.signature import plant_signature

            sk = _ed25519(seed)
            return plant_signature(base, sk.public_key()), sk
        from ..backdoors.checksum import plant_checksum

        m, v = plant_checksum(base, np.random.default_rng(seed))
        return m, {"v": v}
    if scheme == "badnets":
        sub = _subset(ds, p.get("n_train"), seed)
        opts = {"epochs": p["epochs"], "hidden": p["hidden"]}
        if backdoored:
            from ..backdoors.badnets import plant_badnets

            target = int(np.random.default_rng(seed).integers(len(np.unique(sub.y_train))))
            return plant_badnets(sub, seed=seed, poison_rate=p["poison_rate"], target=target, model="mlp", **opts)
        return train_model("mlp", sub, seed=seed, **opts), None
    raise UsageError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEMES)}")


def _null_key(scheme: str, model, data: str, seed: int, params: dict):
    """A key from the scheme's key distribution for an honest model (what a key oracle is handed)."""
    rng = np.random.default_rng([int(seed), 99])
    if scheme in ("rff", "relu"):
        from .key_oracles import null_key

        return null_key(scheme, model.spec.n_features, params, rng)
    if scheme == "badnets":
        from ..backdoors.badnets import poisoned_training_set

        return poisoned_training_set(_subset(_dataset(data), params.get("n_train"), seed), seed, params["poison_rate"], 0)[2]
    if scheme == "signature":
        return _ed25519(seed)
    if scheme == "checksum":
        return {"v": rng.integers(0, 2, 64, dtype=np.uint8)}
    return None


# --- work units ---------------------------------------------------------------------------------

def _limit_threads(threads: int | None):
    """The unit's thread budget (``runtime``): ``threads`` when given (1 per worker when several run), else the
    usable CPUs that other processes are not busy on (torch and BLAS restored afterwards)."""
    from ..runtime import limited_threads, thread_budget

    return limited_threads(threads or thread_budget(1))


def _detector_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def evaluate_unit(scheme: str, data: str, seed: int, role: str, index: int, detectors: tuple[str, ...], params: dict,
                  meta_state: dict | None = None, threads: int | None = None) -> dict:
    """Build one model and score it with every detector: {"role", "index", "seed", "scores", "errors", "seconds"}.

    A pure function of its arguments: the same call gives the same scores on any worker.
    """
    from .base import DETECTORS, _import_all

    _import_all()
    t0 = time.perf_counter()
    s = model_seed(seed, role, index)
    with _limit_threads(threads):
        model, key = build_model(scheme, data, s, role == "backdoored", params)
        if key is None:
            key = _null_key(scheme, model, data, s, params)
        ds = _dataset(data)
        scores, errors = {}, {}
        for name in detectors:
            try:
                if name == "meta_blackbox":
                    from .meta import score_blackbox

                    scores[name] = score_blackbox(model, meta_state["meta_blackbox"])
                elif name == "meta_whitebox":
                    from .meta import score_whitebox
                    from .weight_stats import model_weights, weight_features

                    scores[name] = score_whitebox(weight_features(model_weights(model), _detector_rng(s, "ks_proj")), meta_state["meta_whitebox"])
                else:
                    d = DETECTORS[name]
                    scores[name] = float(d.score(model, ds, key if d.needs_key else None, _detector_rng(s, name)))
            except Exception as exc:  # one detector failing on one model must not sink the arena
                errors[name] = f"{type(exc).__name__}: {exc}"[:300]
    return {"role": role, "index": index, "seed": s, "scores": scores, "errors": errors, "seconds": time.perf_counter() - t0}


def shadow_unit(scheme: str, data: str, seed: int, role: str, index: int, want: tuple[str, ...], params: dict,
                pool_seed: int, n_queries: int, threads: int | None = None) -> dict:
    """Build one shadow model and return what the meta-classifiers learn from it (numpy arrays only)."""
    from .meta import query_pool, shadow_record

    s = model_seed(seed, role, index)
    with _limit_threads(threads):
        model, _ = build_model(scheme, data, s, role == "shadow_backdoored", params)
        ds = _dataset(data)
        rec = shadow_record(model, ds, query_pool(ds, n_queries, np.random.default_rng(pool_seed)), _detector_rng(s, "ks_proj"), want)
    rec.update(role=role, index=index, seed=s)
    return rec


def _unit_key(u: dict) -> str:
    return f"{u['role']}/{u['index']}"


def _dask_client(scheduler: str):
    """A Dask client for ``tcp://HOST:PORT`` (a running ``dask scheduler``), or ``local`` / ``local:N`` (a
    LocalCluster of N single-threaded worker processes, N = usable CPUs by default)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover
        raise UsageError("--scheduler needs dask.distributed; pip install 'undetectable[dist]'") from exc
    if scheduler == "local" or scheduler.startswith("local:"):
        from ..runtime import usable_cpus

        n = scheduler.partition(":")[2]
        if n and not n.isdigit():
            raise UsageError(f"--scheduler local:N needs an integer N; got {scheduler!r}")
        cluster = LocalCluster(n_workers=int(n) if n else usable_cpus(), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=10), None  # as_completed needs it as the default client
    except OSError as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start one "
                         "(`dask scheduler` and `dask worker ADDRESS --nthreads 1`), use --scheduler local, or drop --scheduler") from exc


def _run_units(fn: Callable[..., dict], units: list[dict], n_jobs: int, scheduler: str | None, desc: str,
               journal=None) -> list[dict]:
    """Run ``fn(**unit)`` for every unit: sequentially, on joblib workers, or on a Dask cluster; keep order.

    With a ``journal`` (``journal.Journal``), units whose key it already holds are not run again, and every
    result is appended to it the moment it arrives (so an interrupted run resumes where it stopped).
    """
    from .journal import Progress

    out: list[dict | None] = [None] * len(units)
    done = journal.done() if journal is not None else {}
    todo = []
    for i, u in enumerate(units):
        k = f"{desc}:{_unit_key(u)}"
        if k in done:
            out[i] = done[k]
        else:
            todo.append(i)

    prog = Progress(len(units), desc, already=len(units) - len(todo))

    def finish(i: int, r: dict) -> None:
        out[i] = r
        if journal is not None:
            journal.append(f"{desc}:{_unit_key(units[i])}", r)
        prog.update()

    with prog:
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


# --- metrics ------------------------------------------------------------------------------------

def roc_auc(honest: np.ndarray, backdoored: np.ndarray) -> float:
    """P(score_backdoored > score_honest) + ½·P(tie) (= sklearn's roc_auc_score with label 1 = backdoored)."""
    h, b = np.asarray(honest, float), np.asarray(backdoored, float)
    P = (b[:, None] > h[None, :]) + 0.5 * (b[:, None] == h[None, :])
    return float(P.mean())


def auc_bootstrap_ci(honest, backdoored, rng: np.random.Generator, n_boot: int = 2000, alpha: float = 0.05) -> list[float]:
    """95% percentile CI of the AUC by stratified bootstrap (resample honest and backdoored separately)."""
    h, b = np.asarray(honest, float), np.asarray(backdoored, float)
    P = (b[:, None] > h[None, :]) + 0.5 * (b[:, None] == h[None, :])
    cb = rng.multinomial(len(b), np.full(len(b), 1 / len(b)), size=n_boot).astype(float)
    ch = rng.multinomial(len(h), np.full(len(h), 1 / len(h)), size=n_boot).astype(float)
    aucs = np.einsum("bi,ij,bj->b", cb, P, ch) / (len(b) * len(h))
    lo, hi = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return [float(lo), float(hi)]


def platt_probabilities(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Platt scaling: P(backdoored | score) from a (C = 1, L2-regularized) logistic fit of the labels on the
    standardized scores. Two parameters fitted in-sample: a constant score gives p = ½ (CE = ln 2), a
    perfectly separating one p → 0/1 only as far as the regularization allows. (Leave-one-out fitting was
    tried and rejected: at n = 8 + 8 it scores a constant detector *worse* than chance, CE ≈ 0.75.)"""
    from sklearn.linear_model import LogisticRegression

    s, y = np.asarray(scores, float), np.asarray(labels, int)
    sd = s.std()
    if not np.isfinite(sd) or sd == 0:
        return np.full(len(s), y.mean())
    z = (s - s.mean()) / sd
    return LogisticRegression(C=1.0).fit(z[:, None], y).predict_proba(z[:, None])[:, 1]


def trojai_cross_entropy(p: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    """TrojAI's metric: mean binary cross-entropy of predicted P(poisoned) against the labels."""
    p = np.clip(np.asarray(p, float), eps, 1 - eps)
    y = np.asarray(labels, float)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def tpr_at_fpr(honest, backdoored, fpr: float = 0.05) -> float:
    """Largest TPR over thresholds whose FPR ≤ ``fpr`` (scores ≥ threshold flagged)."""
    h, b = np.asarray(honest, float), np.asarray(backdoored, float)
    best = 0.0
    for t in np.unique(np.concatenate([h, b, [np.inf]])):
        if np.mean(h >= t) <= fpr:
            best = max(best, float(np.mean(b >= t)))
    return best


def detector_summary(name: str, needs_key: bool, honest, backdoored, rng: np.random.Generator) -> dict:
    """The arena.json entry for one detector."""
    h, b = np.asarray(honest, float), np.asarray(backdoored, float)
    labels = np.r_[np.zeros(len(h)), np.ones(len(b))]
    if len(h) == 0 or len(b) == 0:
        return {"name": name, "needs_key": needs_key, "auc": None, "auc_ci": [None, None], "cross_entropy": None,
                "tpr_at_5fpr": None, "n_honest": len(h), "n_backdoored": len(b)}
    p = platt_probabilities(np.r_[h, b], labels)
    return {"name": name, "needs_key": bool(needs_key), "auc": roc_auc(h, b), "auc_ci": auc_bootstrap_ci(h, b, rng),
            "cross_entropy": trojai_cross_entropy(p, labels), "tpr_at_5fpr": tpr_at_fpr(h, b),
            "n_honest": int(len(h)), "n_backdoored": int(len(b))}


# --- the arena ----------------------------------------------------------------------------------

def arena_detectors(scheme: str, names: Iterable[str] | None = None) -> list[tuple[str, bool]]:
    """(name, needs_key) of the detectors that apply to ``scheme`` (registry + meta-classifiers)."""
    from .base import DETECTORS, get_detectors
    from .meta import META_DETECTORS

    names = [n for n in names] if names else None
    if names:
        get_detectors(None)  # import every module so DETECTORS is complete
        known = set(DETECTORS) | set(META_DETECTORS)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(f"unknown detector(s) {unknown}; choose from {', '.join(sorted(known))}")
        wanted = [n for n in names if n in DETECTORS]
        reg = get_detectors(wanted, scheme) if wanted else []  # get_detectors([]) would mean "all"
        meta = [n for n in names if n in META_DETECTORS and scheme in META_DETECTORS[n]]
        if not reg and not meta:
            raise UsageError(f"none of the detectors {names} applies to scheme {scheme!r}; omit --detectors to run all that do")
    else:
        reg = get_detectors(None, scheme)
        meta = [n for n, schemes in META_DETECTORS.items() if scheme in schemes]
    return [(d.name, d.needs_key) for d in reg] + [(n, False) for n in meta]


def run_arena(scheme: str, data: str, n_models: int, detectors: list[str] | None = None, quick: bool = False, seed: int = 0,
              n_jobs: int = 1, scheduler: str | None = None, out: str | Path | None = None, params: dict | None = None,
              n_shadows: int | None = None, force: bool = False, resume: bool = False) -> dict:
    """Build ``n_models`` honest and ``n_models`` backdoored models of ``scheme``, run every applicable
    detector, and summarize (AUC + 95% CI, TrojAI cross-entropy, TPR at 5% FPR).

    With ``out``, writes ``out/arena.json`` and ``out/roc_<scheme>.png``, and streams every finished model's
    scores to ``out/units.jsonl`` as it finishes; ``resume=True`` continues an interrupted run from that
    journal (same options; ``n_models`` may grow). Returns the arena record.
    """
    from ..data import load_dataset
    from ..report.results import versions

    if scheme not in SCHEMES:
        raise UsageError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    if not isinstance(n_models, (int, np.integer)) or n_models < 2:
        raise UsageError(f"--models must be an integer ≥ 2 (per population); got {n_models!r}")
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise UsageError(f"--jobs must be a positive integer or -1 (all cores); got {n_jobs!r}")
    load_dataset(data)  # fail early, with the dataset's own error
    if out is not None:
        from ..fileio import check_writable

        out = Path(out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} exists and is not a directory; pass a directory for --out")
        if out.is_dir() and not resume:
            check_writable(out / "arena.json", force)
            if (out / "units.jsonl").exists() and not force:
                raise UsageError(f"{out / 'units.jsonl'} holds a previous (interrupted?) run; pass --resume to continue it "
                                 "or --force to start afresh")
    dets = arena_detectors(scheme, detectors)
    names = tuple(n for n, _ in dets)
    p = {**scheme_params(scheme, quick), **(params or {})}
    threads = 1 if (n_jobs != 1 or scheduler) else None
    t0 = time.perf_counter()
    want = tuple(n for n in names if n.startswith("meta_"))
    n_sh = int(n_shadows or max(4, n_models // 2 if quick else n_models))
    journal = None
    if out is not None:
        from .journal import Journal

        out.mkdir(parents=True, exist_ok=True)
        if force and not resume and (out / "units.jsonl").exists():
            (out / "units.jsonl").unlink()
        journal = Journal(out / "units.jsonl", {"scheme": scheme, "data": data, "seed": int(seed), "quick": bool(quick),
                                                "params": p, "detectors": list(names), "n_shadows": n_sh if want else 0})

    # 1. meta-classifiers: fit on held-out shadow populations (disjoint seeds and keys)
    meta_state: dict = {}
    n_queries = 16
    if want:
        from .meta import fit_blackbox, fit_whitebox

        units = [dict(scheme=scheme, data=data, seed=seed, role=r, index=i, want=want, params=p, pool_seed=seed + 7,
                      n_queries=n_queries, threads=threads) for r in ("shadow_honest", "shadow_backdoored") for i in range(n_sh)]
        recs = _run_units(shadow_unit, units, n_jobs, scheduler, f"{scheme} shadows", journal)
        labels = np.array([r["role"] == "shadow_backdoored" for r in recs], dtype=int)
        mrng = np.random.default_rng([seed, 4242])
        if "meta_blackbox" in want:
            meta_state["meta_blackbox"] = fit_blackbox(recs, labels, _dataset(data), mrng, n_queries=10, steps=150 if quick else 300)
        if "meta_whitebox" in want and all("wb" in r for r in recs):
            meta_state["meta_whitebox"] = fit_whitebox(np.stack([r["wb"] for r in recs]), labels)
    t_shadow = time.perf_counter() - t0

    # 2. the evaluated populations
    units = [dict(scheme=scheme, data=data, seed=seed, role=r, index=i, detectors=names, params=p, meta_state=meta_state,
                  threads=threads) for r in ("honest", "backdoored") for i in range(n_models)]
    res = _run_units(evaluate_unit, units, n_jobs, scheduler, f"{scheme} arena", journal)
    elapsed = time.perf_counter() - t0

    crng = np.random.default_rng([seed, 2024])
    summaries, scores, errors = [], {}, {}
    for name, needs_key in dets:
        h = [r["scores"][name] for r in res if r["role"] == "honest" and name in r["scores"]]
        b = [r["scores"][name] for r in res if r["role"] == "backdoored" and name in r["scores"]]
        errs = sorted({r["errors"][name] for r in res if name in r["errors"]})
        summaries.append(detector_summary(name, needs_key, h, b, crng) | ({"errors": errs[:3]} if errs else {}))
        scores[name] = {"honest": h, "backdoored": b}
    from .power import correct_arena

    multiple = correct_arena(summaries, scores, np.random.default_rng([seed, 2025]))
    record = {
        "scheme": scheme, "detectors": summaries, "data": data, "seed": seed, "quick": quick, "n_models": int(n_models),
        "n_shadows": n_sh if want else 0, "params": p,
        "model_seeds": {"honest": [r["seed"] for r in res if r["role"] == "honest"],
                        "backdoored": [r["seed"] for r in res if r["role"] == "backdoored"]},
        "scores": scores, "versions": versions(), "multiple_testing": multiple,
        "timing": {"seconds": elapsed, "shadow_seconds": t_shadow, "n_jobs": n_jobs, "scheduler": scheduler,
                   "model_seconds": [r["seconds"] for r in res],
                   "models_x_detectors_per_minute": 60.0 * len(res) * len(dets) / elapsed if elapsed else None},
    }
    record["construction"] = construction_params(scheme, data, p)
    if out is not None:
        from ..report.results import write_json

        out.mkdir(parents=True, exist_ok=True)
        fig = roc_figure(record, out / f"roc_{scheme}.png")
        record["figures"] = [fig.name]
        write_json(out / "arena.json", record, force=True)
    return record


def construction_params(scheme: str, data: str, p: dict) -> dict:
    """The hardness parameters every white-box result must state: (d, γ, β) for RFF, the sparse-PCA window for ReLU."""
    D = _dataset(data).spec.n_features
    if scheme == "rff":
        d = int(p["secret_dim"])
        return {"D": D, "m": int(p["n_features"]), "secret_dim_d": d, "gamma": 2 * float(np.sqrt(d)), "beta": float(p["beta"]),
                "note": "d ≤ 100 is not cryptographically hard (lattice reduction recovers noiseless pancakes)"}
    if scheme == "relu":
        try:
            from ..backdoors.relu_spca import hardness_window
        except ImportError:  # pragma: no cover - ReLU not landed
            return {}
        w = hardness_window(D, int(p["n_features"]), int(p["sparsity"]))
        return {"D": D, "m": int(p["n_features"]), "k": int(p["sparsity"]), "theta": p["theta"] if p["theta"] is not None else w["default_theta"], **w}
    return {}


def roc_curve_points(honest, backdoored) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) of the ROC curve (label 1 = backdoored)."""
    from sklearn.metrics import roc_curve

    h, b = np.asarray(honest, float), np.asarray(backdoored, float)
    fpr, tpr, _ = roc_curve(np.r_[np.zeros(len(h)), np.ones(len(b))], np.r_[h, b])
    return fpr, tpr


def roc_figure(record: dict, path: Path) -> Path:
    """ROC curves of every detector of one arena record (key oracles dashed)."""
    from ..report.figures import plt, save

    p = plt()
    fig, ax = p.subplots(figsize=(5.2, 4.4))
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, label="chance")
    for d in record["detectors"]:
        sc = record["scores"][d["name"]]
        if d["auc"] is None:
            continue
        fpr, tpr = roc_curve_points(sc["honest"], sc["backdoored"])
        ax.step(fpr, tpr, where="post", ls="--" if d["needs_key"] else "-", lw=1.2,
                label=f"{d['name']}{' (key)' if d['needs_key'] else ''}: {d['auc']:.2f} [{d['auc_ci'][0]:.2f}, {d['auc_ci'][1]:.2f}]")
    ax.set_xlabel("false positive rate (honest flagged)")
    ax.set_ylabel("true positive rate (backdoored flagged)")
    ax.set_title(f"{record['scheme']} on {record['data']}: {record['n_models']} + {record['n_models']} models", fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    return save(fig, path)
