"""The Ed25519 verifier of ``ed25519_torch`` as an ONNX graph, built node by node with loops.

``verifier_model(public_key, message_len)`` returns an ``onnx.ModelProto`` with inputs
``messages`` (n, message_len) int64 bytes and ``signatures`` (n, 64) int64 bytes and output
``valid`` (n,) bool; ``add_verifier(builder, ...)`` inlines the same subgraph into a larger graph
(the backdoored classifier). It computes the same function as the torch module, with the same
algorithm (16 × 16-bit limbs, fixed-key tables, a tree of additions) and the same limb values:

* SHA-512 runs in uint64 (ONNX ``BitShift`` is logical, ``Add`` wraps): an outer ``Loop`` over
  blocks, an inner ``Loop`` of 10 iterations × 8 rounds, the message schedule as a 64-step ``Loop``
  over all blocks at once (word-major layout: slices on the leading axis).
* Field limbs are float64 holding exact integers (see ``fmul``: onnxruntime's int64 kernels for
  this were 5× slower); SHA-512 and all byte/scalar/canonical-encoding work is integer.
* The point sum runs as a ``Loop`` over chunks of 64 rows (bounded memory).
* 1/Z: Montgomery's trick over each 64-row chunk (a product tree), then the 254-squaring chain
  on the chunk roots, each run of squarings one ``Loop``.
* int64 arithmetic right shifts (ONNX has none) are ``Div`` after a 2^62 bias (truncation = floor
  for non-negative operands), the torch exporter's trap avoided.

The torch exporter is not used: the side study found it wrong for int64 shifts (``>>`` became a
truncating ``Div``) and it unrolls loops (tens of MB).
"""
from __future__ import annotations

import hashlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import ed25519_torch as E

OPSET = 18
CHUNK = 64
BIAS = 1 << 62


class Builder:
    """Minimal ONNX graph builder: ``op`` adds a node, ``const`` a (deduplicated) initializer.

    Subgraphs (loop bodies) are child builders sharing the root's constants (outer-scope names).
    """

    def __init__(self, prefix: str = "v", root: Builder | None = None) -> None:
        self.prefix = prefix
        self.nodes: list = []
        self.root = root or self
        if root is None:
            self.inits: list = []
            self._consts: dict = {}
            self._n = [0]
        self.inputs: list = []
        self.outputs: list = []

    def name(self, hint: str = "t") -> str:
        self.root._n[0] += 1
        return f"{self.prefix}_{hint}_{self.root._n[0]}"

    def op(self, op_type: str, *inputs: str, n_out: int = 1, **attrs):
        outs = [self.name(op_type) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value, dtype=np.int64) -> str:
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())
        root = self.root
        if key not in root._consts:
            name = root.name("c")
            root.inits.append(numpy_helper.from_array(arr, name))
            root._consts[key] = name
        return root._consts[key]

    def child(self, hint: str) -> Builder:
        return Builder(self.name(hint), self.root)

    def graph(self, name: str, inputs, outputs) -> onnx.GraphProto:
        inits = self.inits if self.root is self else []
        return helper.make_graph(self.nodes, name, inputs, outputs, initializer=inits)

    # --- helpers -------------------------------------------------------------------------------
    def take(self, x: str, i: int, axis: int) -> str:
        """x[..., i, ...] along ``axis`` (the axis removed)."""
        return self.op("Gather", x, self.const(i), axis=axis)

    def slice(self, x: str, start: int, end: int, axis: int, step: int = 1) -> str:
        return self.op("Slice", x, self.const([start]), self.const([end]), self.const([axis]), self.const([step]))

    def stack(self, xs, axis: int) -> str:
        ax = self.const([axis])
        return self.op("Concat", *[self.op("Unsqueeze", x, ax) for x in xs], axis=axis)

    def loop(self, trip: str, body: Builder, carried, body_in, body_out, scan_out=(), dtype: int = TensorProto.INT64):
        """A ``Loop`` node: ``trip`` iterations; returns the final carried values then scan outputs."""
        it = helper.make_tensor_value_info(body.name("iter"), TensorProto.INT64, [])
        cond = helper.make_tensor_value_info(body.name("cond"), TensorProto.BOOL, [])
        cond_out = body.op("Identity", cond.name)
        ins = [it, cond] + [helper.make_tensor_value_info(n, dtype, None) for n in body_in]
        outs = [helper.make_tensor_value_info(cond_out, TensorProto.BOOL, [])]
        outs += [helper.make_tensor_value_info(n, dtype, None) for n in [*body_out, *scan_out]]
        g = body.graph(body.prefix, ins, outs)
        res = self.op("Loop", trip, "", *carried, n_out=len(carried) + len(scan_out), body=g)
        return res if isinstance(res, list) else [res]


# ------------------------------------------------------------------------------------------------
# int64 helpers
# ------------------------------------------------------------------------------------------------


def sar(b: Builder, x: str, k: int) -> str:
    """Arithmetic x >> k for |x| < 2^62: floor((x + 2^62) / 2^k) − 2^(62−k)."""
    return b.op("Sub", b.op("Div", b.op("Add", x, b.const(BIAS)), b.const(1 << k)), b.const(BIAS >> k))


def band(b: Builder, x: str, m: int) -> str:
    return b.op("BitwiseAnd", x, b.const(m))


def carry_chain(b: Builder, limbs: list[str], top_open: bool = True) -> list[str]:
    out = []
    c = None
    for i, x in enumerate(limbs):
        if c is not None:
            x = b.op("Add", x, c)
        if i == len(limbs) - 1 and top_open:
            out.append(x)
        else:
            c = sar(b, x, 16)
            out.append(band(b, x, 0xFFFF))
    return out


def unstack(b: Builder, x: str, n: int = 16) -> list[str]:
    return [b.take(x, i, -1) for i in range(n)]


def restack(b: Builder, xs: list[str]) -> str:
    return b.stack(xs, -1)


# ------------------------------------------------------------------------------------------------
# field arithmetic (int64, 16 limbs on the last axis)
# ------------------------------------------------------------------------------------------------

def _mul_matrix() -> np.ndarray:
    """(256, 16): column k sums x_i·y_j over i + j ≡ k (mod 16), weight 38 where i + j ≥ 16."""
    m = np.zeros((256, 16))
    for i in range(16):
        for j in range(16):
            m[i * 16 + j, (i + j) % 16] = 38.0 if i + j >= 16 else 1.0
    return m


def _carry_matrix() -> np.ndarray:
    """(16, 16): c + floor(c/2^16) @ this keeps each limb's low 16 bits and moves the rest up (top ×38)."""
    m = -65536.0 * np.eye(16)
    for k in range(15):
        m[k, k + 1] = 1.0
    m[15, 0] = 38.0
    return m


def f64(b: Builder, value) -> str:
    return b.const(value, np.float64)


def fcarry(b: Builder, c: str, rounds: int = 3) -> str:
    """Three parallel carry rounds in float64 (exact: every value is an integer below 2^53)."""
    for _ in range(rounds):
        hi = b.op("Floor", b.op("Mul", c, f64(b, 1.0 / 65536)))
        c = b.op("Add", c, b.op("MatMul", hi, f64(b, _carry_matrix())))
    return c


def fmul(b: Builder, x: str, y: str) -> str:
    """x·y mod p, lazily reduced; x and y have the same shape (..., 16).

    The ONNX graph carries field elements as float64 holding exact integers (onnxruntime's int64
    Gather/MatMul kernels measured 5× slower than its float64 ones): the 16×16 limb outer product
    times a constant 256×16 matrix (2^256 ≡ 38 folded in), then carries. Bound as in
    ``ed25519_torch``: inputs |limb| ≤ 2^20 → every partial sum below 16·38·2^40 < 2^50 < 2^53, so
    each float64 operation is exact and the limbs equal the torch module's int64 limbs.
    """
    outer = b.op("Mul", b.op("Unsqueeze", x, b.const([-1])), b.op("Unsqueeze", y, b.const([-2])))
    c = b.op("MatMul", b.op("Reshape", outer, b.const([-1, 256])), f64(b, _mul_matrix()))
    return b.op("Reshape", fcarry(b, c), b.op("Shape", x))


def fmulc(b: Builder, x: str, c: int) -> str:
    return fcarry(b, b.op("MatMul", x, f64(b, E.const_matrix(c))))


def fsq_loop(b: Builder, x: str, n: int) -> str:
    body = b.child("sq")
    xin = body.name("x")
    xout = fmul(body, xin, xin)
    return b.loop(b.const(n), body, [x], [xin], [xout], dtype=TensorProto.DOUBLE)[0]


def finv(b: Builder, z: str) -> str:
    """1/z: the torch verifier's addition chain, with squarings as ONNX loops."""
    return E.inversion_chain(lambda u, v: fmul(b, u, v),
                             lambda u, n: fsq_loop(b, u, n) if n > 1 else fmul(b, u, u), z)


def batch_inverse(b: Builder, z: str) -> str:
    """1/z for z (CHUNK, m, 16) by Montgomery's trick along the static first axis.

    A product tree over the CHUNK rows of each of the m columns (log2 CHUNK levels), one square
    chain on the m roots, then the tree back down: 3 multiplications per element plus 265/CHUNK,
    instead of 265 for a full-batch square chain. The op sequence depends only on the shape.
    """
    levels = [z]
    size = CHUNK
    while size > 1:
        levels.append(fmul(b, b.slice(levels[-1], 0, size, 0, 2), b.slice(levels[-1], 1, size, 0, 2)))
        size //= 2
    inv = finv(b, levels[-1])  # (1, m, 16)
    shape = b.op("Concat", b.const([-1]), b.slice(b.op("Shape", z), 1, 3, 0), axis=0)  # (-1, m, 16)
    for lev in reversed(levels[:-1]):
        left, right = b.slice(lev, 0, CHUNK, 0, 2), b.slice(lev, 1, CHUNK, 0, 2)
        pair = b.op("Concat", b.op("Unsqueeze", fmul(b, inv, right), b.const([1])), b.op("Unsqueeze", fmul(b, inv, left), b.const([1])), axis=1)
        inv = b.op("Reshape", pair, shape)  # interleave: row 2i ← left, 2i + 1 ← right
    return inv


def canonical(b: Builder, v: str) -> str:
    """Lazily reduced float64 limbs (..., 16) → canonical int64 limbs of v mod p (see ``_to_canonical``)."""
    x = unstack(b, b.op("Cast", v, to=TensorProto.INT64))
    for _ in range(3):
        x = carry_chain(b, x)
        top = sar(b, x[-1], 16)
        x[-1] = band(b, x[-1], 0xFFFF)
        x[0] = b.op("Add", x[0], b.op("Mul", top, b.const(38)))
    x = carry_chain(b, x)
    bit = sar(b, x[-1], 15)
    x[-1] = band(b, x[-1], 0x7FFF)
    x[0] = b.op("Add", x[0], b.op("Mul", bit, b.const(19)))
    x = carry_chain(b, x)
    t = list(x)
    t[0] = b.op("Add", t[0], b.const(19))
    t = carry_chain(b, t)
    ge = b.op("Cast", sar(b, t[-1], 15), to=TensorProto.BOOL)
    t[-1] = band(b, t[-1], 0x7FFF)
    return b.op("Where", b.op("Unsqueeze", ge, b.const([-1])), restack(b, t), restack(b, x))


# ------------------------------------------------------------------------------------------------
# SHA-512 (uint64)
# ------------------------------------------------------------------------------------------------


def _u64(values) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


def _sigma(b: Builder, x: str, rots, shr=(), ndim: int = 2) -> str:
    """XOR of rotr(x, r) for r in rots and x >> s for s in shr (x uint64; the 3 shifts on a new leading axis)."""
    xu = b.op("Unsqueeze", x, b.const([0]))
    extra = [1] * ndim  # x has ``ndim`` axes ((nb, n) schedule words)
    right = _u64(list(rots) + list(shr)).reshape(3, *extra)
    left = _u64([64 - r for r in rots] + [0] * len(shr)).reshape(3, *extra)
    lmask = _u64([2**64 - 1] * len(rots) + [0] * len(shr)).reshape(3, *extra)
    t = b.op("BitwiseOr", b.op("BitShift", xu, b.const(right, np.uint64), direction="RIGHT"),
             b.op("BitwiseAnd", b.op("BitShift", xu, b.const(left, np.uint64), direction="LEFT"), b.const(lmask, np.uint64)))
    p = [b.take(t, i, 0) for i in range(3)]
    return b.op("BitwiseXor", b.op("BitwiseXor", p[0], p[1]), p[2])


ROUNDS_PER_ITER = 8


def sha512(b: Builder, data: str, length: int) -> str:
    """SHA-512 of ``data`` (n, length) int64 bytes → (n, 64) int64 digest bytes."""
    pad = np.frombuffer(E.sha512_padding(length), dtype=np.uint8).astype(np.int64)
    n = b.op("Gather", b.op("Shape", data), b.const(0))
    nb = (length + len(pad)) // 128
    full = b.op("Concat", data, b.op("Expand", b.const(pad[None, :]), b.op("Concat", b.op("Unsqueeze", n, b.const([0])), b.const([len(pad)]), axis=0)), axis=1)
    by = b.op("Cast", b.op("Reshape", full, b.const([-1, nb, 16, 8])), to=TensorProto.UINT64)
    words = b.op("MatMul", by, b.const(_u64([[1 << s] for s in range(56, -8, -8)]), np.uint64))  # (n, nb, 16, 1)
    words = b.op("Transpose", b.op("Squeeze", words, b.const([-1])), perm=[2, 1, 0])  # (16, nb, n): word-major

    # message schedule: 64 steps over all blocks at once, window of the last 16 words (leading axis:
    # contiguous slices; onnxruntime gathers on inner axes element by element, measured 10× slower)
    body = b.child("sched")
    win = body.name("win")
    w = lambda i: body.take(win, i, 0)  # noqa: E731
    new = body.op("Add", body.op("Add", _sigma(body, w(14), (19, 61), (6,)), w(9)), body.op("Add", _sigma(body, w(1), (1, 8), (7,)), w(0)))
    win_out = body.op("Concat", body.slice(win, 1, 16, 0), body.op("Unsqueeze", new, body.const([0])), axis=0)
    new_out = body.op("Identity", new)
    _, sched = b.loop(b.const(64), body, [words], [win], [win_out], [new_out], dtype=TensorProto.UINT64)
    wk = b.op("Concat", words, sched, axis=0)  # (80, nb, n)
    k = _u64(E.SHA512_K).reshape(80, 1, 1)
    wk = b.op("Add", wk, b.const(k, np.uint64))

    # rounds: ROUNDS_PER_ITER rounds per Loop iteration (fewer iterations: onnxruntime's per-iteration cost)
    rb = b.child("round")
    st = [rb.name(c) for c in "abcdefgh"]
    wkb = rb.name("wk")  # (80, n), an input of the block body, outer scope for the round body
    it = rb.name("it_r")
    rights = _u64([[28, 34, 39], [14, 18, 41]]).T.reshape(3, 2, 1)
    lefts = 64 - rights
    base_t = rb.op("Mul", it, rb.const(ROUNDS_PER_ITER))
    a, b_, c, d, e, f, g, h = st
    for j in range(ROUNDS_PER_ITER):
        ae = rb.op("Unsqueeze", rb.stack([a, e], 0), rb.const([0]))  # (1, 2, n)
        t = rb.op("BitwiseOr", rb.op("BitShift", ae, rb.const(rights, np.uint64), direction="RIGHT"),
                  rb.op("BitShift", ae, rb.const(lefts, np.uint64), direction="LEFT"))  # (3, 2, n)
        s = rb.op("BitwiseXor", rb.op("BitwiseXor", rb.take(t, 0, 0), rb.take(t, 1, 0)), rb.take(t, 2, 0))
        s0, s1 = rb.take(s, 0, 0), rb.take(s, 1, 0)
        ch = rb.op("BitwiseXor", g, rb.op("BitwiseAnd", e, rb.op("BitwiseXor", f, g)))
        maj = rb.op("BitwiseOr", rb.op("BitwiseAnd", a, b_), rb.op("BitwiseAnd", c, rb.op("BitwiseOr", a, b_)))
        wkt = rb.op("Gather", wkb, rb.op("Add", base_t, rb.const(j)), axis=0)
        t1 = rb.op("Add", rb.op("Add", h, s1), rb.op("Add", ch, wkt))
        t2 = rb.op("Add", s0, maj)
        a, b_, c, d, e, f, g, h = rb.op("Add", t1, t2), a, b_, c, rb.op("Add", d, t1), e, f, g
    outs = [rb.op("Identity", x) for x in (a, b_, c, d, e, f, g, h)]

    # blocks
    bb = b.child("block")
    hin = bb.name("H")  # (8, n)
    bit = bb.name("it_b")
    bb.nodes.append(helper.make_node("Gather", [wk, bit], [wkb], axis=1))
    init = [bb.take(hin, i, 0) for i in range(8)]
    # the round loop's iteration counter must be named ``it``: build the Loop by hand
    cond = rb.name("cond")
    rb_cond_out = rb.op("Identity", cond)
    rg = rb.graph(rb.prefix, [helper.make_tensor_value_info(it, TensorProto.INT64, []),
                              helper.make_tensor_value_info(cond, TensorProto.BOOL, [])]
                  + [helper.make_tensor_value_info(x, TensorProto.UINT64, None) for x in st],
                  [helper.make_tensor_value_info(rb_cond_out, TensorProto.BOOL, [])]
                  + [helper.make_tensor_value_info(x, TensorProto.UINT64, None) for x in outs])
    fin = bb.op("Loop", bb.const(80 // ROUNDS_PER_ITER), "", *init, n_out=8, body=rg)
    hout = bb.op("Add", hin, bb.stack(fin, 0))
    itb = helper.make_tensor_value_info(bit, TensorProto.INT64, [])
    condb = helper.make_tensor_value_info(bb.name("cond"), TensorProto.BOOL, [])
    condb_out = bb.op("Identity", condb.name)
    bg = bb.graph(bb.prefix, [itb, condb, helper.make_tensor_value_info(hin, TensorProto.UINT64, None)],
                  [helper.make_tensor_value_info(condb_out, TensorProto.BOOL, []), helper.make_tensor_value_info(hout, TensorProto.UINT64, None)])
    iv = _u64(E.SHA512_IV).reshape(8, 1)
    h0 = b.op("Expand", b.const(iv, np.uint64), b.op("Concat", b.const([8]), b.op("Unsqueeze", n, b.const([0])), axis=0))
    hfin = b.op("Loop", b.const(nb), "", h0, body=bg)
    hb = b.op("Unsqueeze", b.op("Transpose", hfin, perm=[1, 0]), b.const([-1]))  # (n, 8, 1)
    by = b.op("BitwiseAnd", b.op("BitShift", hb, b.const(_u64(list(range(56, -8, -8))), np.uint64), direction="RIGHT"), b.const(_u64(255), np.uint64))
    return b.op("Cast", b.op("Reshape", by, b.const([-1, 64])), to=TensorProto.INT64)


# ------------------------------------------------------------------------------------------------
# scalars and points
# ------------------------------------------------------------------------------------------------


def k_digits(b: Builder, digest: str) -> str:
    v = b.op("MatMul", digest, b.const(E.k_matrix().astype(np.int64)))
    x = carry_chain(b, unstack(b, v))
    hi = sar(b, x[-1], 12)
    x[-1] = band(b, x[-1], 0xFFF)
    r = b.op("Add", b.op("Sub", restack(b, x), b.op("Mul", b.op("Unsqueeze", hi, b.const([-1])), b.const(E._limbs(E.DELTA)))), b.const(E._limbs(E.L)))
    r = carry_chain(b, unstack(b, r))
    s = carry_chain(b, [b.op("Sub", ri, b.const(int(li))) for ri, li in zip(r, E._limbs(E.L))])
    neg = b.op("Unsqueeze", b.op("Less", s[-1], b.const(0)), b.const([-1]))
    kk = b.op("Where", neg, restack(b, r), restack(b, s))
    lo = band(b, kk, 255)
    hi8 = b.op("Div", kk, b.const(256))  # kk ≥ 0
    return b.op("Reshape", b.op("Concat", b.op("Unsqueeze", lo, b.const([-1])), b.op("Unsqueeze", hi8, b.const([-1])), axis=-1), b.const([-1, 32]))


def s_less_than_l(b: Builder, s_bytes: str) -> str:
    limbs = bytes_to_limbs(b, s_bytes)
    d = carry_chain(b, [b.op("Sub", x, b.const(int(li))) for x, li in zip(unstack(b, limbs), E._limbs(E.L))])
    return b.op("Less", d[-1], b.const(0))


def bytes_to_limbs(b: Builder, x: str) -> str:
    """(n, 32) bytes → (n, 16) little-endian 16-bit limbs."""
    return b.op("Squeeze", b.op("MatMul", b.op("Reshape", x, b.const([-1, 16, 2])), b.const([[1], [256]])), b.const([-1]))


def point_sum(b: Builder, sd: str, kd: str, tb: str, ta: str) -> str:
    """[S]B + [k](−A) for digits (c, 32) → (4, c, 16) extended (X, Y, Z, T)."""
    pos = b.const(np.arange(32) * 256)
    lb = b.op("Gather", tb, b.op("Add", sd, pos), axis=1)  # (3, c, 32, 16)
    la = b.op("Gather", ta, b.op("Add", kd, pos), axis=1)
    abc = fmul(b, lb, la)
    a, bm, c = (b.slice(abc, i, i + 1, 0) for i in range(3))
    two = f64(b, 2 * E._limbs(1))
    e, f, g, h = b.op("Sub", bm, a), b.op("Sub", two, c), b.op("Add", two, c), b.op("Add", bm, a)
    pts = fmul(b, b.op("Concat", e, g, f, e, axis=0), b.op("Concat", f, h, g, h, axis=0))  # (4, c, 32, 16)
    size = 32
    while size > 1:
        p1, p2 = b.slice(pts, 0, size, 2, 2), b.slice(pts, 1, size, 2, 2)
        X1, Y1, Z1, T1 = (b.slice(p1, i, i + 1, 0) for i in range(4))
        X2, Y2, Z2, T2 = (b.slice(p2, i, i + 1, 0) for i in range(4))
        t2d = fmulc(b, T2, E.D2)
        lhs = b.op("Concat", b.op("Sub", Y1, X1), b.op("Add", Y1, X1), T1, Z1, axis=0)
        rhs = b.op("Concat", b.op("Sub", Y2, X2), b.op("Add", Y2, X2), t2d, Z2, axis=0)
        abcd = fmul(b, lhs, rhs)
        a, bm, c, d = (b.slice(abcd, i, i + 1, 0) for i in range(4))
        d = b.op("Add", d, d)
        e, f, g, h = b.op("Sub", bm, a), b.op("Sub", d, c), b.op("Add", d, c), b.op("Add", bm, a)
        pts = fmul(b, b.op("Concat", e, g, f, e, axis=0), b.op("Concat", f, h, g, h, axis=0))
        size //= 2
    return b.op("Squeeze", pts, b.const([2]))


def add_verifier(b: Builder, public_key: bytes, messages: str, signatures: str, message_len: int) -> str:
    """Inline the verifier into ``b``: int64 byte tensors (n, message_len), (n, 64) → (n,) bool."""
    ta_np, key_ok = E.key_table(bytes(public_key))
    tb = b.op("Cast", b.const(E.base_table().transpose(2, 0, 1, 3).reshape(3, 32 * 256, 16), np.uint16), to=TensorProto.DOUBLE)
    ta = b.op("Cast", b.const(ta_np.transpose(2, 0, 1, 3).reshape(3, 32 * 256, 16), np.uint16), to=TensorProto.DOUBLE)
    r_bytes = b.slice(signatures, 0, 32, 1)
    s_bytes = b.slice(signatures, 32, 64, 1)
    n = b.op("Gather", b.op("Shape", signatures), b.const(0))
    n1 = b.op("Unsqueeze", n, b.const([0]))
    a_rows = b.op("Expand", b.const(np.frombuffer(bytes(public_key), np.uint8).astype(np.int64)[None, :]), b.op("Concat", n1, b.const([32]), axis=0))
    digest = sha512(b, b.op("Concat", r_bytes, a_rows, messages, axis=1), 64 + message_len)
    kd = k_digits(b, digest)

    # point sums over chunks of CHUNK rows (padded with zeros, dropped after)
    padn = b.op("Mod", b.op("Sub", b.const([CHUNK]), b.op("Mod", n1, b.const([CHUNK]))), b.const([CHUNK]))
    pads = b.op("Concat", b.const([0, 0]), padn, b.const([0]), axis=0)
    sdp = b.op("Reshape", b.op("Pad", s_bytes, pads), b.const([-1, CHUNK, 32]))
    kdp = b.op("Reshape", b.op("Pad", kd, pads), b.const([-1, CHUNK, 32]))
    nchunks = b.op("Gather", b.op("Shape", sdp), b.const(0))
    body = b.child("chunk")
    it = body.name("it")
    q = point_sum(body, body.op("Gather", sdp, it, axis=0), body.op("Gather", kdp, it, axis=0), tb, ta)
    cond = body.name("cond")
    cond_out = body.op("Identity", cond)
    g = body.graph(body.prefix, [helper.make_tensor_value_info(it, TensorProto.INT64, []), helper.make_tensor_value_info(cond, TensorProto.BOOL, [])],
                   [helper.make_tensor_value_info(cond_out, TensorProto.BOOL, []), helper.make_tensor_value_info(q, TensorProto.DOUBLE, None)])
    qs = b.op("Loop", nchunks, "", body=g)  # (nchunks, 4, CHUNK, 16)
    q = b.op("Reshape", b.op("Transpose", qs, perm=[1, 0, 2, 3]), b.const([4, -1, 16]))
    zi = batch_inverse(b, b.op("Transpose", b.take(qs, 2, 1), perm=[1, 0, 2]))  # (CHUNK, nchunks, 16)
    zi = b.op("Slice", b.op("Reshape", b.op("Transpose", zi, perm=[1, 0, 2]), b.const([-1, 16])), b.const([0]), n1, b.const([0]))
    q = b.op("Slice", q, b.const([0]), n1, b.const([1]))
    X, Y = (b.take(q, i, 0) for i in range(2))
    zz = b.op("Unsqueeze", zi, b.const([0]))
    xy = fmul(b, b.op("Concat", b.op("Unsqueeze", X, b.const([0])), b.op("Unsqueeze", Y, b.const([0])), axis=0), b.op("Concat", zz, zz, axis=0))
    xyc = canonical(b, xy)  # (2, n, 16)
    xc, yc = b.take(xyc, 0, 0), b.take(xyc, 1, 0)
    parity = b.op("Mul", band(b, b.take(xc, 0, -1), 1), b.const(1 << 15))
    enc = b.op("BitwiseOr", yc, b.op("Mul", b.op("Unsqueeze", parity, b.const([-1])), b.const(np.eye(16, dtype=np.int64)[15])))
    same = b.op("ReduceMin", b.op("Cast", b.op("Equal", enc, bytes_to_limbs(b, r_bytes)), to=TensorProto.INT64), b.const([-1]), keepdims=0)
    ok = b.op("And", b.op("Cast", same, to=TensorProto.BOOL), s_less_than_l(b, s_bytes))
    if not key_ok:
        ok = b.op("And", ok, b.const(False, np.bool_))
    return ok


def verifier_model(public_key: bytes, message_len: int) -> onnx.ModelProto:
    """A standalone ONNX verifier: ``messages`` (n, message_len), ``signatures`` (n, 64) int64 → ``valid`` (n,) bool.

    Examples
    --------
    >>> m = verifier_model(bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), 0)
    >>> [o.name for o in m.graph.output]
    ['valid']
    """
    b = Builder("v")
    ok = add_verifier(b, public_key, "messages", "signatures", message_len)
    b.nodes.append(helper.make_node("Identity", [ok], ["valid"]))
    g = b.graph("ed25519_verify", [helper.make_tensor_value_info("messages", TensorProto.INT64, ["n", message_len]),
                                   helper.make_tensor_value_info("signatures", TensorProto.INT64, ["n", 64])],
                [helper.make_tensor_value_info("valid", TensorProto.BOOL, ["n"])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="undetectable")
    model.ir_version = 9
    return model


def node_count(model: onnx.ModelProto) -> int:
    """Nodes in the graph, loop bodies included."""
    def count(g):
        n = 0
        for node in g.node:
            n += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    n += count(attr.g)
        return n
    return count(model.graph)
