"""SHA-512 over float32 byte tensors with arithmetic only (bit vectors; no bitwise ops, no int64 data).

A 64-bit word is a vector of 64 bits (least significant first), each a float32 0/1:

* σ0, σ1 (the schedule) are 0/1 constant ``MatMul``s (the rotations and shifts of a word summed as bit
  counts ≤ 3) followed by a parity ``s − 2·floor(s/2)`` (the XOR); Σ0, Σ1 (the rounds) are ``Slice``s of
  (x ‖ x) summed, then the same parity (a 128×128 rotation ``MatMul`` for both was measured ~10% slower);
* ``Ch(e, f, g) = g + e·(f − g)``, ``Maj(a, b, c) = floor((a + b + c)/2)``;
* additions mod 2^64 weight their terms into four 16-bit chunks with a ``MatMul`` (sums below 2^20:
  exact), carry sequentially across the chunks and read the bits back with ``Floor``.

The 80 rounds keep the eight words apart (Σ, Ch and Maj on the one word each needs) and carry the
new a and e together as one (n, 2, 64) pair; between blocks the state is the (n, 4, 2, 64) pairs layout
(a, e), (b, f), (c, g), (d, h). The message schedule is written out, two words a step, for all blocks at once; the rounds
are written out (``unroll=True``) or run as a ``Loop`` over blocks around a ``Loop`` of 8-round
iterations (the round constants + schedule rotate through the loop state, so no iteration counter is read).

Examples
--------
>>> import hashlib, numpy as np
>>> from onnx import TensorProto, helper
>>> from undetectable import onnxio
>>> b = Builder("h")
>>> zero = b.op("Mul", cut(b, "data", 0, 1, 1), fconst(b, 0.0))
>>> b.nodes.append(helper.make_node("Identity", [sha512(b, "data", 3, zero)], ["digest"]))
>>> g = b.graph("g", [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["n", 3])],
...             [helper.make_tensor_value_info("digest", TensorProto.FLOAT, ["n", 64])])
>>> out = onnxio.session(onnxio.assemble(g)).run(None, {"data": np.array([[97, 98, 99]], np.float32)})[0]
>>> bytes(out[0].astype(np.uint8)) == hashlib.sha512(b"abc").digest()
True
"""
from __future__ import annotations

import numpy as np

from . import ed25519_torch as E
from .arith_ops import (
    Builder,
    bits_of,
    cut,
    fconst,
    repeat,
    reshape,
    take,
    unsq,
)

ROUNDS_PER_ITER = 8


def _chunk_matrix() -> np.ndarray:
    """(64, 4): bit i of a word → 2^(i mod 16) in chunk i // 16."""
    m = np.zeros((64, 4), dtype=np.float32)
    for i in range(64):
        m[i, i // 16] = float(1 << (i % 16))
    return m


def _word_bits(v: int) -> np.ndarray:
    return np.array([(v >> i) & 1 for i in range(64)], dtype=np.float32)


def _word_chunks(v: int) -> np.ndarray:
    return np.array([(v >> (16 * i)) & 0xFFFF for i in range(4)], dtype=np.float32)


def _rot_matrix(rots, shr=()) -> np.ndarray:
    """(64, 64) 0/1: bits @ this = Σ over r in ``rots`` of rotr(x, r) + Σ over s in ``shr`` of x >> s, as bit counts (≤ 3)."""
    m = np.zeros((64, 64), dtype=np.float32)
    for i in range(64):
        for r in rots:
            m[(i + r) % 64, i] += 1.0
        for sh in shr:
            if i + sh < 64:
                m[i + sh, i] += 1.0
    return m


def _parity(b: Builder, s: str) -> str:
    """s mod 2 for small non-negative integers s (the XOR of the bits counted in s)."""
    return b.op("Sub", s, b.op("Mul", b.op("Floor", b.op("Mul", s, fconst(b, 0.5))), fconst(b, 2.0)))


def carry_bits(b: Builder, ch: str, shape: list[int]) -> str:
    """Chunk sums (..., 4) (each < 2^20, weights 2^0, 2^16, 2^32, 2^48) → the bits of their total mod 2^64, reshaped.

    The carry runs sequentially across the four chunks (the carry out of a chunk is never subtracted:
    ``bits_of`` reads only the low 16 bits of each chunk).
    """
    parts = [cut(b, ch, i, i + 1, -1) for i in range(4)]
    out = [parts[0]]
    for i in range(1, 4):
        out.append(b.op("Add", parts[i], b.op("Floor", b.op("Mul", out[-1], fconst(b, 2.0 ** -16)))))
    v = b.op("Concat", *out, axis=-1)
    return reshape(b, bits_of(b, v, 16), shape)


def add64(b: Builder, sums: str, shape: list[int], extra: str | None = None) -> str:
    """Bits of (Σ of the bit vectors in ``sums`` (..., 64) + ``extra`` chunks (..., 4)) mod 2^64, reshaped to ``shape``."""
    ch = b.op("MatMul", sums, fconst(b, _chunk_matrix()))
    if extra is not None:
        ch = b.op("Add", ch, extra)
    return carry_bits(b, ch, shape)


def message_words(b: Builder, data: str, length: int, zero: str) -> tuple[str, int]:
    """Padded message (n, length) bytes → word bits (n, blocks, 16, 64), and the block count."""
    pad = np.frombuffer(E.sha512_padding(length), dtype=np.uint8).astype(np.float32)
    full = b.op("Concat", data, b.op("Add", zero, fconst(b, pad[None, :])), axis=1)
    nb = (length + len(pad)) // 128
    by = reshape(b, full, [-1, nb, 16, 8])
    bits = take(b, bits_of(b, by, 8), list(range(7, -1, -1)), 3)  # big-endian bytes → LSB first
    return reshape(b, bits, [-1, nb, 16, 64]), nb


def schedule(b: Builder, words: str, nb: int) -> str:
    """W_0..W_79 of every block, as chunks plus K_t: (80, n, nb, 4).

    Two words at a time (W_t and W_t+1 need only words before t): σ1 of the previous pair by one ``MatMul``
    with a 0/1 rotation matrix and a parity; the chunks of every word and of σ0 of every word are kept, so
    the other three terms are sums of small (…, 4) chunk tensors.
    """
    chm = fconst(b, _chunk_matrix())
    s0m, s1m = fconst(b, _rot_matrix((1, 8), (7,))), fconst(b, _rot_matrix((19, 61), (6,)))
    cw_all = b.op("MatMul", words, chm)  # (n, nb, 16, 4)
    cs0_all = b.op("MatMul", _parity(b, b.op("MatMul", words, s0m)), chm)
    cw = [cut(b, cw_all, j, j + 1, 2) for j in range(16)]  # each (n, nb, 1, 4)
    cs0 = [cut(b, cs0_all, j, j + 1, 2) for j in range(16)]
    prev = cut(b, words, 14, 16, 2)  # (n, nb, 2, 64): W_14, W_15
    for t in range(16, 80, 2):
        s1 = b.op("MatMul", _parity(b, b.op("MatMul", prev, s1m)), chm)
        rest = b.op("Concat", *[b.op("Add", b.op("Add", cw[j - 7], cs0[j - 15]), cw[j - 16]) for j in (t, t + 1)], axis=2)
        prev = carry_bits(b, b.op("Add", s1, rest), [-1, nb, 2, 64])
        cw += [cut(b, c, j, j + 1, 2) for c in [b.op("MatMul", prev, chm)] for j in (0, 1)]
        if t <= 64:  # σ0 is read up to W_64
            cs0 += [cut(b, c, j, j + 1, 2) for c in [b.op("MatMul", _parity(b, b.op("MatMul", prev, s0m)), chm)] for j in (0, 1)]
    allw = b.op("Transpose", b.op("Concat", *cw, axis=2), perm=[2, 0, 1, 3])  # (80, n, nb, 4)
    k = np.stack([_word_chunks(v) for v in E.SHA512_K]).reshape(80, 1, 1, 4)
    return b.op("Add", allw, fconst(b, k))


def _rotations(b: Builder, x: str, rots, shr=(), zeros: str | None = None) -> str:
    """Σ over r in ``rots`` of rotr(x, r) plus x >> s for s in ``shr``, as bit counts (…, 64).

    Slices of (x ‖ x ‖ 0): contiguous copies (onnxruntime's element-wise ``Gather`` measured 10× slower).
    """
    parts = [x, x] + ([zeros] if shr and zeros is not None else [])
    xx = b.op("Concat", *parts, axis=-1)
    terms = [cut(b, xx, r, r + 64, -1) for r in rots] + [cut(b, xx, 64 + s, 128 + s, -1) for s in shr]
    total = terms[0]
    for t in terms[1:]:
        total = b.op("Add", total, t)
    return total


def _round_words(b: Builder, w: list[str], kw: str) -> list[str]:
    """One SHA-512 round on the eight words a..h, each (n, 64) bits; kw (n, 1, 4) chunks of K_t + W_t.

    Σ0, Σ1, Maj and Ch are computed on the one word they need (no unused rows); the new a and e sums
    go through one ``add64`` as an (n, 2, 64) pair.
    """
    a, bw, c, d, e, f, g, h = w
    s0 = _parity(b, _rotations(b, a, (28, 34, 39)))
    s1 = _parity(b, _rotations(b, e, (14, 18, 41)))
    ch = b.op("Add", g, b.op("Mul", e, b.op("Sub", f, g)))
    maj = b.op("Floor", b.op("Mul", b.op("Add", b.op("Add", a, bw), c), fconst(b, 0.5)))
    t1 = b.op("Add", b.op("Add", h, s1), ch)
    sums = b.op("Concat", b.op("Add", b.op("Add", t1, s0), maj), b.op("Add", t1, d), axis=-1)  # (n, 128): new a ‖ new e
    new = add64(b, reshape(b, sums, [-1, 2, 64]), [-1, 2, 64], kw)
    return [take(b, new, 0, 1), a, bw, c, take(b, new, 1, 1), e, f, g]


#: The order of ``_round_words``'s words in the (n, 4, 2, 64) pairs layout (pair p, row r → index 2p + r).
_PAIR_ORDER = (0, 4, 1, 5, 2, 6, 3, 7)


def compress(b: Builder, kw: str, nb: int, zero: str, unroll: bool) -> str:
    """The block chain on kw (80, n, nb, 4) → final state bits (n, 4, 2, 64) (pairs layout)."""
    iv = np.stack([np.stack([_word_bits(E.SHA512_IV[p]), _word_bits(E.SHA512_IV[p + 4])]) for p in range(4)])
    h0 = b.op("Add", reshape(b, zero, [-1, 1, 1, 1]), fconst(b, iv[None]))

    def block(bb: Builder, h: str, kwb: str) -> str:
        flat = reshape(bb, h, [-1, 8, 64])
        words = [take(bb, flat, 2 * (i % 4) + i // 4, 1) for i in range(8)]  # a, b, c, d, e, f, g, h

        def rounds(rb: Builder, st: list[str]) -> list[str]:
            ws, rot = st[:8], st[8]
            for j in range(ROUNDS_PER_ITER):
                ws = _round_words(rb, ws, take(rb, rot, j, 0))
            rot = rb.op("Concat", cut(rb, rot, ROUNDS_PER_ITER, 80, 0), cut(rb, rot, 0, ROUNDS_PER_ITER, 0), axis=0)
            return ws + [rot]

        if unroll:
            for t in range(80):
                words = _round_words(bb, words, take(bb, kwb, t, 0))
        else:
            words = repeat(bb, 80 // ROUNDS_PER_ITER, words + [kwb], rounds, False, "rd")[:8]
        state = reshape(bb, bb.op("Concat", *[words[i] for i in _PAIR_ORDER], axis=-1), [-1, 4, 2, 64])
        return add64(bb, bb.op("Add", h, state), [-1, 4, 2, 64])

    kwt = unsq(b, b.op("Transpose", kw, perm=[2, 0, 1, 3]), 3)  # (nb, 80, n, 1, 4)
    if unroll or nb == 1:
        h = h0
        for blk in range(nb):
            h = block(b, h, take(b, kwt, blk, 0))
        return h

    def blocks(bb: Builder, st: list[str]) -> list[str]:
        h, rot = st
        h = block(bb, h, take(bb, rot, 0, 0))
        return [h, bb.op("Concat", cut(bb, rot, 1, nb, 0), cut(bb, rot, 0, 1, 0), axis=0)]

    return repeat(b, nb, [h0, kwt], blocks, False, "bk")[0]


def digest_order() -> np.ndarray:
    """Position in the standard digest of each byte of ``state_bytes``'s layout (pair p, row, byte from LSB j)."""
    return np.array([8 * (row * 4 + p) + 7 - j for p in range(4) for row in range(2) for j in range(8)])


def state_bytes(b: Builder, h: str) -> str:
    """State bits (n, 4, 2, 64) → (n, 64) bytes in ``digest_order`` layout."""
    by = b.op("MatMul", reshape(b, h, [-1, 4, 2, 8, 8]), fconst(b, np.array([[2.0 ** j] for j in range(8)])))
    return reshape(b, by, [-1, 64])


def sha512(b: Builder, data: str, length: int, zero: str, unroll: bool = False) -> str:
    """SHA-512 of ``data`` (n, length) float32 bytes → (n, 64) float32 digest bytes (standard order).

    ``zero`` is an (n, 1) tensor of zeros (it broadcasts constants to the batch without a ``Shape``).
    """
    words, nb = message_words(b, data, length, zero)
    h = compress(b, schedule(b, words, nb), nb, zero, unroll)
    inv = np.argsort(digest_order()).astype(np.int32)
    return take(b, state_bytes(b, h), inv.tolist(), 1)
