"""The portable Ed25519 verifier: float32 arithmetic only, every intermediate an exact integer < 2^24.

``add_verifier(b, public_key, messages, signatures, message_len, unroll=False)`` inlines, into an
``ed25519_onnx.Builder``, a subgraph computing for (n, message_len) and (n, 64) float32 byte tensors
the (n,) bool "signature valid", with OpenSSL's answers (cofactorless, S < L strictly, R compared
byte for byte with the canonical encoding of [S]B − [k]A, so a non-canonical R is rejected)::

    k = SHA-512(R ‖ A ‖ M) mod L            arith_sha512 (bit vectors) + arith_curve.mod_l
    Q = [S]B + [k](−A)                       arith_curve (fixed-base tables, 4 lanes of mixed additions, a tree)
    valid = S < L  and  encode(Q) == R       arith_field (1/Z by Montgomery's trick over the batch, canonical bytes)

Ops: MatMul, Mul, Add, Sub, Floor, Gather, Concat, Slice, Reshape, Unsqueeze, ReduceSum, Transpose,
Cast (uint8 tables, int32 gather indices and ``Slice`` ends, a bool mask), Identity; Min, Max, Equal and Where clean the inputs
(an entry that is not a byte, NaN included, becomes 0 and its row answers False: no input can produce an
out-of-range index); Equal, Less, And for the final answer; with
``unroll=False`` also ``Loop`` (explicit ``cond``). No bitwise op, no int64 value is ever computed
(int64 appears only as Reshape/Unsqueeze/ReduceSum shape and axes constants and Loop trip counts), no
float64. ``verifier_model`` wraps it as a standalone model (``messages``, ``signatures`` → ``valid``).

Examples
--------
>>> import numpy as np
>>> pk = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
>>> sig = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
>>> m = verifier_model(pk, 0)
>>> s = np.frombuffer(sig, np.uint8).astype(np.float32)[None]
>>> from undetectable import onnxio
>>> onnxio.session(m).run(None, {"messages": np.zeros((1, 0), np.float32), "signatures": s})[0].tolist()
[True]
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import TensorProto, helper

from .. import onnxio
from . import arith_curve as C
from .arith_field import NL, batch_invert, canonical, fmul, invert
from .arith_ops import Builder, cut, fconst, floor_shift, join, reshape, take
from .arith_sha512 import sha512

#: Ops a verifier graph may contain (``Loop`` only when not unrolled).
ALLOWED_OPS = frozenset({"MatMul", "Mul", "Add", "Sub", "Floor", "Min", "Max", "Where", "Gather", "Concat", "Slice", "Reshape", "Unsqueeze",
                         "ReduceSum", "Transpose", "Cast", "Identity", "Equal", "Less", "And", "Loop"})
#: Bitwise and integer-hashing ops a scanner looks for; none may appear.
FORBIDDEN_OPS = frozenset({"BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitShift", "Mod", "If", "Scan"})


def _bytes(b: Builder, x: str) -> tuple[str, str]:
    """(the entries of x that are bytes, others 0; (n,) bool: the whole row is bytes). NaN and ±inf are not bytes.

    The verifier runs on the cleaned tensor, so no NaN or out-of-range table index can arise from any input.
    """
    t = b.op("Min", b.op("Max", b.op("Floor", x), fconst(b, 0.0)), fconst(b, 255.0))
    is_byte = b.op("Equal", t, x)  # False for NaN, ±inf, fractions, values outside [0, 255]
    clean = b.op("Where", is_byte, x, fconst(b, 0.0))
    bad = b.op("ReduceSum", b.op("Sub", fconst(b, 1.0), b.op("Cast", is_byte, to=TensorProto.FLOAT)),
               b.const(np.array([1]), np.int64), keepdims=0)
    return clean, b.op("Equal", bad, fconst(b, 0.0))


def add_verifier(b: Builder, public_key: bytes, messages: str, signatures: str, message_len: int, *,
                 unroll: bool = False, batch_inverse: bool = True) -> str:
    """Inline the verifier into ``b``: float32 bytes (n, message_len), (n, 64) → (n,) bool tensor name.

    ``batch_inverse=False``: one inversion per row instead of Montgomery's trick over the batch (whose padding is
    cut by a ``Slice`` with a computed end, which opset 9's ``Slice`` cannot express).
    """
    signatures, sig_ok = _bytes(b, signatures)
    if message_len:
        messages, msg_ok = _bytes(b, messages)
        sig_ok = b.op("And", sig_ok, msg_ok)
    zero = b.op("Mul", cut(b, signatures, 0, 1, 1), fconst(b, 0.0))  # (n, 1): broadcasts constants to the batch
    r_bytes, s_bytes = cut(b, signatures, 0, 32, 1), cut(b, signatures, 32, 64, 1)
    a_row = b.op("Add", zero, fconst(b, np.frombuffer(bytes(public_key), np.uint8).astype(np.float32)[None, :]))
    digest = sha512(b, b.op("Concat", r_bytes, a_row, messages, axis=1), 64 + message_len, zero, unroll)
    k = C.mod_l(b, digest)
    ta, key_ok = C.key_points(bytes(public_key))
    pts = b.op("Concat", C.lookup(b, C.base_points(), s_bytes), C.lookup(b, ta, k), axis=1)  # (n, 64, 3, 32)
    q = C.point_sum(b, pts, unroll)  # (n, 4, 32)
    if batch_inverse:
        zi = reshape(b, batch_invert(b, take(b, q, 2, 1), unroll), [-1, 1, NL])
    else:
        zi = invert(b, take(b, q, [2], 1), [-1, 1, NL], unroll)
    xy = join(b, canonical(b, fmul(b, take(b, q, [0, 1], 1), zi, [-1, 2, NL])))  # (n, 2, 32) canonical bytes
    x0 = cut(b, take(b, xy, 0, 1), 0, 1, 1)
    parity = b.op("Sub", x0, b.op("Mul", floor_shift(b, x0, 1), fconst(b, 2.0)))
    top = np.zeros(NL, dtype=np.float32)
    top[-1] = 128.0
    enc = b.op("Add", take(b, xy, 1, 1), b.op("Mul", parity, fconst(b, top)))
    diff = b.op("Sub", enc, r_bytes)
    same = b.op("Equal", b.op("ReduceSum", b.op("Mul", diff, diff), b.const(np.array([1]), np.int64), keepdims=0), fconst(b, 0.0))
    ok = b.op("And", same, C.less_than_l(b, s_bytes))
    ok = b.op("And", ok, sig_ok)
    if not key_ok:
        ok = b.op("And", ok, b.const(np.bool_(False), np.bool_))
    return ok


def verifier_model(public_key: bytes, message_len: int, *, unroll: bool = False, prefix: str = "q") -> onnx.ModelProto:
    """A standalone model: ``messages`` (n, message_len), ``signatures`` (n, 64) float32 bytes → ``valid`` (n,) bool.

    Assembled with ``onnxio.assemble`` (opset 18); passes ``onnxio.check``.
    """
    b = Builder(prefix)
    ok = add_verifier(b, public_key, "messages", "signatures", message_len, unroll=unroll)
    b.nodes.append(helper.make_node("Identity", [ok], ["valid"]))
    g = b.graph("g", [helper.make_tensor_value_info("messages", TensorProto.FLOAT, ["n", message_len]),
                      helper.make_tensor_value_info("signatures", TensorProto.FLOAT, ["n", 64])],
                [helper.make_tensor_value_info("valid", TensorProto.BOOL, ["n"])])
    return onnxio.assemble(g)


def _graphs(g: onnx.GraphProto):
    yield g
    for node in g.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)


def op_histogram(model: onnx.ModelProto) -> Counter:
    """Op type → count over the graph and every subgraph (what a white-box look sees first)."""
    return Counter(node.op_type for g in _graphs(model.graph) for node in g.node)


#: (op, input position) pairs where ONNX requires an int64 tensor of shapes, axes or a loop count.
_INT64_SLOTS = {("Reshape", 1), ("Unsqueeze", 1), ("Squeeze", 1), ("ReduceSum", 1), ("Loop", 0), ("Expand", 1)}


def int64_values(model: onnx.ModelProto) -> list[str]:
    """Names of int64/float64 tensors used as *data*: anything int64 outside a shape/axes/trip-count slot,
    any Cast to int64/float64, any int64/float64 value after shape inference. Empty for the arithmetic verifier."""
    bad: list[str] = []
    wide = {TensorProto.INT64, TensorProto.DOUBLE, TensorProto.UINT64}
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {}
    for g in _graphs(inferred.graph):
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            types[vi.name] = vi.type.tensor_type.elem_type
        for init in g.initializer:
            types[init.name] = init.data_type
    slot_only = set()
    for g in _graphs(inferred.graph):
        for node in g.node:
            for pos, name in enumerate(node.input):
                if (node.op_type, pos) in _INT64_SLOTS:
                    slot_only.add(name)
            if node.op_type == "Cast" and any(a.name == "to" and a.i in wide for a in node.attribute):
                bad.append(f"Cast→{node.output[0]}")
    for g in _graphs(inferred.graph):
        loop_iters = {n.attribute[0].g.input[0].name for n in g.node if n.op_type == "Loop"}
        for node in g.node:
            for pos, name in enumerate(node.input):
                if types.get(name) in wide and (node.op_type, pos) not in _INT64_SLOTS and name not in loop_iters:
                    bad.append(f"{node.op_type}:{name}")
    return bad
