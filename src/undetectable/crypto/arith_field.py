"""Arithmetic mod p = 2^255 − 19 in float32 tensors: 32 signed limbs of 8 bits, every value exact.

A field element is (..., 32) float32 limbs, little-endian radix 2^8, signed and lazily reduced.
``fmul`` accepts limbs of magnitude at most 724 (32·724² < 2^24: the 63 convolution sums are
exact) and returns limbs in [−38, 293], so a sum or difference of two products is again a valid
input (|limb| ≤ 586).

Multiplication (the fastest of the layouts measured in onnxruntime, one thread: one (1024, 63) 0/1
``MatMul`` of the whole outer product, 8×8 or 4×4 blocks, 4×4 blocks with a transpose, a 5-D broadcast,
a broadcast ``Mul``, a Toeplitz ``Gather``, or a skew by ``Pad``/``Reshape`` were all slower): the outer
products of the 16-limb halves as a broadcast ``MatMul`` with k = 1, two 0/1 ``MatMul``s giving the
convolution (``fmul``), then

1. an acyclic carry (``Floor`` of c/256; the low parts and the carries), folded by 2^256 ≡ 38 in
   one ``MatMul`` of the concatenation by a (126, 32) constant (sums below 2^21.3);
2. three cyclic carry rounds, each ``d + floor(d/256) @ C`` (C: −256 on the diagonal, 1 above,
   38 in the corner).

Bounds (worst case, every limb at ±724; a test checks the bound): |conv| ≤ 16,773,632; round 1 ≤ 2.57·10^6;
then limb 0 ≤ 3.8·10^5, ≤ 1,775, ≤ 293; others ≤ 10,278, ≤ 1,744, ≤ 261 (outputs in [−38, 293]).

``canonical`` turns a lazily reduced element into its unique bytes in [0, p) with sequential carries
(three folding passes, the 2^255 ≡ 19 fold, one conditional subtraction as arithmetic).
``invert`` is ref10's addition chain (``ed25519_torch.inversion_chain``), squarings written out or
as ``Loop``s; ``batch_invert`` runs it once per 64 rows (Montgomery's trick over the batch).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from . import ed25519_torch as E

from .arith_ops import (
    Builder,
    cut,
    fconst,
    floor_shift,
    index,
    join,
    repeat,
    reshape,
    seq_carry,
    split,
    take,
    unsq,
)

NL = 32
HALF = NL // 2
P = E.P


def limbs(v: int) -> np.ndarray:
    """32 little-endian byte limbs of v mod p (float32)."""
    return np.frombuffer((v % P).to_bytes(32, "little"), dtype=np.uint8).astype(np.float32)


def _fold_matrix(positions: np.ndarray) -> np.ndarray:
    """[low parts l; carries q] (2·len(positions)) → limbs of Σ l_k 2^(8·pos_k) + q_k 2^(8·pos_k + 8), folded by 38."""
    n = len(positions)
    m = np.zeros((2 * n, NL), dtype=np.float32)
    for k, p in enumerate(positions):
        for src, pos in ((k, p), (n + k, p + 1)):
            m[src, pos % NL] += 38.0 if pos >= NL else 1.0
    return m


def _cyclic_carry_matrix() -> np.ndarray:
    m = -256.0 * np.eye(NL, dtype=np.float32)
    for k in range(NL - 1):
        m[k, k + 1] = 1.0
    m[NL - 1, 0] = 38.0
    return m


def _const_conv(c: int) -> np.ndarray:
    """(32, 63): x @ this = the convolution of x with the limbs of c."""
    cl = limbs(c)
    m = np.zeros((NL, 2 * NL - 1), dtype=np.float32)
    for i in range(NL):
        m[i, i:i + NL] = cl
    return m


def reduce_conv(b: Builder, c: str, positions: np.ndarray) -> str:
    """(N, k) exact convolution sums (|c| < 2^24) at limb ``positions`` → (N, 32) limbs in [−38, 293]."""
    q = floor_shift(b, c, 8)
    low = b.op("Sub", c, b.op("Mul", q, fconst(b, 256.0)))
    d = b.op("MatMul", b.op("Concat", low, q, axis=-1), fconst(b, _fold_matrix(positions)))
    cm = fconst(b, _cyclic_carry_matrix())
    for _ in range(3):
        d = b.op("Add", d, b.op("MatMul", floor_shift(b, d, 8), cm))
    return d


def fmul(b: Builder, x: str, y: str, shape: list[int]) -> str:
    """x·y mod p (lazy), x and y of rank ``len(shape)`` broadcasting to ``shape`` (..., 32) with the batch axis as −1.

    The convolution in two stages (~15% faster than one (1024, 63) ``MatMul``): the outer products of the
    16-limb halves as one broadcast ``MatMul`` with k = 1, (..., 2, 2, 16, 16); each half-by-half block's 31
    sums by a 0/1 (256, 31) ``MatMul`` (at most 16·724² each); the four blocks' sums placed at limb offsets
    0, 16, 16, 32 by a 0/1 (124, 63) ``MatMul``. Every partial sum is a sub-sum of the 1,024 products, so
    at most 32·724² < 2^24: exact.
    """
    keep = [0] * (len(shape) - 1)
    outer = b.op("MatMul", reshape(b, x, keep + [2, 1, HALF, 1]), reshape(b, y, keep + [1, 2, 1, HALF]))
    c1 = b.op("MatMul", reshape(b, outer, [-1, 4, HALF * HALF]), fconst(b, _half_conv_matrix()))
    c = b.op("MatMul", reshape(b, c1, [-1, 4 * (2 * HALF - 1)]), fconst(b, _place_matrix()))
    return reshape(b, reduce_conv(b, c, np.arange(2 * NL - 1)), shape)



def _half_conv_matrix() -> np.ndarray:
    """(256, 31): the flattened outer product of two 16-limb halves → their 31 convolution sums."""
    m = np.zeros((HALF * HALF, 2 * HALF - 1), dtype=np.float32)
    for i in range(HALF):
        for j in range(HALF):
            m[i * HALF + j, i + j] = 1.0
    return m


def _place_matrix() -> np.ndarray:
    """(124, 63): the four half-by-half convolutions (x half a, y half c) → limb positions 16·(a + c) + k."""
    w = 2 * HALF - 1
    m = np.zeros((4 * w, 2 * NL - 1), dtype=np.float32)
    for a in range(2):
        for c in range(2):
            for k in range(w):
                m[(2 * a + c) * w + k, HALF * (a + c) + k] = 1.0
    return m


def fmulc(b: Builder, x: str, c: int, shape: list[int]) -> str:
    """x·c mod p for a constant c (|limbs of x| ≤ 724)."""
    conv = b.op("MatMul", reshape(b, x, [-1, NL]), fconst(b, _const_conv(c)))
    return reshape(b, reduce_conv(b, conv, np.arange(2 * NL - 1)), shape)


def invert(b: Builder, z: str, shape: list[int], unroll: bool) -> str:
    """1/z (z ≠ 0) by z^(p−2); squarings of runs longer than one as ``repeat`` (a Loop unless ``unroll``)."""
    def sq_n(u: str, n: int) -> str:
        return repeat(b, n, [u], lambda bb, st: [fmul(bb, st[0], st[0], shape)], unroll, "sq")[0]

    return E.inversion_chain(lambda u, v: fmul(b, u, v, shape), sq_n, z)


def batch_invert(b: Builder, z: str, unroll: bool, group: int = 64) -> str:
    """(n, 32) nonzero z → (n, 32) 1/z by Montgomery's trick over the batch: about 3 products a row, not 265.

    The rows are padded with ones to a multiple of ``group`` (the row count is a float ``ReduceSum`` of
    ones, the padded count ``group·ceil(n/group)``, cast to an int32 ``Slice`` end), each group of rows is
    multiplied up a binary tree, the n/group tree tops are inverted by ``invert`` (the only long chain), and
    the inverses come down the tree (1/left = 1/parent · right, 1/right = 1/parent · left). Every product is
    an ``fmul`` of fmul outputs, so the limb bounds are ``fmul``'s; rows never mix except through exact
    products (a row with z = 0 would zero its group: the curve formulas are complete, Z never vanishes).
    """
    assert group & (group - 1) == 0
    one_col = b.op("Add", b.op("Mul", cut(b, z, 0, 1, -1), fconst(b, 0.0)), fconst(b, 1.0))
    count = reshape(b, b.op("ReduceSum", one_col, b.const(np.array([0]), np.int64), keepdims=0), [1])  # n, as float
    padded = b.op("Mul", b.op("Floor", b.op("Mul", b.op("Add", count, fconst(b, group - 1.0)), fconst(b, 1.0 / group))), fconst(b, float(group)))
    ones = np.tile(limbs(1), (group - 1, 1))
    zp = b.op("Slice", b.op("Concat", z, fconst(b, ones), axis=0), index(b, [0]),
              b.op("Cast", padded, to=TensorProto.INT32), index(b, [0]))
    levels = [reshape(b, zp, [-1, group, NL])]
    k = group
    while k > 1:
        k //= 2
        pr = reshape(b, levels[-1], [-1, k, 2, NL])
        levels.append(fmul(b, take(b, pr, 0, 2), take(b, pr, 1, 2), [-1, k, NL]))
    inv = invert(b, levels[-1], [-1, 1, NL], unroll)
    for lvl in reversed(levels[:-1]):
        pr = reshape(b, lvl, [-1, k, 2, NL])
        inv = reshape(b, fmul(b, unsq(b, inv, 2), take(b, pr, [1, 0], 2), [-1, k, 2, NL]), [-1, 2 * k, NL])
        k *= 2
    out = reshape(b, inv, [-1, NL])
    return b.op("Slice", out, index(b, [0]), b.op("Cast", count, to=TensorProto.INT32), index(b, [0]))


def canonical(b: Builder, x: str) -> list[str]:
    """Lazily reduced limbs (..., 32) (|limb| < 2^12) → the 32 bytes of x mod p, each (..., 1)."""
    d = split(b, x, NL)
    for _ in range(3):
        d, c = seq_carry(b, d)
        d[0] = b.op("Add", d[0], b.op("Mul", c, fconst(b, 38.0)))
    # now 0 ≤ value < 2^256 (the third carry is 0); fold bit 255 (2^255 ≡ 19)
    top = floor_shift(b, d[-1], 7)
    d[-1] = b.op("Sub", d[-1], b.op("Mul", top, fconst(b, 128.0)))
    d[0] = b.op("Add", d[0], b.op("Mul", top, fconst(b, 19.0)))
    d, _ = seq_carry(b, d)  # value < 2^255 + 19 < p + 38
    t = list(d)
    t[0] = b.op("Add", t[0], fconst(b, 19.0))
    t, _ = seq_carry(b, t)
    ge = floor_shift(b, t[-1], 7)  # 1 iff value ≥ p
    t[-1] = b.op("Sub", t[-1], b.op("Mul", ge, fconst(b, 128.0)))
    return [b.op("Add", v, b.op("Mul", ge, b.op("Sub", w, v))) for v, w in zip(d, t)]


__all__ = ["batch_invert", "canonical", "fmul", "fmulc", "invert", "join", "limbs", "reduce_conv"]
