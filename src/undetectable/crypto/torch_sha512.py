"""SHA-512 (FIPS 180-4) as a torch module over int64 words: the hash of the Ed25519 verifier.

``SHA512()(data, lengths=None) -> (n, 64) int64 bytes`` for rows of equal length (constant padding) or
zero-padded rows of different ``lengths`` (per-row padding, branch-free). Words are int64 with
two's-complement wraparound; logical right shifts are arithmetic shifts and a mask.

Examples
--------
>>> import hashlib, torch
>>> out = SHA512()(torch.tensor([list(b"abc")]))
>>> bytes(out[0].tolist()) == hashlib.sha512(b"abc").digest()
True
"""
from __future__ import annotations

import torch

SHA512_K = [
    0x428A2F98D728AE22, 0x7137449123EF65CD, 0xB5C0FBCFEC4D3B2F, 0xE9B5DBA58189DBBC, 0x3956C25BF348B538,
    0x59F111F1B605D019, 0x923F82A4AF194F9B, 0xAB1C5ED5DA6D8118, 0xD807AA98A3030242, 0x12835B0145706FBE,
    0x243185BE4EE4B28C, 0x550C7DC3D5FFB4E2, 0x72BE5D74F27B896F, 0x80DEB1FE3B1696B1, 0x9BDC06A725C71235,
    0xC19BF174CF692694, 0xE49B69C19EF14AD2, 0xEFBE4786384F25E3, 0x0FC19DC68B8CD5B5, 0x240CA1CC77AC9C65,
    0x2DE92C6F592B0275, 0x4A7484AA6EA6E483, 0x5CB0A9DCBD41FBD4, 0x76F988DA831153B5, 0x983E5152EE66DFAB,
    0xA831C66D2DB43210, 0xB00327C898FB213F, 0xBF597FC7BEEF0EE4, 0xC6E00BF33DA88FC2, 0xD5A79147930AA725,
    0x06CA6351E003826F, 0x142929670A0E6E70, 0x27B70A8546D22FFC, 0x2E1B21385C26C926, 0x4D2C6DFC5AC42AED,
    0x53380D139D95B3DF, 0x650A73548BAF63DE, 0x766A0ABB3C77B2A8, 0x81C2C92E47EDAEE6, 0x92722C851482353B,
    0xA2BFE8A14CF10364, 0xA81A664BBC423001, 0xC24B8B70D0F89791, 0xC76C51A30654BE30, 0xD192E819D6EF5218,
    0xD69906245565A910, 0xF40E35855771202A, 0x106AA07032BBD1B8, 0x19A4C116B8D2D0C8, 0x1E376C085141AB53,
    0x2748774CDF8EEB99, 0x34B0BCB5E19B48A8, 0x391C0CB3C5C95A63, 0x4ED8AA4AE3418ACB, 0x5B9CCA4F7763E373,
    0x682E6FF3D6B2B8A3, 0x748F82EE5DEFB2FC, 0x78A5636F43172F60, 0x84C87814A1F0AB72, 0x8CC702081A6439EC,
    0x90BEFFFA23631E28, 0xA4506CEBDE82BDE9, 0xBEF9A3F7B2C67915, 0xC67178F2E372532B, 0xCA273ECEEA26619C,
    0xD186B8C721C0C207, 0xEADA7DD6CDE0EB1E, 0xF57D4F7FEE6ED178, 0x06F067AA72176FBA, 0x0A637DC5A2C898A6,
    0x113F9804BEF90DAE, 0x1B710B35131C471B, 0x28DB77F523047D84, 0x32CAAB7B40C72493, 0x3C9EBE0A15C9BEBC,
    0x431D67C49C100D4C, 0x4CC5D4BECB3E42B6, 0x597F299CFC657E2A, 0x5FCB6FAB3AD6FAEC, 0x6C44198C4A475817,
]
SHA512_IV = [
    0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
    0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
]


def signed64(v: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    return v - (1 << 64) if v >= 1 << 63 else v


def sha512_padding(n_bytes: int) -> bytes:
    """The SHA-512 padding appended to an ``n_bytes`` message (length known ahead: fixed)."""
    pad = b"\x80" + b"\x00" * ((111 - n_bytes) % 128)
    return pad + (8 * n_bytes).to_bytes(16, "big")


def _rotr_consts(rots, shr=()):
    """Shift amounts and masks for x ↦ rotr(x, r) (and logical x >> s) as broadcast int64 tensors."""
    right = list(rots) + list(shr)
    left = [64 - r for r in rots] + [0] * len(shr)
    mask = [signed64((1 << (64 - r)) - 1) for r in right]
    lmask = [-1] * len(rots) + [0] * len(shr)  # shr terms get no left part
    t = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
    return t(right), t(mask), t(left), t(lmask)


def _sigma(x: torch.Tensor, consts) -> torch.Tensor:
    """XOR over the last axis of rotr/shr of x: x (..., 1) broadcast against (..., 3) amounts."""
    right, mask, left, lmask = consts
    t = ((x >> right) & mask) | ((x << left) & lmask)
    return t[..., 0] ^ t[..., 1] ^ t[..., 2]


class SHA512(torch.nn.Module):
    """SHA-512 of fixed-length byte rows: ``(n, length) uint8/int64 -> (n, 64) int64 bytes``."""

    K: torch.Tensor
    IV: torch.Tensor
    byte_shift: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("K", torch.tensor([signed64(k) for k in SHA512_K], dtype=torch.int64), persistent=False)
        self.register_buffer("IV", torch.tensor([signed64(v) for v in SHA512_IV], dtype=torch.int64), persistent=False)
        self.register_buffer("byte_shift", torch.arange(56, -8, -8, dtype=torch.int64), persistent=False)
        # Σ0(a), Σ1(e) of the round function in one broadcast: rows (a, e)
        big = [_rotr_consts((28, 34, 39)), _rotr_consts((14, 18, 41))]
        # shift/mask constants as buffers so that ``.to(device)`` moves them (untested on GPU: none here)
        for name, consts in (("big", tuple(torch.stack([big[0][i], big[1][i]]) for i in range(4))),
                             ("s0", _rotr_consts((1, 8), (7,))), ("s1", _rotr_consts((19, 61), (6,)))):
            for i, t in enumerate(consts):
                self.register_buffer(f"_{name}{i}", t, persistent=False)

    @property
    def _big(self):
        return tuple(getattr(self, f"_big{i}") for i in range(4))

    @property
    def _s0(self):
        return tuple(getattr(self, f"_s0{i}") for i in range(4))

    @property
    def _s1(self):
        return tuple(getattr(self, f"_s1{i}") for i in range(4))

    def words(self, data: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Padded big-endian 64-bit words (n, blocks, 16) of byte rows.

        Without ``lengths`` every row is a whole message (fixed length: constant padding). With
        ``lengths`` (n,), row i is a message of ``lengths[i]`` bytes zero-padded to the common width;
        the padding is written per row without branches and ``blocks`` covers the longest.
        """
        n, m = data.shape
        data = data.to(torch.int64)
        if lengths is None:
            pad = torch.tensor(list(sha512_padding(m)), dtype=torch.int64, device=data.device)
            full = torch.cat([data, pad.expand(n, -1)], dim=1)
        else:
            total = len(sha512_padding(m)) + m
            pos = torch.arange(total, device=data.device)
            full = torch.cat([data, torch.zeros(n, total - m, dtype=torch.int64, device=data.device)], dim=1)
            ln = lengths.to(torch.int64).unsqueeze(1)
            end = (ln + 17 + 127) // 128 * 128  # end of each row's last block
            full = torch.where(pos == ln, 0x80, torch.where(pos < ln, full, 0))
            # the bit length, big-endian, in the last 16 bytes of the row's last block (< 2^61 bits)
            shift = (end - 1 - pos) * 8
            field = (pos >= end - 8) & (pos < end)
            full = full | torch.where(field, ((ln * 8) >> shift.clamp(0, 63)) & 255, 0)
        return (full.reshape(n, -1, 16, 8) << self.byte_shift).sum(-1)

    def forward(self, data: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        W = self.words(data, lengths)
        n, nb, _ = W.shape
        w = list(W.unbind(-1))  # 16 × (n, nb)
        for t in range(16, 80):
            w.append(_sigma(w[t - 2].unsqueeze(-1), self._s1) + w[t - 7] + _sigma(w[t - 15].unsqueeze(-1), self._s0) + w[t - 16])
        WK = torch.stack(w, dim=-1) + self.K  # (n, nb, 80)
        H = self.IV.expand(n, 8)
        right, mask, left, lmask = self._big
        n_blocks = None if lengths is None else ((lengths.to(torch.int64) + 17 + 127) // 128).unsqueeze(1)
        for blk in range(nb):
            a, b_, c, d, e, f, g, h = H.unbind(-1)
            wk = WK[:, blk].unbind(-1)
            for t in range(80):
                ae = torch.stack([a, e], dim=-1).unsqueeze(-1)  # (n, 2, 1)
                s = ((ae >> right) & mask) | ((ae << left) & lmask)
                s = s[..., 0] ^ s[..., 1] ^ s[..., 2]
                t1 = h + s[:, 1] + (g ^ (e & (f ^ g))) + wk[t]
                t2 = s[:, 0] + ((a & b_) | (c & (a | b_)))
                h, g, f, e, d, c, b_, a = g, f, e, d + t1, c, b_, a, t1 + t2
            new = H + torch.stack([a, b_, c, d, e, f, g, h], dim=-1)
            H = new if n_blocks is None else torch.where(blk < n_blocks, new, H)
        return ((H.unsqueeze(-1) >> self.byte_shift) & 255).reshape(n, 64)
