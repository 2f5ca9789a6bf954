"""Fixed-base Ed25519 scalar work in float32 tensors: k mod L, S < L, and [S]B + [k](−A) by table lookups.

Both bases are known when the graph is built (B always, A = the backdoor's public key), so each
scalar's 32 bytes index 32 constant tables of 256 affine points, ``[d·256^i]P``, and the 64 looked-up
points are summed without doublings or data-dependent control flow: 4 lanes of 16 points, each a
running sum of mixed additions (7 products each; entries ((y − x)/2, (y + x)/2, d·xy) in 8-bit limbs,
uint8 constants, 786 KB a table), then a 2-level tree of unified extended-coordinate additions (complete
on this curve: Z never vanishes). 451 field products a row, against 503 for the former tree of 63
additions; 2 lanes or 8 measured no faster.

Scalars are bytes (digits in [0, 256)) carried with ``seq_carry``; k = SHA-512 mod L is reduced
exactly (A may have a small-order component: OpenSSL computes [k mod L]A, so do we).
"""
from __future__ import annotations

import functools

import numpy as np
from onnx import TensorProto

from . import ed25519_torch as E
from .arith_field import NL, fmul, fmulc, limbs
from .arith_ops import (
    Builder,
    cut,
    fconst,
    floor_shift,
    join,
    repeat,
    reshape,
    seq_carry,
    split,
    take,
)

L_BYTES = np.frombuffer(E.L.to_bytes(32, "little"), dtype=np.uint8).astype(np.float32)
#: Running sums in ``point_sum`` (64/LANES mixed additions each, then a tree over the lanes).
LANES = 4
DELTA_BYTES = np.frombuffer(E.DELTA.to_bytes(32, "little"), dtype=np.uint8).astype(np.float32)


def _k_matrix() -> np.ndarray:
    """(64, 32): digest byte i → bytes of 256^i mod L (identity for i < 32). Sums < 2^21.1."""
    m = np.zeros((64, 32), dtype=np.float32)
    for i in range(64):
        w = 256**i if i < 32 else pow(256, i, E.L)
        m[i] = np.frombuffer(w.to_bytes(32, "little"), dtype=np.uint8)
    return m


def mod_l(b: Builder, digest: str) -> str:
    """(n, 64) digest bytes (little-endian integer) → (n, 32) bytes of it mod L."""
    d, c = seq_carry(b, split(b, b.op("MatMul", digest, fconst(b, _k_matrix())), 32))
    c_hi = floor_shift(b, c, 8)
    d32 = b.op("Sub", c, b.op("Mul", c_hi, fconst(b, 256.0)))
    hi4 = floor_shift(b, d[31], 4)
    d[31] = b.op("Sub", d[31], b.op("Mul", hi4, fconst(b, 16.0)))
    hi = b.op("Add", b.op("Add", hi4, b.op("Mul", d32, fconst(b, 16.0))), b.op("Mul", c_hi, fconst(b, 4096.0)))  # < 2^14.1
    # value ≡ lo − hi·δ (2^252 ≡ −δ mod L); + L keeps it positive: L − 2^140 < r < 2^252 + L
    r = b.op("Add", b.op("Sub", join(b, d), b.op("Mul", hi, fconst(b, DELTA_BYTES))), fconst(b, L_BYTES))
    r_d, _ = seq_carry(b, split(b, r, 32))
    t_d, borrow = seq_carry(b, split(b, b.op("Sub", join(b, r_d), fconst(b, L_BYTES)), 32))
    k = b.op("Sub", join(b, t_d), b.op("Mul", borrow, fconst(b, L_BYTES)))  # borrow ∈ {−1, 0}: add L back
    k_d, _ = seq_carry(b, split(b, k, 32))
    return join(b, k_d)


def less_than_l(b: Builder, s: str) -> str:
    """(n, 32) little-endian bytes → (n,) bool s < L (the borrow of s − L)."""
    _, borrow = seq_carry(b, split(b, b.op("Sub", s, fconst(b, L_BYTES)), 32))
    return reshape(b, b.op("Less", borrow, fconst(b, 0.0)), [-1])


def _table(ym_yp_rows: np.ndarray) -> np.ndarray:
    """(32, 256, 3, 16) uint16 limbs of (y − x, y + x, ·) → (32·256, 3, 32) uint8 limbs of ((y − x)/2, (y + x)/2, d·xy).

    Halving every entry (mod p) halves A, B, C of the mixed addition; with D = Z1 (not 2·Z1) the result is the
    sum scaled by 1/4, the same projective point, and E, F, G, H stay within ``fmul``'s input bound (see
    ``_madd``).
    """
    raw = ym_yp_rows.astype("<u2").view(np.uint8).reshape(32, 256, 3, 32).copy()
    inv2 = pow(2, E.P - 2, E.P)
    dinv4 = E.D * pow(4, E.P - 2, E.P) % E.P
    for pos in range(32):
        for dgt in range(256):
            ym = int.from_bytes(raw[pos, dgt, 0].tobytes(), "little")
            yp = int.from_bytes(raw[pos, dgt, 1].tobytes(), "little")
            for row, v in enumerate((ym * inv2 % E.P, yp * inv2 % E.P, (yp * yp - ym * ym) * dinv4 % E.P)):
                raw[pos, dgt, row] = np.frombuffer(v.to_bytes(32, "little"), dtype=np.uint8)
    return raw.reshape(32 * 256, 3, NL)


@functools.lru_cache(maxsize=1)
def base_points() -> np.ndarray:
    """The table for B (built once, about a second)."""
    return _table(E.base_table())


def key_points(public_key: bytes) -> tuple[np.ndarray, bool]:
    """The table for −A and whether A decodes (OpenSSL's rules; a bad key makes every answer False)."""
    t, ok = E.key_table(bytes(public_key))
    return (_table(t) if ok else np.zeros((32 * 256, 3, NL), dtype=np.uint8)), ok


def lookup(b: Builder, table: np.ndarray, digits: str) -> str:
    """(n, 32) digits → (n, 32, 3, 32) points: entry 256·i + digit_i of a uint8 constant table."""
    tab = b.op("Cast", b.const(table, np.uint8), to=TensorProto.FLOAT)
    idx = b.op("Cast", b.op("Add", digits, fconst(b, 256.0 * np.arange(32))), to=TensorProto.INT32)
    return b.op("Gather", tab, idx, axis=0)


def _finish(b: Builder, abcd: str, m: int) -> str:
    """(A, B, C, D) (n, m, 4, 32) → (X, Y, Z, T) = (EF, GH, FG, EH), E = B − A, F = D − C, G = D + C, H = B + A."""
    lhs = b.op("Add", take(b, abcd, [1, 3, 3, 1], 2), b.op("Mul", take(b, abcd, [0, 2, 2, 0], 2), fconst(b, [[-1.0], [1.0], [-1.0], [-1.0]])))
    rhs = b.op("Add", take(b, abcd, [3, 1, 3, 1], 2), b.op("Mul", take(b, abcd, [2, 0, 2, 0], 2), fconst(b, [[-1.0], [1.0], [1.0], [1.0]])))
    return fmul(b, lhs, rhs, [-1, m, 4, NL])


def _madd(b: Builder, st: str, pt: str, lanes: int) -> str:
    """Mixed addition: state (Y − X, Y + X, T, Z) (n, lanes, 4, 32) + table points (n, lanes, 3, 32) → (X, Y, Z, T).

    A, B, C = (Y − X)·(y − x)/2, (Y + X)·(y + x)/2, T·d·xy and D = Z (the textbook values halved), so the
    output is the sum scaled by 1/4. Bounds: state rows within [−331, 586] and table bytes give A, B, C in
    [−38, 293]; with D in [−38, 293]: E = B − A and F = D − C within ±331, G = D + C and H = B + A within
    [−76, 586], all ≤ 724 (``fmul``'s bound); the next state's Y − X, Y + X within [−331, 586] again.
    """
    abc = fmul(b, take(b, st, [0, 1, 2], 2), pt, [-1, lanes, 3, NL])
    return _finish(b, b.op("Concat", abc, take(b, st, [3], 2), axis=2), lanes)


def _state(b: Builder, q: str) -> str:
    """(X, Y, Z, T) → the mixed-addition state (Y − X, Y + X, T, Z)."""
    return b.op("Add", take(b, q, [1, 1, 3, 2], 2), b.op("Mul", take(b, q, [0, 0, 0, 0], 2), fconst(b, [[-1.0], [1.0], [0.0], [0.0]])))


def point_sum(b: Builder, pts: str, unroll: bool = False, lanes: int = LANES) -> str:
    """(n, 64, 3, 32) table points → their sum (n, 4, 32) in extended coordinates.

    ``lanes`` running sums of 64/lanes points each (mixed additions: 7 products), the steps as ``repeat``
    (a Loop unless ``unroll``; the step's points by a float counter cast to an int32 ``Gather`` index), then
    a tree of unified extended additions (complete on this curve: Z never vanishes) over the lanes.
    """
    steps = 64 // lanes
    pr = reshape(b, pts, [-1, steps, lanes, 3, NL])
    start = take(b, pr, 0, 1)
    xy = fmulc(b, take(b, start, [2], 2), pow(E.D, E.P - 2, E.P), [-1, lanes, 1, NL])
    one = b.op("Add", b.op("Mul", xy, fconst(b, 0.0)), fconst(b, limbs(1)))
    st = b.op("Concat", b.op("Mul", take(b, start, [0, 1], 2), fconst(b, 2.0)), xy, one, axis=2)  # (y − x, y + x, xy, 1)

    def step(bb: Builder, state: list[str]) -> list[str]:
        s, cnt = state
        idx = bb.op("Cast", reshape(bb, cnt, []), to=TensorProto.INT32)
        s = _state(bb, _madd(bb, s, bb.op("Gather", pr, idx, axis=1), lanes))
        return [s, bb.op("Add", cnt, fconst(bb, [1.0]))]

    if unroll:
        for j in range(1, steps - 1):
            st = _state(b, _madd(b, st, take(b, pr, j, 1), lanes))
    else:
        st = repeat(b, steps - 2, [st, fconst(b, [1.0])], step, False, "pt")[0]
    q = _madd(b, st, take(b, pr, steps - 1, 1), lanes)
    m = lanes
    while m > 1:
        m //= 2
        pr2 = reshape(b, q, [-1, m, 2, 4, NL])
        p1, p2 = take(b, pr2, 0, 2), take(b, pr2, 1, 2)
        lhs = b.op("Add", take(b, p1, [1, 1, 3, 2], 2), b.op("Mul", take(b, p1, [0, 0, 0, 0], 2), fconst(b, [[-1.0], [1.0], [0.0], [0.0]])))
        t2d = fmulc(b, take(b, p2, [3], 2), E.D2, [-1, m, 1, NL])
        rhs = b.op("Concat", b.op("Add", take(b, p2, [1, 1], 2), b.op("Mul", take(b, p2, [0, 0], 2), fconst(b, [[-1.0], [1.0]]))),
                   t2d, b.op("Mul", take(b, p2, [2], 2), fconst(b, 2.0)), axis=2)
        q = _finish(b, fmul(b, lhs, rhs, [-1, m, 4, NL]), m)
    return reshape(b, q, [-1, 4, NL])


__all__ = ["base_points", "cut", "key_points", "less_than_l", "lookup", "mod_l", "point_sum"]
