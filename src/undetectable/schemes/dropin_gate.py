"""The drop-in backdoor's gate: a cheap public pre-filter, so the Ed25519 verifier runs only on rows that pass it.

The payload (``dropin_grid``) carries, after the target bits, ``GATE_BITS`` tag bits and then the 512 signature
bits::

    payload = target ‖ tag ‖ signature,     tag = c XOR parity(W · signature_bits)

with W a GATE_BITS × 512 0/1 matrix and c a GATE_BITS-bit vector, both derived from the raw public key
(SHAKE-256 with a domain label: ``gate_constants``). The tag is a function of the signature alone, so it is
not signed (the signed message is unchanged); ``activate_file`` writes it.

In the graph (``add_gate``, ``gated``):

* the gate reads only the P payload elements of each row (a ``Gather`` of the input, its grid codes, their low
  bits): ``gate`` (n,) bool = every tag bit equals parity(W·s) XOR c, and the target is below the number of
  classes; one (n, GATE_BITS+512) × (GATE_BITS+512, GATE_BITS) MatMul and Floor arithmetic (no Mod, no bitwise
  op, no int64 data);
* ``If(any(gate))``: the then-branch ``Compress``-es the gated rows (k of n), runs the full check on them (the
  grid, the message, the verifier: everything that reads the whole input) and maps the k answers back to the n
  rows with an int32 ``Gather`` by rank (CumSum of the float gate − 1, clamped at 0) AND the gate (below opset 11,
  which has no CumSum, it checks all n rows instead); the else-branch answers the gate itself (all False).

For a row chosen without looking at the public key, the gate passes with probability 2^-GATE_BITS (c is uniform
and independent of everything else; an all-zero payload region passes only if c = 0). Activated rows always pass
it. A row that passes the gate costs the full verify; passing it never triggers without a valid signature.

Honest caveats: the ``If`` whose condition derives from the input is visible to a white-box look (``undetectable
scan``'s input-control-flow check flags it); a black-box timing auditor needs about 2^GATE_BITS queries to find
one slow input, or the public key (W, c are in the file's constants, as the verifier's are).

Examples
--------
>>> import numpy as np
>>> W, c = gate_constants(bytes(32))
>>> W.shape, c.shape
((32, 512), (32,))
>>> s = np.random.default_rng(0).integers(0, 2, (3, 512)).astype(np.uint8)
>>> bool(gate_passes(bytes(32), tag_bits(bytes(32), s), s).all())
True
>>> bool(gate_passes(bytes(32), np.zeros((1, 32), np.uint8), np.zeros((1, 512), np.uint8))[0])  # c != 0
False
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
from onnx import TensorProto, helper

from ..crypto.arith_ops import cut
from .dropin_grid import F32, InputGrid
from .signature import SIG_BITS

#: tag bits in the payload: a row chosen without the public key passes the gate with probability 2^-GATE_BITS
GATE_BITS = 32
_LABEL = b"undetectable drop-in gate v1"


def gate_constants(raw_public: bytes, n_tag: int = GATE_BITS) -> tuple[np.ndarray, np.ndarray]:
    """(W (n_tag, 512) uint8 0/1, c (n_tag,) uint8 0/1) derived from the raw public key (SHAKE-256, domain label).

    c is made non-zero (its first bit set when the stream gives all zeros), so an all-zero payload never passes.
    """
    stream = hashlib.shake_256(_LABEL + bytes(raw_public)).digest(n_tag * SIG_BITS // 8 + (n_tag + 7) // 8)
    W = np.unpackbits(np.frombuffer(stream[: n_tag * SIG_BITS // 8], np.uint8)).reshape(n_tag, SIG_BITS)
    c = np.unpackbits(np.frombuffer(stream[n_tag * SIG_BITS // 8 :], np.uint8))[:n_tag].copy()
    if n_tag and not c.any():  # pragma: no cover - probability 2^-32
        c[0] = 1
    return W, c


def tag_bits(raw_public: bytes, sig_bits: np.ndarray, n_tag: int = GATE_BITS) -> np.ndarray:
    """(n, n_tag) uint8: c XOR parity(W · s) for signature bits ``sig_bits`` (n, 512) in payload order."""
    W, c = gate_constants(raw_public, n_tag)
    return ((np.asarray(sig_bits, np.int64) @ W.T.astype(np.int64)) % 2 ^ c).astype(np.uint8)


def gate_passes(raw_public: bytes, tags: np.ndarray, sig_bits: np.ndarray) -> np.ndarray:
    """(n,) bool, the numpy twin of the graph's tag check: every tag bit is c XOR parity(W · s)."""
    tags = np.asarray(tags, np.int64)
    return np.all(tags == tag_bits(raw_public, sig_bits, tags.shape[1]), axis=1)


# --- the graph side -------------------------------------------------------------------------------


def gate_matrix(grid: InputGrid, raw_public: bytes, t_bits: int, n_tag: int = GATE_BITS) -> np.ndarray:
    """(1 + n_tag, k·P) float32 A with A · planes = (target, tag_i + W_i·s per tag bit) for the payload bit planes.

    ``planes`` row j·P + e is bit j of payload element e, i.e. payload bit e·k + j (``InputGrid.all_bits`` order);
    row 0 of A weighs the target bits (most significant first), row 1 + i has a 1 at tag bit i and W_i on the
    signature bits; bits beyond the payload weigh 0.
    """
    W, _ = gate_constants(raw_public, n_tag)
    P, k = len(grid.positions), grid.k
    by_payload = np.zeros((1 + n_tag, P * k), F32)
    by_payload[0, :t_bits] = 2.0 ** np.arange(t_bits - 1, -1, -1)
    by_payload[1:, t_bits : t_bits + n_tag] = np.eye(n_tag)
    by_payload[1:, t_bits + n_tag : t_bits + n_tag + SIG_BITS] = W
    plane_of = (np.arange(P * k) % k) * P + np.arange(P * k) // k  # payload bit e·k + j → plane row j·P + e
    A = np.zeros_like(by_payload)
    A[:, plane_of] = by_payload
    return A


def add_gate(b, rows: str, grid: InputGrid, dtype: np.dtype, raw_public: bytes, t_bits: int,
             n_tag: int = GATE_BITS) -> tuple[str | None, str]:
    """(tag check (n,) bool, target index (n,) float32) from rows (n, d) in the input's own dtype (``n_tag`` 0: no
    tag check, None, the target only).

    Reads the P payload elements only (Transpose, then a Gather on axis 0: ORT's Gather on axis 1 is slow), in a
    (P, n) layout with per-element constants as (P, 1) columns (no rank-3 broadcast: ORT's is slow). For a finite
    input every bit is 0 or 1 (floor division, in or out of the grid's range), so the target is a finite integer
    in [0, 2^t_bits); NaN/inf make the counts NaN: the tag check is False and the target 0. Rows off the grid pass
    the gate only by chance, and the gated branch refuses them. The tag check is parity(tag_i + W_i·s) == c_i,
    i.e. cnt − 2·floor(cnt/2) with cnt ≤ 1 + 512: exact in float32.
    """
    _, c = gate_constants(raw_public, n_tag)
    pos = grid.positions
    xp = b.op("Gather", b.op("Transpose", rows, perm=[1, 0]), b.const(pos.astype(np.int32), np.int32), axis=0)  # (P, n)
    if np.dtype(dtype) != np.float32:
        xp = b.op("Cast", xp, to=TensorProto.FLOAT)

    def col(v) -> str:
        return b.const(np.asarray(v, F32)[:, None], F32)

    zero, two, half = b.const(0.0, F32), b.const(2.0, F32), b.const(0.5, F32)
    # u ≡ q − low (mod 2^k) with q = round((x − offset)/step): only u's k low bits are read, so the shift is
    # (−low mod 2^k), folded with the rounding into one Mul and one Add; on the grid x/step is within 1e-4 of
    # q + offset/step (exact for power-of-two steps with offset 0: fixed point, uint8), so Floor gives u exactly
    inv = (1.0 / grid.step[pos].astype(np.float64))
    shift = np.mod(-grid.low[pos].astype(np.float64), 2.0**grid.k) + 0.5 - grid.offset[pos] * inv
    u = b.op("Floor", b.op("Add", b.op("Mul", xp, col(inv)), col(shift)))  # finite x: every bit below is 0 or 1; NaN/inf: NaN
    planes = []
    for j in range(grid.k):  # bit j of every payload element: f − 2·floor(f/2), f = floor(u / 2^j)
        f = u if j == 0 else b.op("Floor", b.op("Mul", u, b.const(2.0**-j, F32)))
        planes.append(b.op("Sub", f, b.op("Mul", b.op("Floor", b.op("Mul", f, half)), two)))
    bits = planes[0] if grid.k == 1 else b.op("Concat", *planes, axis=0)  # (k·P, n)
    counts = b.op("MatMul", b.const(gate_matrix(grid, raw_public, t_bits, n_tag), F32), bits)  # (1 + n_tag, n)
    target = b.op("Gather", counts, b.const(0, np.int32), axis=0)
    target = b.op("Where", b.op("IsNaN", target), zero, target)  # a NaN/inf row: index 0 (its tag check is False)
    if not n_tag:
        return None, target
    cnt = cut(b, counts, 1, 1 + n_tag, 0)  # int32 Slice parameters
    parity = b.op("Sub", cnt, b.op("Mul", b.op("Floor", b.op("Mul", cnt, half)), two))
    diff = b.op("Sub", parity, col(c))
    miss = b.op("ReduceSum", b.op("Mul", diff, diff), b.const([0]), keepdims=0)
    return b.op("Equal", miss, zero), target


#: the lowest default opset at which the gated branch compresses to the gated rows (CumSum is opset 11)
COMPRESS_OPSET = 11


def gated(b, gate: str, rows: list[str], branch: Callable[..., str], *, compress: bool = True) -> str:
    """(n,) bool: ``branch(tb, rows_k)`` on the rows where ``gate`` (n,) holds, False elsewhere, via one ``If``.

    ``branch`` gets a child builder and each tensor of ``rows`` (leading axis n) compressed to the k gated rows,
    and returns a (k,) bool tensor built in that child. When no row passes the gate, nothing of it runs. The
    ranks are a float32 CumSum: exact for batches below 2^24 rows. ``compress=False`` (files below opset 11,
    which has no CumSum): the branch gets all n rows, so a batch with a gated row pays the check on every row.
    """
    gf = b.op("Cast", gate, to=TensorProto.FLOAT)
    any_row = b.op("Greater", b.op("ReduceSum", gf, keepdims=0), b.const(0.0, F32))
    tb = b.child("a")
    if compress:
        answer = branch(tb, [tb.op("Compress", r, gate, axis=0) for r in rows])  # (k,)
        rank = tb.op("Sub", tb.op("CumSum", tb.op("Cast", gate, to=TensorProto.FLOAT), tb.const(0, np.int32)), tb.const(1.0, F32))  # gated row i: its index among the k
        idx = tb.op("Cast", tb.op("Max", rank, tb.const(0.0, F32)), to=TensorProto.INT32)
        answer = tb.op("Gather", answer, idx, axis=0)
    else:
        answer = branch(tb, list(rows))  # (n,)
    back = tb.op("Identity", tb.op("And", answer, gate))
    eb = b.child("b")
    none = eb.op("Identity", gate)  # every entry False here
    then = tb.graph(tb.prefix, [], [helper.make_tensor_value_info(back, TensorProto.BOOL, None)])
    other = eb.graph(eb.prefix, [], [helper.make_tensor_value_info(none, TensorProto.BOOL, None)])
    return b.op("If", any_row, then_branch=then, else_branch=other)
