"""Demo section: defenses beyond the paper — client-controlled coins and oblivious mitigation (GSVV 2024)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..report.results import clopper_pearson_ci, record
from .base import ExperimentResult


def _coins_rows(ds, seed: int, m_rff: int, m_relu: int, planted_rff) -> tuple[list, dict]:
    """verify-coins on honest / planted rff and relu models of the same task, and on a logreg (not applicable)."""
    from ..schemes.relu import ReLUScheme
    from ..defend.coins import verify_coins
    from ..errors import UsageError
    from ..models import train_model

    honest_rff = train_model("rff", ds, seed=seed, n_features=m_rff)
    honest_relu = train_model("relu", ds, seed=seed, n_features=m_relu)
    planted_relu, _ = ReLUScheme(n_features=m_relu, sparsity=5, secret_seed=seed + 1).plant(ds, seed=seed)
    t0 = time.perf_counter()
    res = {
        "rff_honest": verify_coins(honest_rff, seed), "rff_honest_wrong_seed": verify_coins(honest_rff, seed + 1),
        "rff_planted": verify_coins(planted_rff, seed),
        "relu_honest": verify_coins(honest_relu, seed), "relu_planted": verify_coins(planted_relu, seed),
    }
    secs = (time.perf_counter() - t0) / len(res)
    try:
        verify_coins(train_model("logreg", ds, seed=seed), seed)
        logreg_msg = "verified (unexpected)"
    except UsageError as exc:
        logreg_msg = str(exc).split(":")[0]

    def v(r):
        return "pass" if r.ok else f"FAIL: {r.rows_differ}/{r.n_features} rows differ (max |Δ| {r.max_abs_delta:.3g})"

    rows = [
        (f"verify-coins, honest rff (m={m_rff}) / relu (m={m_relu}), their seed {seed}", f"{v(res['rff_honest'])} / {v(res['relu_honest'])}",
         f"same honest rff, seed {seed + 1}: {v(res['rff_honest_wrong_seed'])}"),
        (f"verify-coins, planted rff (CLWE) / relu (sparse PCA), seed {seed}", f"{v(res['rff_planted'])} / {v(res['relu_planted'])}",
         f"logreg: {logreg_msg}; {secs * 1e3:.1f} ms per check"),
    ]
    return rows, {k: r.to_json() for k, r in res.items()} | {"seconds_per_check": secs}


def _row_ci(metric: str, ci: dict) -> dict:
    """The 95% CI of a row's headline number ('after' for before → after rows)."""
    for prefix, key in (("signature backdoor", "sig_asr_after"), ("RFF backdoor", "rff_flip_key_after"),
                        ("assumption violated", "fourier_err_after")):
        if metric.startswith(prefix):
            return {"ci": ci[key], "ci_note": "after"}
    return {}


def _bars(metrics: dict, path: Path) -> Path:
    from ..report.figures import oblivious_bars

    return oblivious_bars(metrics, path)


def section(out: Path, quick: bool, seed: int) -> ExperimentResult:
    """Coins verification (honest pass / planted fail) and oblivious mitigation (ASR before/after, cost)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..schemes.rff import RFFScheme
    from ..schemes.signature import SignatureKey, SignatureScheme
    from ..defend.oblivious import DataSampler, GroundTruthModel, ground_truth, make_task, mitigate
    from ..models import train_model

    D, n_eval, m_rff, m_relu = (50, 200, 500, 200) if quick else (100, 400, 1000, 300)
    rho, n_rep = 0.5, 32
    ds = make_task("linear", D=D, n=2000 + n_eval if quick else 4000 + n_eval, n_test=n_eval, seed=seed)
    X = ds.X_test
    f = ground_truth("linear", X, seed=seed)
    sampler = DataSampler.fit(ds.X_train)
    rng = np.random.default_rng(seed)

    # RFF backdoor (also the planted model for the coins check)
    d_secret = 8
    rff, key = RFFScheme(n_features=m_rff, secret_dim=d_secret, beta=0.01, secret_seed=seed + 1).plant(ds, seed=seed)
    coin_rows, coin_res = _coins_rows(ds, seed, m_rff, m_relu, rff)

    # signature backdoor on a logistic-regression base (float fixed-point payload)
    base = train_model("logreg", ds, seed=seed)
    sk = Ed25519PrivateKey.generate()
    sig, _ = SignatureScheme(key=SignatureKey(sk).public).plant(base)
    pred_base = base.predict_index(X)
    t = 1 - pred_base
    Xa = sig.activate(X, sk, t)
    asr_before = int(np.sum(sig.predict_index(Xa) == t))
    t0 = time.perf_counter()
    m_clean = mitigate(sig, X, sampler, rng, rho, n_rep)
    mitigate_secs = (time.perf_counter() - t0) / len(X)
    m_act = mitigate(sig, Xa, sampler, rng, rho, n_rep)
    asr_after = int(np.sum(m_act.indices == t))
    # black-box labels only (no scores): noisier near the decision boundary
    lab_act = mitigate(sig, Xa, sampler, rng, rho, 2 * n_rep, output="label").indices
    lab_clean = mitigate(sig, X, sampler, rng, rho, 2 * n_rep, output="label").indices

    # RFF: key vs a random direction of the same norm (the key negates, a random vector randomizes)
    Xk = key.activate(rff, X)
    r = rng.standard_normal(D)
    Xr = X + r * (np.linalg.norm(Xk[0] - X[0]) / np.linalg.norm(r))
    p0, pk, pr = rff.predict_index(X), rff.predict_index(Xk), rff.predict_index(Xr)
    q0, qk, qr = (mitigate(rff, Z, sampler, rng, rho, n_rep).indices for Z in (X, Xk, Xr))

    # the assumption violated: Fourier-heavy ground truth, a perfect model
    fd = make_task("fourier", D=D, n=1000 + n_eval, n_test=n_eval, seed=seed)
    oracle = GroundTruthModel("fourier", D, seed=seed)
    fourier_err = int(np.sum(mitigate(oracle, fd.X_test, fd.X_train, rng, rho, n_rep).indices != fd.y_test))

    n = len(X)
    metrics = {
        "sig_asr_before": asr_before / n, "sig_asr_after": asr_after / n,
        "sig_clean_error_before": float(np.mean(pred_base != f)), "sig_clean_error_after": float(np.mean(m_clean.indices != f)),
        "triggered_queries": int(m_clean.triggered_queries + m_act.triggered_queries), "queries_per_input": m_clean.queries_per_input,
        "total_queries": 2 * n * m_clean.queries_per_input,
        "min_query_distance_relative": m_clean.min_query_distance / float(np.median(np.linalg.norm(X, axis=1))),
        "rff_flip_key_before": float(np.mean(pk != p0)), "rff_flip_random_before": float(np.mean(pr != p0)),
        "rff_flip_key_after": float(np.mean(qk != q0)), "rff_flip_random_after": float(np.mean(qr != q0)),
        "rff_clean_error_before": float(np.mean(p0 != f)), "rff_clean_error_after": float(np.mean(q0 != f)),
        "rff_perturbation_relative": float(np.linalg.norm(Xk[0] - X[0]) / np.median(np.linalg.norm(X, axis=1))),
        "fourier_err_before": float(np.mean(oracle.predict(fd.X_test) != fd.y_test)), "fourier_err_after": fourier_err / n,
        "label_only_asr_after": float(np.mean(lab_act == t)), "label_only_clean_error_after": float(np.mean(lab_clean != f)),
        "mitigation_ms_per_input": 1e3 * mitigate_secs, "coins": coin_res,
    }
    ci = {"sig_asr_before": clopper_pearson_ci(asr_before, n), "sig_asr_after": clopper_pearson_ci(asr_after, n),
          "rff_flip_key_before": clopper_pearson_ci(int(np.sum(pk != p0)), n), "rff_flip_key_after": clopper_pearson_ci(int(np.sum(qk != q0)), n),
          "rff_flip_random_after": clopper_pearson_ci(int(np.sum(qr != q0)), n), "fourier_err_after": clopper_pearson_ci(fourier_err, n)}
    params = {"task": "linear: x ~ N(0, I_D), y = 1[<w*, x> > 0]", "D": D, "n_eval": n, "rho": rho, "n_rep": n_rep, "groups": 8,
              "rff": {"n_features": m_rff, "secret_dim": d_secret, "beta": 0.01, "gamma": 2 * np.sqrt(d_secret)}, "relu_features": m_relu,
              "fourier_omega": 4.0, "signature_bound": 1e-3}
    res = record("defenses_beyond_paper", seed, params, metrics, ci)
    fig = "oblivious_mitigation.png"
    _bars(metrics, out / fig)
    M = metrics
    q = M["queries_per_input"]
    rows = coin_rows + [
        (f"signature backdoor (logreg base, D={D}): ASR before → after mitigation", f"{M['sig_asr_before']:.2%} → {M['sig_asr_after']:.2%} of {n}",
         f"backdoor fired on {M['triggered_queries']} of {M['total_queries']} queries"),
        ("clean error vs ground truth: model → mitigated (signature model)", f"{M['sig_clean_error_before']:.3f} → {M['sig_clean_error_after']:.3f}",
         f"{q} queries per input (ρ={rho}); nearest query at {M['min_query_distance_relative']:.2f}× median ‖x‖"),
        (f"labels only (no scores), {6 * n_rep} queries per input: ASR after / clean error after",
         f"{M['label_only_asr_after']:.2%} / {M['label_only_clean_error_after']:.3f}", "with scores: see the two rows above"),
        (f"RFF backdoor (m={m_rff}, d={d_secret}, β=0.01): key flip rate before → after", f"{M['rff_flip_key_before']:.2%} → {M['rff_flip_key_after']:.2%}",
         f"random same-norm direction: {M['rff_flip_random_before']:.2%} → {M['rff_flip_random_after']:.2%} (‖σ·bk‖ = {M['rff_perturbation_relative']:.0f}× median ‖x‖)"),
        ("clean error vs ground truth: RFF model → mitigated", f"{M['rff_clean_error_before']:.3f} → {M['rff_clean_error_after']:.3f}",
         f"{M['mitigation_ms_per_input']:.1f} ms per mitigated input (logreg)"),
        ("assumption violated: Fourier task sin(4⟨w*,x⟩), perfect model: error before → after", f"{M['fourier_err_before']:.3f} → {M['fourier_err_after']:.3f}",
         "linear task, same mitigation: see the clean-error rows"),
    ]
    defenses = [
        {"defense": "client-controlled coins (verify-coins)", "attack": "RFF/CLWE, ReLU/sparse-PCA planted coins",
         "before": "accepted (no coins check)", "after": f"rff {coin_res['rff_planted']['rows_differ']}/{m_rff}, relu {coin_res['relu_planted']['rows_differ']}/{m_relu} rows differ: rejected",
         "cost": f"one PRG draw ({coin_res['seconds_per_check'] * 1e3:.1f} ms); covers the coins only, not the head or the data"},
        {"defense": f"oblivious mitigation (ρ={rho}, {q} queries/input)", "attack": "signature (float payload)",
         "before": f"ASR {M['sig_asr_before']:.2%}", "after": f"ASR {M['sig_asr_after']:.2%}",
         "cost": f"{q}× queries; clean error {M['sig_clean_error_before']:.3f} → {M['sig_clean_error_after']:.3f}"},
        {"defense": f"oblivious mitigation (ρ={rho}, {q} queries/input)", "attack": "RFF/CLWE (key vs random direction)",
         "before": f"flip {M['rff_flip_key_before']:.2%} vs {M['rff_flip_random_before']:.2%}", "after": f"flip {M['rff_flip_key_after']:.2%} vs {M['rff_flip_random_after']:.2%}",
         "cost": f"{q}× queries; clean error {M['rff_clean_error_before']:.3f} → {M['rff_clean_error_after']:.3f}"},
    ]
    caveat = ("Coins verification proves only that the random features are the seed's; the trained head and the training data must be "
              "checked separately, and it applies only to random-feature learners. The oblivious mitigation assumes the ground truth is "
              "close to an affine score / a halfspace through the data centre and the data is Gaussian with the fitted mean and covariance; "
              f"on a Fourier-heavy task it fails (error {M['fourier_err_after']:.2f} for a perfect model). Against the RFF backdoor it removes the "
              "key's advantage but cannot make the output at x + σ·bk stable: that point is "
              f"{M['rff_perturbation_relative']:.0f}× the data's scale away, off the data distribution, where even the ground truth changes "
              "and a random direction of the same norm flips about half the outputs.")
    return ExperimentResult.from_json({"title": "Defenses beyond the paper: client-controlled coins and oblivious mitigation (GSVV 2024)",
            "claim": ("B and C tamper only with the random coins, so coins derived from a client seed expose them; and if the ground truth is "
                      "close to linear, a model can be queried only at data-like points far from x (random self-reduction), so no keyed "
                      "input is ever evaluated and backdoors are mitigated without being detected."),
            "rows": [{"metric": a, "value": b, "control": c} | _row_ci(a, ci) for a, b, c in rows], "figures": [fig], "results": res,
            "caveat": caveat, "defenses": defenses,
            "headline": {"construction": "defenses: coins, oblivious mitigation", "claim": "client coins expose B and C; mitigation without detection",
                         "measured": f"planted coins rejected; signature ASR {M['sig_asr_before']:.0%} → {M['sig_asr_after']:.0%}",
                         "control": f"honest coins accepted; Fourier task error {M['fourier_err_after']:.2f} (assumption violated)",
                         "verdict": "holds under its assumptions" if M["sig_asr_after"] <= 0.05 else "does not hold here"},
            "captions": {fig: "Rates before and after oblivious mitigation on a linear task; the last pair violates the mitigation's "
                              "assumption (Fourier-heavy ground truth)."}})
