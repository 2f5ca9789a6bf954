"""The replication game (non-replicability, paper §5.2 / Def. of non-replicable backdoors).

An adversary without the key sees activated examples (x'_i, t_i) and tries to produce a *new*
activated input: some x* not among the examples with h̃(x*) = t* ≠ h(x*). Attacks:

* ``copy_payload``   : write the payload bits of an activated x' onto another clean input;
* ``bit_flip``       : flip one bit (any bit plane, any pixel) of an activated input;
* ``retarget``       : rewrite the target bits of an activated input to another class;
* ``recombine``      : splice the payloads of two activated examples (half of each);
* ``edit_unsigned``  : change a coordinate outside the payload region by one step.

A signature backdoor must give 0 successes; the checksum control gives many.
"""
from __future__ import annotations

import numpy as np

from ..backdoors.common import WrapperBackdoor, int_to_bits


def _success(model: WrapperBackdoor, X_star: np.ndarray, t_star: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """New (not an exact copy of a seen example), fires the backdoor, and gets the claimed target."""
    mask, targets = model.triggered(X_star)
    base = model.base.predict_index(X_star)
    seen_rows = {r.tobytes() for r in np.ascontiguousarray(seen)}
    new = np.array([r.tobytes() not in seen_rows for r in np.ascontiguousarray(X_star)])
    return mask & (targets == t_star) & (base != t_star) & new


def _bit_flip(X: np.ndarray, rng, payload_only: bool | None, carrier) -> np.ndarray:
    Xs = X.copy()
    n, d = X.shape
    if X.dtype == np.uint8:
        if payload_only:
            cols = rng.choice(carrier.positions, size=n)
        else:
            mask = np.ones(d, dtype=bool)
            mask[carrier.positions] = False
            cols = rng.choice(np.flatnonzero(mask), size=n) if payload_only is False else rng.integers(0, d, size=n)
        planes = rng.integers(0, 8, size=n).astype(np.uint8)
        Xs[np.arange(n), cols] ^= (np.uint8(1) << planes)
    else:  # float: flip one bit of the IEEE-754 representation (any of the 64)
        V = Xs.view(np.uint64)
        cols = rng.integers(0, d, size=n)
        V[np.arange(n), cols] ^= (np.uint64(1) << rng.integers(0, 52, size=n).astype(np.uint64))
    return Xs


def replication_attacks(model: WrapperBackdoor, X_clean: np.ndarray, X_act: np.ndarray, t_act: np.ndarray,
                        rng: np.random.Generator) -> dict[str, dict]:
    """Run every attack on activated examples ``X_act`` (targets ``t_act``, class indices) of clean ``X_clean``.

    Returns ``{attack: {"attempts": n, "successes": k, "rate": k/n}}``.
    """
    carrier = model.carrier
    n = len(X_act)
    t_bits = model.t_bits
    bits = carrier.read_bits(X_act)
    results: dict[str, dict] = {}

    def score(name, X_star, t_star):
        ok = _success(model, X_star, t_star, X_act)
        results[name] = {"attempts": int(len(X_star)), "successes": int(ok.sum()), "rate": float(ok.mean())}

    # copy the whole payload onto a different clean input
    perm = (np.arange(n) + 1) % n
    score("copy_payload", carrier.write_bits(X_clean[perm], bits), t_act)
    # flip one bit anywhere / inside the payload pixels / outside
    score("bit_flip_any", _bit_flip(X_act, rng, None, carrier), t_act)
    if X_act.dtype == np.uint8:
        score("bit_flip_payload", _bit_flip(X_act, rng, True, carrier), t_act)
        score("bit_flip_outside_payload", _bit_flip(X_act, rng, False, carrier), t_act)
    # rewrite the target bits (reuse the signature for another target)
    t_new = (t_act + 1 + rng.integers(0, model.n_classes - 1, size=n)) % model.n_classes
    rb = bits.copy()
    rb[:, :t_bits] = int_to_bits(t_new, t_bits)
    score("retarget", carrier.write_bits(X_act, rb), t_new)
    # splice two payloads of the same target: first half of one, second half of another
    same = np.array([rng.choice(np.flatnonzero(t_act == t)) for t in t_act])
    half = t_bits + (bits.shape[1] - t_bits) // 2
    sb = bits.copy()
    sb[:, half:] = bits[same, half:]
    score("recombine", carrier.write_bits(X_act, sb), t_act)
    # edit a coordinate outside the payload region by one step
    Xe = X_act.copy()
    if X_act.dtype == np.uint8:
        outside = np.setdiff1d(np.arange(X_act.shape[1]), carrier.positions)
        cols = rng.choice(outside, size=n)
        vals = Xe[np.arange(n), cols]
        Xe[np.arange(n), cols] = np.where(vals < 128, vals + 2, vals - 2).astype(np.uint8)  # +-2 keeps the LSB
    else:
        cols = rng.integers(0, X_act.shape[1], size=n)
        step = carrier.step[cols] * 2.0**carrier.k
        Xe[np.arange(n), cols] += step  # one unit of the high (signed) part
    score("edit_unsigned", Xe, t_act)
    return results
