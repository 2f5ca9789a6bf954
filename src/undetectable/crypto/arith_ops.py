"""Graph helpers for exact integer arithmetic in float32 ONNX tensors (the arithmetic-only verifier).

Every value these helpers produce is an integer of magnitude at most 2^24 held in float32, so a
runtime that lowers float32 to float32 (OpenVINO's CPU plugin) or runs integers as int32 computes
the same bits. Division is only by powers of two (``Mul`` by 2^-k, exact), rounding only ``Floor``.
int64 appears only where ONNX demands it for *shapes and axes* (``Reshape``/``Unsqueeze``/``ReduceSum``
constants) and, in the looped variant, as ``Loop`` trip counts; gather indices are int32.

``repeat`` is the one place control flow is chosen: ``unroll=True`` writes the body out ``count``
times (no ``Loop`` at all), otherwise one spec-conformant ``Loop`` with an explicit ``cond``.

Examples
--------
>>> b = ed25519_onnx.Builder("q")
>>> fconst(b, [1.0, 2.0]) in {i.name for i in b.inits}
True
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from onnx import TensorProto, helper

from . import ed25519_onnx

Builder = ed25519_onnx.Builder


def fconst(b: Builder, value) -> str:
    """A float32 constant (deduplicated)."""
    return b.const(np.asarray(value, dtype=np.float32), np.float32)


def axes(b: Builder, value) -> str:
    """An int64 shape/axes constant (the only int64 ONNX requires: Reshape, Unsqueeze, ReduceSum)."""
    return b.const(np.asarray(value, dtype=np.int64), np.int64)


def index(b: Builder, value) -> str:
    """An int32 gather/slice index constant."""
    return b.const(np.asarray(value, dtype=np.int32), np.int32)


def take(b: Builder, x: str, i, axis: int) -> str:
    """``Gather`` with a constant int32 index (a scalar removes the axis, a list keeps it)."""
    return b.op("Gather", x, index(b, i), axis=axis)


def cut(b: Builder, x: str, start: int, end: int, axis: int) -> str:
    """``x[start:end]`` along ``axis`` (int32 Slice parameters)."""
    return b.op("Slice", x, index(b, [start]), index(b, [end]), index(b, [axis]))


def unsq(b: Builder, x: str, axis: int) -> str:
    return b.op("Unsqueeze", x, axes(b, [axis]))


def reshape(b: Builder, x: str, shape: Sequence[int]) -> str:
    return b.op("Reshape", x, axes(b, list(shape)))


def floor_shift(b: Builder, x: str, k: int) -> str:
    """floor(x / 2^k), exact for integer x in float32."""
    return b.op("Floor", b.op("Mul", x, fconst(b, 2.0 ** -k)))


def bits_of(b: Builder, x: str, nbits: int) -> str:
    """(..., nbits) bits (least significant first) of non-negative integers x < 2^24 (only the low ``nbits``)."""
    q = b.op("Floor", b.op("Mul", unsq(b, x, -1), fconst(b, [2.0 ** -j for j in range(nbits + 1)])))
    d = np.zeros((nbits + 1, nbits), dtype=np.float32)
    for j in range(nbits):
        d[j, j] = 1.0
        d[j + 1, j] = -2.0
    return b.op("MatMul", q, fconst(b, d))


def seq_carry(b: Builder, limbs: list[str], radix_bits: int = 8) -> tuple[list[str], str]:
    """Sequential carry over ``limbs`` (little-endian, each (..., 1)): digits in [0, 2^radix_bits) and the
    final carry (floor division, so signed values work: a negative total leaves a negative carry)."""
    out: list[str] = []
    c = None
    r = fconst(b, float(1 << radix_bits))
    for v in limbs:
        if c is not None:
            v = b.op("Add", v, c)
        c = floor_shift(b, v, radix_bits)
        out.append(b.op("Sub", v, b.op("Mul", c, r)))
    assert c is not None
    return out, c


def split(b: Builder, x: str, n: int) -> list[str]:
    """The n entries of the last axis as (..., 1) tensors."""
    return [cut(b, x, i, i + 1, -1) for i in range(n)]


def join(b: Builder, limbs: list[str]) -> str:
    return b.op("Concat", *limbs, axis=-1)


def repeat(b: Builder, count: int, state: list[str], body: Callable[[Builder, list[str]], list[str]],
           unroll: bool, hint: str = "r") -> list[str]:
    """Apply ``body`` ``count`` times to the float32 ``state``: written out (``unroll``) or one ``Loop``.

    The ``Loop`` gets an explicit true ``cond`` input and passes its condition through (the ONNX
    reference evaluator reads a missing ``cond`` as false); ``body`` must not depend on the iteration.
    """
    if unroll or count <= 1:
        for _ in range(count):
            state = body(b, state)
        return state
    sub = b.child(hint)
    it, cond = sub.name("i"), sub.name("c")
    ins = [sub.name("s") for _ in state]
    outs = body(sub, list(ins))
    outs = [sub.op("Identity", o) if o in ins else o for o in outs]
    cond_out = sub.op("Identity", cond)
    g = helper.make_graph(
        sub.nodes, sub.prefix,
        [helper.make_tensor_value_info(it, TensorProto.INT64, []), helper.make_tensor_value_info(cond, TensorProto.BOOL, [])]
        + [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ins],
        [helper.make_tensor_value_info(cond_out, TensorProto.BOOL, [])]
        + [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outs])
    res = b.op("Loop", b.const(np.int64(count), np.int64), b.const(np.bool_(True), np.bool_), *state,
               n_out=len(state), body=g)
    return res if isinstance(res, list) else [res]
