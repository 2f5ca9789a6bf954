"""Arithmetic mod p = 2^255 − 19 (and the scalar constants mod L) for the torch Ed25519 verifier.

Field elements are 16 limbs of 16 bits in int64 (little-endian, signed, lazily reduced). This module
holds the constants, the limb conversion, the constant matrices (multiplication by a constant; the
digest → k mod L weights), ref10's inversion chain (shared with the ONNX builder), the exact carry
chain and the reduction to canonical limbs. The batched multiplication itself lives on the verifier
(``ed25519_torch.Ed25519Verifier._fmul``), which holds its constant buffers.

Examples
--------
>>> import torch
>>> v = torch.tensor(limbs(P + 5))  # not reduced: p + 5 ≡ 5
>>> to_canonical(v).tolist() == limbs(5).tolist()
True
"""
from __future__ import annotations

import numpy as np
import torch

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
DELTA = L - 2**252
D = (-121665 * pow(121666, P - 2, P)) % P
D2 = (2 * D) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
NLIMB = 16


def limbs(v: int, n: int = NLIMB) -> np.ndarray:
    """The 16-bit little-endian limbs of the integer ``v`` (``n`` of them) as int64."""
    return np.array([(v >> (16 * i)) & 0xFFFF for i in range(n)], dtype=np.int64)


def const_matrix(c: int) -> np.ndarray:
    """(16, 16) Toeplitz matrix T with a @ T = a·c (mod p, before carries)."""
    cl = limbs(c % P)
    m = np.zeros((NLIMB, NLIMB))
    for i in range(NLIMB):
        for j in range(NLIMB):
            m[i, (i + j) % NLIMB] += cl[j] * (38.0 if i + j >= NLIMB else 1.0)
    return m


def k_matrix() -> np.ndarray:
    """(64, 16): digest bytes → 16-bit limbs of Σ h_i·w_i with w_i = 256^i (i < 32) or 256^i mod L."""
    m = np.zeros((64, NLIMB))
    for i in range(64):
        w = 256**i if i < 32 else pow(256, i, L)
        m[i] = limbs(w)
    return m


def inversion_chain(mul, sq_n, z):
    """z^(p−2) = 1/z in GF(2^255 − 19) by ref10's addition chain (254 squarings, 11 multiplications).

    ``mul(u, v)`` multiplies, ``sq_n(u, n)`` squares n times: the torch verifier and the ONNX graph
    builder pass their own field operations, so both run exactly this chain.
    """
    z2 = sq_n(z, 1)
    z9 = mul(sq_n(z2, 2), z)
    z11 = mul(z9, z2)
    z2_5_0 = mul(sq_n(z11, 1), z9)
    z2_10_0 = mul(sq_n(z2_5_0, 5), z2_5_0)
    z2_20_0 = mul(sq_n(z2_10_0, 10), z2_10_0)
    z2_40_0 = mul(sq_n(z2_20_0, 20), z2_20_0)
    z2_50_0 = mul(sq_n(z2_40_0, 10), z2_10_0)
    z2_100_0 = mul(sq_n(z2_50_0, 50), z2_50_0)
    z2_200_0 = mul(sq_n(z2_100_0, 100), z2_100_0)
    z2_250_0 = mul(sq_n(z2_200_0, 50), z2_50_0)
    return mul(sq_n(z2_250_0, 5), z11)


def carry_chain(limbs: list[torch.Tensor], top_open: bool = True) -> list[torch.Tensor]:
    """Exact sequential carry over int64 limbs (little-endian); the top limb keeps its excess."""
    out = []
    c = torch.zeros_like(limbs[0])
    for i, x in enumerate(limbs):
        x = x + c
        if i == len(limbs) - 1 and top_open:
            out.append(x)
        else:
            c = x >> 16
            out.append(x & 0xFFFF)
    return out


def to_canonical(v: torch.Tensor) -> torch.Tensor:
    """Lazily reduced limbs (|limb| < 2^20) → canonical 16-bit limbs of v mod p."""
    x = list(v.unbind(-1))
    for _ in range(3):  # fold the top carry (×38) and re-carry: value ends in [0, 2^256)
        x = carry_chain(x)
        top = x[-1] >> 16
        x[-1] = x[-1] & 0xFFFF
        x[0] = x[0] + 38 * top
    x = carry_chain(x)
    # fold bit 255 (×19): value < 2^255 + 19·2
    b = x[-1] >> 15
    x[-1] = x[-1] & 0x7FFF
    x[0] = x[0] + 19 * b
    x = carry_chain(x)
    # if v + 19 ≥ 2^255 then v − p = (v + 19) − 2^255
    t = list(x)
    t[0] = t[0] + 19
    t = carry_chain(t)
    ge = t[-1] >> 15
    t[-1] = t[-1] & 0x7FFF
    return torch.where(ge.bool().unsqueeze(-1), torch.stack(t, -1), torch.stack(x, -1))
