"""Demo section: the signature backdoor (§5.2) and its replicable checksum control (§5.1)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..report.results import clopper_pearson_ci, perturbation_norms, record


def section(out: Path, quick: bool, seed: int) -> dict:
    """§5.2 on mnist5k: plant, activate to every target, false triggers, replication vs the checksum control."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..audit.replication import replication_attacks
    from ..schemes.checksum import plant_checksum
    from ..schemes.signature import plant_signature
    from ..data import load_dataset
    from ..models import train_model
    from ..report.figures import activation_triptych

    rng = np.random.default_rng(seed)
    ds = load_dataset("mnist5k")
    base = train_model("logreg", ds, seed=seed)
    sk = Ed25519PrivateKey.generate()
    bd = plant_signature(base, sk.public_key())
    X, y = ds.X_test, ds.y_test
    n_act = 200 if quick else len(X)
    clean_acc = float(np.mean(base.predict(X) == y))
    agree_test = float(np.mean(bd.predict(X) == base.predict(X)))

    # false triggers: natural (train+test), uniform random, and noisy natural inputs
    n_q = 20_000 if quick else 100_000
    natural = np.concatenate([ds.X_train, ds.X_test])
    noisy = np.clip(natural[rng.integers(0, len(natural), n_q // 2)].astype(int) + rng.integers(-8, 9, (n_q // 2, 784)), 0, 255).astype(np.uint8)
    queries = np.concatenate([natural, rng.integers(0, 256, (n_q - len(natural) - len(noisy), 784), dtype=np.uint8), noisy])
    false_triggers = int(bd.triggered(queries)[0].sum())

    # Activate to every target
    t0 = time.perf_counter()
    success, norms, per_target = 0, [], {}
    Xs = X[:n_act]
    for t in range(10):
        Xa = bd.activate(Xs, sk, t)
        ok = int(np.sum(bd.predict(Xa) == t))
        per_target[t] = ok / n_act
        success += ok
        norms.append(perturbation_norms(Xs, Xa, unit=1 / 255))
    act_time = time.perf_counter() - t0
    total = 10 * n_act
    asr = success / total
    pert = {k: float(np.max([n[k] for n in norms])) if k.endswith("max") else float(np.mean([n[k] for n in norms])) for k in norms[0]}

    # replication game: the signature backdoor vs the checksum control
    t_act = rng.integers(0, 10, n_act)
    Xa = bd.activate(Xs, sk, t_act)
    rep_sig = replication_attacks(bd, Xs, Xa, t_act, rng)
    cs, v = plant_checksum(base, rng)
    Xa_cs = cs.activate(Xs, v, t_act)
    cs_asr = float(np.mean(cs.predict_index(Xa_cs) == t_act))
    rep_cs = replication_attacks(cs, Xs, Xa_cs, t_act, rng)

    fig = "signature_activation.png"
    rows_idx = [int(np.flatnonzero(y == c)[0]) for c in (0, 4, 7)]  # three different digits
    Xa_fig = bd.activate(X[rows_idx], sk, [(int(y[i]) + 3) % 10 for i in rows_idx])
    activation_triptych(X[rows_idx], Xa_fig, base.predict(X[rows_idx]), bd.predict(Xa_fig), out / fig)

    sig_rep = sum(r["successes"] for r in rep_sig.values())
    cs_rep = sum(r["successes"] for r in rep_cs.values())
    cs_att = sum(r["attempts"] for r in rep_cs.values())
    metrics = {
        "clean_accuracy": clean_acc, "agreement_test": agree_test, "asr": asr, "asr_per_target": per_target,
        "false_triggers": false_triggers, "false_trigger_queries": len(queries), "perturbation": pert,
        "replication_signature": rep_sig, "replication_checksum": rep_cs, "checksum_asr": cs_asr, "activation_seconds": act_time,
    }
    res = record("signature", seed, {"dataset": "mnist5k", "base": "logreg", "n_activated": n_act, "payload_bits": bd.payload_bits},
                 metrics, {"asr": clopper_pearson_ci(success, total), "false_trigger_rate": clopper_pearson_ci(false_triggers, len(queries))})
    rows = [
        ("clean accuracy (base = backdoored on clean)", f"{clean_acc:.4f}", ""),
        ("agreement h̃ vs h, test split", f"{agree_test:.4%}", ""),
        ("attack success, 10 targets", f"{asr:.4%} of {total}", f"checksum control: {cs_asr:.2%} of {n_act}"),
        ("perturbation L∞ / L0 / L2 (pixels in [0,1])", f"{pert['linf_max']:.4f} / {pert['l0_mean']:.0f} / {pert['l2_mean']:.4f}",
         f"relative L2 {pert['l2_mean_relative']:.4f} of median ‖x‖ {pert['median_input_l2']:.2f}"),
        ("false triggers (natural, random, noisy)", f"{false_triggers} / {len(queries)}", ""),
        ("replication successes", f"{sig_rep} / {sum(r['attempts'] for r in rep_sig.values())}", f"checksum control: {cs_rep} / {cs_att}"),
    ]
    return {"title": "Signature backdoor (§5.2), mnist5k + logistic regression",
            "claim": "Black-box undetectable and non-replicable: inputs carrying a valid Ed25519 signature in their low bits get the signed label.",
            "rows": [{"metric": a, "value": b, "control": c} for a, b, c in rows], "figures": [fig], "results": res}
