"""The Edwards curve of Ed25519 in Python integers: point decoding and the fixed-base tables.

Only at construction (tables), never on the verifier's hot path: ``decode_point`` decodes a public key
as OpenSSL's ``ge_frombytes_vartime`` does; ``base_table()`` and ``key_table(public_key)`` are the
[d·256^i]B and [d·256^i](−A) lookups (affine (y−x, y+x, t) limbs) the verifier sums.

Examples
--------
>>> decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little")) == (BX, BY)
True
"""
from __future__ import annotations

import functools

import numpy as np

from .torch_field import D, D2, NLIMB, P, SQRT_M1

BY = (4 * pow(5, P - 2, P)) % P


def _recover_x(y: int, sign: int) -> int | None:
    """x with (x, y) on the curve and x's parity = sign, as ge_frombytes_vartime (None: off curve)."""
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    if (v * x * x - u) % P != 0:
        if (v * x * x + u) % P != 0:
            return None
        x = (x * SQRT_M1) % P
    if (x & 1) != sign:
        x = (P - x) % P
    return x


_BX = _recover_x(BY, 0)
assert _BX is not None  # the base point is on the curve
BX: int = _BX


def decode_point(raw: bytes) -> tuple[int, int] | None:
    """Affine (x, y) of a 32-byte encoding as OpenSSL decodes a public key (y mod p), or None."""
    n = int.from_bytes(raw, "little")
    y = (n & ((1 << 255) - 1)) % P
    x = _recover_x(y, n >> 255)
    return None if x is None else (x, y)


def _ext_add(p1, p2):
    X1, Y1, Z1, T1 = p1
    X2, Y2, Z2, T2 = p2
    a = (Y1 - X1) * (Y2 - X2) % P
    b = (Y1 + X1) * (Y2 + X2) % P
    c = T1 * D2 % P * T2 % P
    d = 2 * Z1 * Z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _affine_table(x: int, y: int, positions: int, t_factor: int) -> np.ndarray:
    """(positions, 256, 3, 16) uint16: limbs of (y−x, y+x, t_factor·x·y) of [d·256^i](x, y)."""
    pts = []
    base = (x, y, 1, x * y % P)
    for _ in range(positions):
        acc = (0, 1, 1, 0)
        row = [acc]
        for _d in range(255):
            acc = _ext_add(acc, base)
            row.append(acc)
        pts.extend(row)
        for _ in range(8):  # base ← 256·base
            base = _ext_add(base, base)
    # batch inversion of all Z (Montgomery's trick, Python ints, construction time only)
    zs = [p[2] for p in pts]
    pref = [1] * (len(zs) + 1)
    for i, z in enumerate(zs):
        pref[i + 1] = pref[i] * z % P
    inv = pow(pref[-1], P - 2, P)
    vals = []
    for i in range(len(zs) - 1, -1, -1):
        zi = inv * pref[i] % P
        inv = inv * zs[i] % P
        X, Y, _, _ = pts[i]
        ax, ay = X * zi % P, Y * zi % P
        vals.append(((ay - ax) % P, (ay + ax) % P, t_factor * ax * ay % P))
    raw = b"".join(v.to_bytes(32, "little") for triple in reversed(vals) for v in triple)
    out = np.frombuffer(raw, dtype="<u2").astype(np.uint16)
    return out.reshape(positions, 256, 3, NLIMB)


@functools.lru_cache(maxsize=1)
def base_table() -> np.ndarray:
    """[d·256^i]B for i < 32, d < 256, as (y−x, y+x, x·y) limbs (computed once, ~0.3 s)."""
    return _affine_table(BX, BY, 32, 1)


def key_table(public_key: bytes) -> tuple[np.ndarray, bool]:
    """[d·256^i](−A) as (y−x, y+x, 2d·x·y) limbs, and whether A decodes (OpenSSL's rules)."""
    pt = decode_point(public_key)
    if pt is None:
        return np.zeros((32, 256, 3, NLIMB), dtype=np.uint16), False
    x, y = pt
    return _affine_table((P - x) % P, y, 32, D2), True
