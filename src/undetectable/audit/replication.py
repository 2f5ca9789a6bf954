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

from ..bundle import Model
from ..schemes.base import Key
from ..schemes.wrapper import WrapperBackdoor, int_to_bits


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


# --- attacks over k examples, and the whole game -----------------------------------------------

def recombine_k(model: WrapperBackdoor, X_clean: np.ndarray, X_act: np.ndarray, t_act: np.ndarray,
                rng: np.random.Generator, chunk: int = 8) -> dict[str, dict]:
    """Attacks that pool all k activated examples, written onto *other* clean inputs.

    * ``recombine_chunks``: every ``chunk``-bit piece of the check/signature bits from a random
      example of the same target (a checksum's parity blocks survive this; a signature does not);
    * ``majority``: the bitwise majority of the payloads of all examples of the same target.
    """
    carrier, t_bits = model.carrier, model.t_bits
    bits = carrier.read_bits(X_act)
    n, nb = bits.shape
    dest = X_clean[(np.arange(n) + 1) % n]
    rc = bits.copy()
    maj = bits.copy()
    starts = np.arange(t_bits, nb, chunk)
    for i in range(n):
        same = np.flatnonzero(t_act == t_act[i])
        donors = rng.choice(same, size=len(starts))
        for s, dnr in zip(starts.tolist(), donors.tolist()):
            rc[i, s : s + chunk] = bits[dnr, s : s + chunk]
        maj[i, t_bits:] = (2 * bits[same, t_bits:].sum(axis=0) > len(same)).astype(np.uint8)
    out = {}
    for name, b in (("recombine_chunks", rc), ("majority", maj)):
        ok = _success(model, carrier.write_bits(dest, b), t_act, X_act)
        out[name] = {"attempts": n, "successes": int(ok.sum()), "rate": float(ok.mean())}
    return out


def hill_climb(model: WrapperBackdoor, X_clean: np.ndarray, X_act: np.ndarray, t_act: np.ndarray,
               rng: np.random.Generator, steps: int = 50, frac: float = 0.05) -> dict:
    """Decision-based hill climbing (a boundary-attack walk) from each activated example toward another clean input.

    Each step copies a random ``frac`` of the coordinates of the destination x_j into the current
    point (keeping the current payload bits), queries h̃, and keeps the step when the backdoor still
    fires with the same target. Success: the end point is new and still activated. Also reports how
    far the walk got (the fraction of coordinates equal to the destination's).
    """
    carrier = model.carrier
    n, d = X_act.shape
    dest = X_clean[(np.arange(n) + 1) % n]
    cur = X_act.copy()
    for _ in range(steps):
        pick = rng.random((n, d)) < frac
        mix = np.where(pick, dest, cur)
        prop = carrier.write_bits(mix, carrier.read_bits(cur)).astype(cur.dtype)
        mask, targets = model.triggered(prop)
        keep = mask & (targets == t_act)
        cur[keep] = prop[keep]
    ok = _success(model, cur, t_act, X_act)
    return {"attempts": n, "successes": int(ok.sum()), "rate": float(ok.mean()), "queries": n * steps,
            "moved_fraction": float(np.mean(cur == dest))}


#: hill-climbing steps per example beyond this are refused (each is k model queries)
MAX_STEPS = 100_000


def replication_game(model: Model, key: Key, X_pool: np.ndarray, k: int, rng: np.random.Generator,
                     steps: int = 50) -> dict:
    """The replication game with k activated examples of the adversary's choice.

    The adversary picks k inputs from ``X_pool`` (the first k of a random order) and targets
    different from the honest prediction, asks the key holder to activate them (Activate with
    ``key``), then runs every attack (``replication_attacks``, ``recombine_k``, ``hill_climb``)
    with other pool inputs as destinations. Returns ``{"k", "attacks": {name: {...}},
    "total_attempts", "total_successes"}``. Signature: 0 successes; checksum: most attacks succeed.
    """
    from ..errors import UsageError

    if not isinstance(model, WrapperBackdoor) or not hasattr(model, "carrier"):
        raise UsageError(f"this {model.family} bundle has no backdoor the replication game can play; pass a signature or checksum bundle")
    X_pool = model.spec.validate(X_pool, "pool inputs")
    from ..safety import check_param

    check_param("steps", steps, 0, MAX_STEPS, "hill-climbing steps per activated example; each step queries the model once per example")
    if k < 2 or 2 * k > len(X_pool):
        raise UsageError(f"k must be between 2 and {len(X_pool) // 2} for a pool of {len(X_pool)} inputs; got {k}")
    order = rng.permutation(len(X_pool))
    X_chosen, X_other = X_pool[order[:k]], X_pool[order[k : 2 * k]]
    pred = model.base.predict_index(X_chosen)
    t_act = (pred + 1 + rng.integers(0, model.n_classes - 1, size=k)) % model.n_classes
    X_act = key.activate(model, X_chosen, model.classes[t_act])
    attacks = replication_attacks(model, X_other, X_act, t_act, rng)
    attacks.update(recombine_k(model, X_other, X_act, t_act, rng))
    attacks["hill_climb"] = hill_climb(model, X_other, X_act, t_act, rng, steps=steps)
    activated_ok = float(np.mean(model.predict_index(X_act) == t_act))
    return {"k": k, "scheme": model.family, "activation_success": activated_ok, "attacks": attacks,
            "total_attempts": int(sum(a["attempts"] for a in attacks.values())),
            "total_successes": int(sum(a["successes"] for a in attacks.values()))}
