"""Signature backdoor speed on 10,000 mnist5k inputs vs the bare Ed25519 primitive, in the same run.

* activation throughput vs a bare loop of ``Ed25519PrivateKey.sign`` on the same messages (target ≥ 0.8)
* backdoored predict time vs (base predict + a bare loop of ``Ed25519PublicKey.verify``) (target ≤ 1.25)
"""
from __future__ import annotations

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.common import best_of, ratio_row


def run() -> list[dict]:
    from undetectable.schemes.signature import SignatureScheme
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    ds = load_dataset("mnist5k")
    X = np.concatenate([ds.X_train, ds.X_test, ds.X_train, ds.X_test])[:10_000]
    base = train_model("logreg", ds, seed=0)
    sk = Ed25519PrivateKey.generate()
    pk = sk.public_key()
    bd = SignatureScheme(key=pk).plant(base)[0]
    targets = np.arange(len(X)) % 10
    msgs = bd.messages(X, targets)

    def bare_sign():
        for m in msgs:
            sk.sign(m)

    t_act = best_of(lambda: bd.activate(X, sk, targets))
    t_sign = best_of(bare_sign)
    rows = [ratio_row("signature: activation throughput vs bare sign loop", t_act, t_sign, "throughput ≥ 0.8", t_sign / t_act >= 0.8,
                      "ratio = our throughput / bare throughput", ratio=t_sign / t_act)]
    # predict: our path vs base predict + a bare verify loop over the same (message, signature) pairs
    Xq = X
    bits = bd.carrier.read_bits(Xq)
    sigs = np.packbits(bits[:, bd.t_bits:], axis=1)
    qmsgs = bd.messages(Xq, np.minimum(bits[:, : bd.t_bits] @ (1 << np.arange(bd.t_bits - 1, -1, -1)), 9))
    sig_bytes = [s.tobytes() for s in sigs]

    def base_plus_verify():
        base.predict(Xq)
        for s, m in zip(sig_bytes, qmsgs):
            try:
                pk.verify(s, m)
            except InvalidSignature:
                pass

    t_ours = best_of(lambda: bd.predict(Xq))
    t_ref = best_of(base_plus_verify)
    rows.append(ratio_row("signature: predict (ours / base + bare verify)", t_ours, t_ref, "≤ 1.25", t_ours / t_ref <= 1.25,
                          f"{len(Xq)} natural inputs, each verified"))
    return rows
