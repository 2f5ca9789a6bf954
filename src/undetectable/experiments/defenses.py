"""Demo section: defenses — randomized smoothing, post-processing, the robustness illusion."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..report.results import clopper_pearson_ci, record
from .base import ExperimentResult
from .persistence import step_gate_toy


def _pick(rows: list[dict], sigma: float) -> dict:
    return min(rows, key=lambda r: abs(r["sigma"] - sigma))


def _rff_sweep(ds, seed: int, quick: bool, sigmas, n: int, alpha: float, n_rows: int, rng) -> dict:
    """The RFF/CLWE backdoor under smoothing (flip ASR), with a key-less control of the same norm."""
    from ..schemes.rff import RFFScheme
    from ..defend.sweep import sigma_sweep

    m, key = RFFScheme(n_features=1000 if quick else 3000, secret_seed=seed + 1).plant(ds, seed=seed)
    X = ds.X_test[:n_rows]
    y_idx = np.searchsorted(m.classes, ds.y_test[:n_rows])
    Xa = key.activate(m, X)
    Xf = X.astype(np.float64)
    delta = Xa - Xf
    rand = rng.standard_normal(delta.shape)
    rand *= (np.linalg.norm(delta, axis=1) / np.linalg.norm(rand, axis=1))[:, None]
    control_flip = float(np.mean(m.predict_index(m.spec.validate(Xf + rand)) != m.predict_index(m.spec.validate(Xf))))
    rows = sigma_sweep(m, X, y_idx, X, Xa, None, sigmas, n=n, alpha=alpha, n0=8, n_cert=64 if quick else 128,
                       n_cert_rows=n_rows // 4, rng=rng)
    return {"rows": rows, "control_random_same_norm_flip": control_flip, "bandwidth": float(m.bandwidth_)}


def section(out: Path, quick: bool, seed: int) -> ExperimentResult:
    """Run the section with one torch thread (restored afterwards): its networks are small and trained in
    batches of 128, where a second thread only adds overhead (measured 6× slower on a busy 2-core machine)."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _section(out, quick, seed)
    finally:
        torch.set_num_threads(prev)


def _section(out: Path, quick: bool, seed: int) -> ExperimentResult:
    """σ sweep (signature; RFF), fine-tuning / fine-pruning (BadNets vs signature), the robustness illusion."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..audit.robustness import illusion_figure, robustness_illusion
    from ..schemes.signature import SignatureKey, SignatureScheme
    from ..data import load_dataset
    from ..defend.finetune import post_processing_table
    from ..defend.sweep import sigma_sweep, sweep_figure
    from ..models import train_model

    rng = np.random.default_rng(seed)
    ds = load_dataset("mnist5k")
    epochs = 3 if quick else 5
    timings = {}
    t0 = time.perf_counter()
    base = train_model("mlp", ds, seed=seed, epochs=epochs)
    sk = Ed25519PrivateKey.generate()
    sig, _ = SignatureScheme(key=SignatureKey(sk).public).plant(base)
    timings["train"] = time.perf_counter() - t0

    # --- 1. the σ sweep ------------------------------------------------------------------------
    t0 = time.perf_counter()
    n_rows = 100 if quick else 200
    n, alpha = (16, 0.01) if quick else (32, 0.01)
    X = ds.X_test[:n_rows]
    y_idx = np.searchsorted(base.classes, ds.y_test[:n_rows])
    pred0 = base.predict_index(X)
    targets = (pred0 + 1 + rng.integers(0, 9, n_rows)) % 10  # never h's own answer: a hit is the backdoor's doing
    Xa = sig.activate(X, sk, targets)
    grey = [0, 1, 2, 8, 32, 128] if quick else [0, 0.5, 1, 2, 4, 8, 16, 32, 64, 128]
    sig_rows = sigma_sweep(sig, X, y_idx, X, Xa, targets, [g / 255 for g in grey], n=n, alpha=alpha, n0=8,
                           n_cert=64 if quick else 128, n_cert_rows=n_rows // 4, rng=rng)
    timings["sweep_signature"] = time.perf_counter() - t0
    curves = {"signature": sig_rows}
    t0 = time.perf_counter()
    rff = _rff_sweep(ds, seed, quick, [0, 2 / 255, 8 / 255, 32 / 255, 0.25, 0.5, 2.0] if quick else
                     [0, 1 / 255, 2 / 255, 8 / 255, 32 / 255, 0.25, 0.5, 2.0], n, alpha, min(n_rows, 100), rng)
    curves["RFF (CLWE)"] = rff["rows"]
    timings["sweep_rff"] = time.perf_counter() - t0
    fig_sweep = "defenses_smoothing_sweep.png"
    sweep_figure(curves, out / fig_sweep)

    # --- 2. fine-tuning and fine-pruning ----------------------------------------------------------
    t0 = time.perf_counter()
    from ..schemes.badnets import BadNetsScheme, attack_success_rate
    from ..schemes.base import Learner

    bn, bn_key = BadNetsScheme(poison_rate=0.1, target=0, learner=Learner("mlp", {"epochs": epochs}), secret_seed=seed).plant(ds, seed=seed)
    X_def, y_def = ds.X_train, ds.y_train  # the defender's clean data (the attacker poisoned its own copy)
    pp_epochs = 3
    bn_rows = post_processing_table(bn, X_def, y_def, ds.X_test, ds.y_test,
                                    lambda m: attack_success_rate(m, ds.X_test, ds.y_test, bn_key), seed=seed, epochs=pp_epochs)
    Xs, ts = X[:100], targets[:100]
    sig_pp = post_processing_table(sig, X_def, y_def, ds.X_test[:300], ds.y_test[:300],
                                   lambda m: float(np.mean(m.predict_index(m.activate(Xs, sk, ts)) == ts)), seed=seed, epochs=pp_epochs)
    timings["post_processing"] = time.perf_counter() - t0

    # --- 2b. persistence (§5.3): threshold gates vs the sigmoid control ----------------------------
    t0 = time.perf_counter()
    persist = step_gate_toy(ds, seed)
    timings["persistence"] = time.perf_counter() - t0

    # --- 3. the robustness illusion --------------------------------------------------------------
    t0 = time.perf_counter()
    budgets_grey = [1, 2, 4, 8, 16] if quick else [1, 2, 4, 8, 16, 32]
    ill_rows = robustness_illusion(base, sig, ds.X_test[:n_rows], y_idx, lambda Z, t: sig.activate(Z, sk, t),
                                   [b / 255 for b in budgets_grey], trials=5 if quick else 20, steps=10, rng=rng)
    fig_ill = "defenses_robustness_illusion.png"
    illusion_figure(ill_rows, out / fig_ill)
    timings["robustness"] = time.perf_counter() - t0

    # --- rows ----------------------------------------------------------------------------------
    s0, s1, s2 = _pick(sig_rows, 0), _pick(sig_rows, 1 / 255), _pick(sig_rows, 2 / 255)
    top = sig_rows[-1]
    rows = [
        ("signature: ASR, σ = 0 (control: no smoothing)", f"{s0['asr']:.2%} of {s0['n_activated']}", f"clean acc {s0['clean_accuracy']:.3f}"),
        ("signature: ASR, σ = 1/255", f"{s1['asr']:.2%}", f"clean acc {s1['clean_accuracy']:.3f}, abstain {s1['abstain_rate']:.2%}"),
        ("signature: ASR, σ = 2/255", f"{s2['asr']:.2%}", f"clean acc {s2['clean_accuracy']:.3f}, abstain {s2['abstain_rate']:.2%}"),
        (f"signature: σ = {top['sigma'] * 255:g}/255", f"ASR {top['asr']:.2%}, clean acc {top['clean_accuracy']:.3f}",
         f"certified acc at r=0.063: {top['certified_accuracy'].get('0.063', float('nan')):.3f}"),
        ("signature: inputs certified beyond ‖Activate(x)−x‖₂ (σ = 32/255)",
         f"{_pick(sig_rows, 32 / 255)['certified_beyond_activation']:.2%}",
         f"activation L2 {s0['activation_l2_median']:.3f}; at σ = 0: {s0['certified_beyond_activation']:.0%}"),
    ]
    r = rff["rows"]
    r0, r2 = r[0], _pick(r, 2 / 255)
    last_alive = max((x for x in r if x["asr"] >= 0.5 * max(r0["asr"], 1e-9)), key=lambda x: x["sigma"])
    rows += [
        ("RFF: flip ASR, σ = 0", f"{r0['asr']:.2%}", f"key-less random direction, same norm: {rff['control_random_same_norm_flip']:.2%}"),
        ("RFF: flip ASR at σ = 2/255 (kills the signature)", f"{r2['asr']:.2%}", f"clean acc {r2['clean_accuracy']:.3f}"),
        ("RFF: largest σ keeping ≥ half the ASR", f"σ = {last_alive['sigma']:.3g} (ASR {last_alive['asr']:.2%})",
         f"clean acc there {last_alive['clean_accuracy']:.3f} (σ=0: {r0['clean_accuracy']:.3f}); activation L2 {r0['activation_l2_median']:.1f}"),
    ]
    rows += [(f"RFF: σ = {x['sigma']:.3g}", f"ASR {x['asr']:.2%}, clean acc {x['clean_accuracy']:.3f}",
              f"abstain clean {x['abstain_rate']:.0%} / activated {x['activated_abstain_rate']:.0%}") for x in r[1:] if x is not last_alive]
    for name, tab in (("BadNets", bn_rows), ("signature", sig_pp)):
        none = tab[0]
        for r in tab[1:]:
            extra = f", pruned {r['pruned_units']}/{r['hidden_units']}" if "pruned_units" in r else ""
            rows.append((f"{name}: {r['defense']} → ASR / clean acc", f"{r['asr']:.2%} / {r['clean_accuracy']:.3f}{extra}",
                         f"before: {none['asr']:.2%} / {none['clean_accuracy']:.3f}"))
    for act, p in persist.items():
        rows.append((f"persistent net ({act} gates): fine-tuned with the trigger known → ASR",
                     f"{p['asr_before']:.0%} → {p['asr_after']:.0%}",
                     f"max |∂loss/∂w| {p['max_abs_gradient']:.3g}, max weight change {p['max_weight_change']:.3g}"))
    b1 = ill_rows[0]
    bmax = ill_rows[-1]
    rows += [
        ("robustness: key-less PGD at 1/255, honest h vs backdoored h̃", f"{b1['pgd_honest']:.2%} vs {b1['pgd_backdoored']:.2%}",
         f"Activate (key, chosen target): {b1['activate_key']:.2%} of {b1['n']}"),
        (f"robustness: key-less PGD at {bmax['budget_grey_levels']:g}/255, h vs h̃", f"{bmax['pgd_honest']:.2%} vs {bmax['pgd_backdoored']:.2%}",
         f"random search: {bmax['random_honest']:.2%} vs {bmax['random_backdoored']:.2%}"),
    ]
    def _ci(row: dict) -> dict:
        return {"ci": clopper_pearson_ci(row["asr_successes"], row["n_activated"])}

    row_ci = {"signature: ASR, σ = 0 (control: no smoothing)": _ci(s0), "signature: ASR, σ = 1/255": _ci(s1),
              "signature: ASR, σ = 2/255": _ci(s2), "RFF: flip ASR, σ = 0": _ci(r0),
              "RFF: flip ASR at σ = 2/255 (kills the signature)": _ci(r2)}
    defenses = [
        {"defense": "randomized smoothing, σ = 2/255", "attack": "signature", "before": f"ASR {s0['asr']:.0%}",
         "after": f"ASR {s2['asr']:.0%}", "cost": f"{n} queries per prediction; clean acc {s0['clean_accuracy']:.3f} → {s2['clean_accuracy']:.3f}"},
        {"defense": "randomized smoothing, σ = 2/255", "attack": "RFF/CLWE", "before": f"flip {r0['asr']:.0%}",
         "after": f"flip {r2['asr']:.0%}", "cost": f"clean acc {r0['clean_accuracy']:.3f} → {r2['clean_accuracy']:.3f}"}]
    for name, tab in (("BadNets", bn_rows), ("signature", sig_pp)):
        for r in tab[1:]:
            defenses.append({"defense": f"{r['defense']} ({pp_epochs} epochs, defender's clean data)", "attack": name,
                             "before": f"ASR {tab[0]['asr']:.0%}", "after": f"ASR {r['asr']:.0%}",
                             "cost": f"clean acc {tab[0]['clean_accuracy']:.3f} → {r['clean_accuracy']:.3f}"})
    for act, pr in persist.items():
        defenses.append({"defense": "fine-tuning with the trigger known", "attack": f"persistent net ({act} gates)",
                         "before": f"ASR {pr['asr_before']:.0%}", "after": f"ASR {pr['asr_after']:.0%}",
                         "cost": "threshold gates have zero gradient" if act == "step" else "control: differentiable gates"})
    metrics = {"persistence": persist, "sweep_signature": sig_rows, "sweep_rff": rff, "rff_error": None, "post_processing_badnets": bn_rows,
               "post_processing_signature": sig_pp, "robustness_illusion": ill_rows, "seconds": timings}
    ci = {"asr_signature_sigma_2": clopper_pearson_ci(s2["asr_successes"], s2["n_activated"]),
          "asr_signature_sigma_0": clopper_pearson_ci(s0["asr_successes"], s0["n_activated"])}
    res = record("defenses", seed, {"dataset": "mnist5k", "base": "mlp", "epochs": epochs, "n_noise": n, "alpha": alpha,
                                    "n_rows": n_rows, "sigma_units": "[0,1] pixel units"}, metrics, ci)
    caveat = ("Smoothing certifies an L2 radius σ·Φ⁻¹(p̲_A) only, with probability 1 − α, and costs n model queries per "
              f"prediction (here n = {n}, far below Cohen et al.'s 10⁵, so certified radii are small and abstentions frequent). "
              "It kills the signature backdoor because Activate's perturbation (1 grey level) is tiny; a backdoor whose "
              "perturbation η ≫ σ (RFF/CLWE: η is far larger than the image) is untouched until the noise destroys clean "
              "accuracy. Fine-tuning and fine-pruning only edit weights: a wrapper's verifier, or a persistent construction, "
              f"is out of their reach. The robustness rows use one MLP and small samples (n = {n_rows}).")
    return ExperimentResult.from_json({"title": "Defenses: randomized smoothing, fine-tuning/pruning, the robustness illusion (mnist5k + MLP)",
            "claim": "Smoothing with σ ≈ 1–2 grey levels kills the signature backdoor at small accuracy cost; weight-level "
                     "post-processing does not touch it; key-less attacks see h̃ as robust as h while Activate succeeds everywhere.",
            "rows": [{"metric": a, "value": b, "control": c} | row_ci.get(a, {}) for a, b, c in rows], "figures": [fig_sweep, fig_ill],
            "results": res, "caveat": caveat, "defenses": defenses,
            "headline": {"construction": "defenses: smoothing", "claim": "σ ≈ 1–2 grey levels kills the signature backdoor",
                         "measured": f"ASR {s2['asr']:.0%} at σ = 2/255 (clean acc {s2['clean_accuracy']:.2f})",
                         "control": f"σ = 0: ASR {s0['asr']:.0%} (clean acc {s0['clean_accuracy']:.2f})",
                         "verdict": "holds" if s2["asr"] <= 0.05 else "does not hold here"},
            "captions": {fig_sweep: "Attack success (solid) and clean accuracy (dashed) of the smoothed model vs the noise σ, per construction.",
                         fig_ill: "Success of key-less attacks (PGD, random search) on the honest and the backdoored model vs Activate with "
                                  "the key, by L∞ budget."}})
