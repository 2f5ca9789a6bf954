"""The false-trigger claim at scale: a signature-backdoored model never disagrees with its base without the key.

Two counts, each with its exact (Clopper–Pearson) 95% upper bound on the rate:

* **queries**: ≥ 10^6 inputs through a signature-backdoored mnist5k logreg, compared with the base
  model's answer. Four kinds, 250,000 each (plus the natural set itself):
  ``natural`` (the 5,000 digits shifted by up to ±2 pixels: 25 distinct copies of each),
  ``noisy`` (natural + Gaussian noise σ = 8 grey levels, clipped), ``random`` (uniform pixels),
  ``lsb`` (natural with every pixel's least significant bit — where the payload lives — random).
* **forgeries**: ≥ 10^5 attempts of the replication game (every strategy of
  ``audit/replication.py``: copy_payload, bit flips, retarget, recombine, edit_unsigned,
  recombine_chunks, majority, hill_climb) with k = 2,500 activated examples per game, several
  seeds; a success is a *new* input that fires the backdoor with the claimed target.

The expected count is 0 (a random 512-bit string verifies with probability 2^-128); the bound says
how much the run itself proves: with 0 of n, the rate is below ≈ 3.7/n at 95%.
Timing rows compare our predict with the bare base predict on the same inputs (the cost of
verification), so the table keeps its "ratio" shape.
"""
from __future__ import annotations

import time

import numpy as np


def clopper_pearson_upper(k: int, n: int, level: float = 0.95) -> float:
    """Two-sided exact binomial upper bound at ``level`` (for k = 0: 1 - ((1-level)/2)^(1/n))."""
    from scipy.stats import beta

    if k >= n:
        return 1.0
    return float(beta.ppf(1 - (1 - level) / 2, k + 1, n - k))


def _queries(X: np.ndarray, rng: np.random.Generator, per_kind: int) -> dict[str, np.ndarray]:
    n, d = X.shape
    side = int(round(np.sqrt(d)))
    imgs = X.reshape(n, side, side)
    shifted = [np.roll(np.roll(imgs, dy, axis=1), dx, axis=2).reshape(n, d)
               for dy in range(-2, 3) for dx in range(-2, 3)]
    natural = np.concatenate(shifted)  # 25 · n distinct-ish natural images
    reps = -(-per_kind // len(natural))
    natural = np.concatenate([natural] * reps)[:per_kind]
    base = natural[rng.integers(0, len(natural), size=per_kind)]
    noisy = np.clip(base.astype(np.float64) + rng.normal(0, 8, size=base.shape), 0, 255).round().astype(np.uint8)
    random = rng.integers(0, 256, size=(per_kind, d), dtype=np.uint8)
    lsb = (natural[rng.permutation(per_kind)] & np.uint8(0xFE)) | rng.integers(0, 2, size=(per_kind, d), dtype=np.uint8)
    return {"natural": natural, "noisy": noisy, "random": random, "lsb": lsb}


def measure(per_kind: int = 250_000, games: int = 4, k: int = 2500, steps: int = 20, seed: int = 0) -> dict:
    """Run both counts; returns a JSON-able record (also used by the README numbers)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from undetectable.audit.replication import replication_game
    from undetectable.schemes.signature import SignatureKey, SignatureScheme
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    rng = np.random.default_rng(seed)
    ds = load_dataset("mnist5k")
    base = train_model("logreg", ds, seed=0)
    sk = Ed25519PrivateKey.generate()
    bd = SignatureScheme(key=sk.public_key()).plant(base)[0]
    X_all = np.concatenate([ds.X_train, ds.X_test])
    rec: dict = {"queries": {}, "forgeries": {}}
    t_ours = t_base = 0.0
    for kind, Q in _queries(X_all, rng, per_kind).items():
        diff = 0
        for s in range(0, len(Q), 50_000):
            chunk = Q[s : s + 50_000]
            t0 = time.perf_counter()
            a = bd.predict(chunk)
            t1 = time.perf_counter()
            b = base.predict(chunk)
            t2 = time.perf_counter()
            t_ours += t1 - t0
            t_base += t2 - t1
            diff += int(np.sum(a != b))
        rec["queries"][kind] = {"n": len(Q), "differences": diff}
    n_q = sum(v["n"] for v in rec["queries"].values())
    d_q = sum(v["differences"] for v in rec["queries"].values())
    rec["queries_total"] = {"n": n_q, "differences": d_q, "cp95_upper": clopper_pearson_upper(d_q, n_q)}
    t0 = time.perf_counter()
    for g in range(games):
        res = replication_game(bd, SignatureKey(sk), X_all, k, np.random.default_rng(seed + 1 + g), steps=steps)
        for name, a in res["attacks"].items():
            acc = rec["forgeries"].setdefault(name, {"attempts": 0, "successes": 0})
            acc["attempts"] += a["attempts"]
            acc["successes"] += a["successes"]
    t_forge = time.perf_counter() - t0
    n_f = sum(v["attempts"] for v in rec["forgeries"].values())
    s_f = sum(v["successes"] for v in rec["forgeries"].values())
    rec["forgeries_total"] = {"attempts": n_f, "successes": s_f, "cp95_upper": clopper_pearson_upper(s_f, n_f)}
    rec["seconds"] = {"predict_ours": t_ours, "predict_base": t_base, "forgeries": t_forge}
    return rec


def run() -> list[dict]:
    import json

    from benchmarks.common import ratio_row

    rec = measure()
    q, f = rec["queries_total"], rec["forgeries_total"]
    print(json.dumps(rec, indent=1))
    return [
        ratio_row(f"false triggers: {q['differences']} of {q['n']:,} queries differ from base (CP95 ≤ {q['cp95_upper']:.2g})",
                  rec["seconds"]["predict_ours"], rec["seconds"]["predict_base"], "0 differences", q["differences"] == 0,
                  "time: signature predict vs bare base predict on the same queries"),
        ratio_row(f"forgeries: {f['successes']} of {f['attempts']:,} attempts succeed (CP95 ≤ {f['cp95_upper']:.2g})",
                  rec["seconds"]["forgeries"], rec["seconds"]["forgeries"], "0 successes", f["successes"] == 0,
                  "every replication strategy, k = 2500, 4 games"),
    ]


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    sys.path.insert(0, ".")
    print(json.dumps(measure(), indent=1))
