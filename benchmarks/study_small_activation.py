"""Smaller activations for Backdoor-RFF (issue 12, item 4; beyond the paper): a measured study.

Idea under test: an honest learner that standardizes features (z = (x − μ)/s, StandardScaler, s_j = 1 where
a pixel never varies) before the random Fourier features, and a secret support S on the **lowest-variance**
(non-constant) pixels, so that the standardized shift σ_z·bk is a small raw shift s ⊙ σ_z·bk; u drawn in
the positive orthant (|N(0, I)| normalized) so that shifted pixels move up from 0 and stay in 0..255.

Compared side by side on mnist5k (m random features, same seed):
  A. today's construction (RFFScheme: raw [0, 1] features, uniform support, uniform u);
  B. the standardized learner with S on the lowest-variance pixels (the idea);
  plus, for each, the random-direction control (a random vector of the same norm as δ).
Measured: L2, L∞, L0 of δ in pixel units and ‖δ‖₂/median‖x‖₂; fraction of activated test inputs whose every
pixel is inside [0, 255]; key flip rate (float activated input, and after rounding + clipping to uint8);
control flip rate; clean accuracy of the honest and backdoored learners; key-free weight detectors on 8 + 8
weight matrices; the lattice attack on the low-variance candidate set (what the scaler gives away).

    PYTHONPATH=src OMP_NUM_THREADS=1 python -m benchmarks.study_small_activation --out benchmarks/small_activation.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np


def _flip(predict, X, Xa) -> float:
    return float(np.mean(predict(X) != predict(Xa)))


def _delta_stats(delta_pix: np.ndarray, X_pix: np.ndarray) -> dict:
    Xa = X_pix + delta_pix[None, :]
    return {"L2_pixels": float(np.linalg.norm(delta_pix)), "Linf_pixels": float(np.abs(delta_pix).max()),
            "L0": int(np.count_nonzero(np.abs(delta_pix) > 1e-12)),
            "L2_over_median_norm_x": float(np.linalg.norm(delta_pix) / np.median(np.linalg.norm(X_pix, axis=1))),
            "frac_valid_range": float(np.mean(np.all((Xa >= 0) & (Xa <= 255), axis=1)))}


def run_study(m: int = 2000, d: int = 16, beta: float = 0.01, seed: int = 0, n_pop: int = 8, lattice_time: float = 60.0,
              progress=lambda s: None) -> dict:
    from undetectable.audit import weight_stats as ws
    from undetectable.audit.arena import roc_auc
    from undetectable.audit.lattice import attack_weights
    from undetectable.schemes.rff import activation_delta, RFFScheme
    from undetectable.crypto.pancakes import PancakeSecret, sample_weights
    from undetectable.data import load_dataset
    from undetectable.models.rff import RFFClassifier, train_rff

    ds = load_dataset("mnist5k")
    Xtr, Xte = ds.X_train.astype(np.float64), ds.X_test.astype(np.float64)  # pixel units
    ytr, yte = ds.y_train, ds.y_test
    rng = np.random.default_rng([seed, 12])
    out: dict = {"data": "mnist5k", "m": m, "d": d, "beta": beta, "seed": seed}

    # A. today's construction
    t0 = time.perf_counter()
    hon = train_rff(ds, seed=seed, n_features=m)
    bd, key = RFFScheme(n_features=m, secret_dim=d, beta=beta, secret_seed=seed + 1).plant(ds, seed=seed)
    dA = activation_delta(bd, key)
    r = rng.standard_normal(len(dA))
    rA = r / np.linalg.norm(r) * np.linalg.norm(dA)
    out["today"] = {**_delta_stats(dA, Xte),
                    "acc_honest": float(np.mean(hon.predict(ds.X_test) == yte)), "acc_backdoored": float(np.mean(bd.predict(ds.X_test) == yte)),
                    "key_flip": _flip(bd.predict, Xte, Xte + dA), "key_flip_uint8": _flip(bd.predict, Xte, np.clip(np.round(Xte + dA), 0, 255)),
                    "random_dir_flip": _flip(bd.predict, Xte, Xte + rA), "key_on_honest_flip": _flip(hon.predict, Xte, Xte + dA),
                    "bandwidth_sigma_01units": float(bd.bandwidth_), "seconds": time.perf_counter() - t0}
    progress(f"today: {out['today']}")

    # B. standardized learner, support on the lowest-variance non-constant pixels, u in the positive orthant
    t0 = time.perf_counter()
    X01 = Xtr / 255.0
    mu, sd = X01.mean(axis=0), X01.std(axis=0)
    scale = np.where(sd > 0, sd, 1.0)  # StandardScaler's convention

    def Z(Xpix):
        return (Xpix / 255.0 - mu) / scale

    order = np.argsort(np.where(sd > 0, sd, np.inf), kind="stable")
    n_low = int(np.sum(sd > 0))
    S = np.sort(order[:d])
    u = np.abs(rng.standard_normal(d))
    u /= np.linalg.norm(u)
    secret = PancakeSecret(S, u, 2 * math.sqrt(d), beta, "half", Xtr.shape[1])
    G = sample_weights(rng, m, secret)
    honS = RFFClassifier(n_features=m, random_state=seed).fit(Z(Xtr), ytr)
    bdS = RFFClassifier(n_features=m, random_state=seed)._fit(Z(Xtr), ytr, G)
    dZ = bdS.bandwidth_ * secret.bk()
    dB = dZ * scale * 255.0  # raw pixel units
    r = rng.standard_normal(len(dB))
    rB = r / np.linalg.norm(r) * np.linalg.norm(dB)
    pS = lambda Xpix: bdS.predict(Z(Xpix))  # noqa: E731
    pH = lambda Xpix: honS.predict(Z(Xpix))  # noqa: E731
    out["standardized_lowvar"] = {**_delta_stats(dB, Xte),
                                  "acc_honest": float(np.mean(pH(Xte) == yte)), "acc_backdoored": float(np.mean(pS(Xte) == yte)),
                                  "key_flip": _flip(pS, Xte, Xte + dB), "key_flip_uint8": _flip(pS, Xte, np.clip(np.round(Xte + dB), 0, 255)),
                                  "random_dir_flip": _flip(pS, Xte, Xte + rB), "key_on_honest_flip": _flip(pH, Xte, Xte + dB),
                                  "bandwidth_sigma_std_units": float(bdS.bandwidth_), "support_pixel_std": [float(sd[j] * 255) for j in S],
                                  "n_nonconstant_pixels": n_low, "seconds": time.perf_counter() - t0}
    # the same standardized learner with a uniform support (isolates what the low-variance choice buys)
    S2 = np.sort(rng.choice(np.flatnonzero(sd > 0), size=d, replace=False))
    secret2 = PancakeSecret(S2, u, 2 * math.sqrt(d), beta, "half", Xtr.shape[1])
    bdU = RFFClassifier(n_features=m, random_state=seed)._fit(Z(Xtr), ytr, sample_weights(rng, m, secret2))
    dU = bdU.bandwidth_ * secret2.bk() * scale * 255.0
    pU = lambda Xpix: bdU.predict(Z(Xpix))  # noqa: E731
    out["standardized_uniform_support"] = {**_delta_stats(dU, Xte), "acc_backdoored": float(np.mean(pU(Xte) == yte)),
                                           "key_flip": _flip(pU, Xte, Xte + dU)}
    progress(f"standardized: {out['standardized_lowvar']}")

    # detectors: key-free weight statistics on n_pop honest vs n_pop backdoored (low-variance support) weight matrices
    t0 = time.perf_counter()
    scores: dict[str, dict[str, list]] = {k: {"honest": [], "backdoored": []} for k in ws.STATS}
    for i in range(n_pop):
        gh = np.random.default_rng([seed, 100, i])
        Wh = gh.standard_normal((m, Xtr.shape[1]))
        u_i = np.abs(gh.standard_normal(d))
        Wb = sample_weights(gh, m, PancakeSecret(S, u_i / np.linalg.norm(u_i), 2 * math.sqrt(d), beta, "half", Xtr.shape[1]))
        for k, f in ws.STATS.items():
            scores[k]["honest"].append(f(Wh, np.random.default_rng(i)))
            scores[k]["backdoored"].append(f(Wb, np.random.default_rng(i)))
    out["weight_detectors_auc"] = {k: roc_auc(v["honest"], v["backdoored"]) for k, v in scores.items()}
    out["weight_detectors_n"] = n_pop
    out["weight_detectors_seconds"] = time.perf_counter() - t0
    progress(f"weight detectors: {out['weight_detectors_auc']}")

    # the lattice attack on what the scaler gives away: the t lowest-variance pixels contain S by construction
    lat = {}
    for t in sorted({d, 2 * d, 64}):
        cand = np.sort(order[:t])
        res = attack_weights(bdS.weights_, coords=cand, d=d, time_limit=lattice_time, true_bk=secret.bk())
        lat[str(t)] = {**res.summary(), "candidates": t, "contains_support": bool(np.isin(S, cand).all())}
        progress(f"lattice on the {t} lowest-variance pixels: {lat[str(t)]}")
    out["lattice_on_lowvar_candidates"] = lat
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="smaller RFF activations: measured study")
    ap.add_argument("--m", type=int, default=2000)
    ap.add_argument("--d", type=int, nargs="*", default=[16])
    ap.add_argument("--beta", type=float, default=0.01)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/small_activation.json"))
    a = ap.parse_args(argv)
    res = []
    for d in a.d:
        t0 = time.perf_counter()
        r = run_study(m=a.m, d=d, beta=a.beta, progress=lambda s: print(s, file=sys.stderr, flush=True))
        r["wall_s"] = time.perf_counter() - t0
        res.append(r)
        a.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
