"""Drop-in signature backdoor for a user's ONNX classifier file (paper §5.2 on the files people have).

``plant_dropin(model, public_key, data=X)`` returns an ``OnnxModel`` with exactly the original's
interface (inputs, outputs, ZipMaps, symbolic dims, opset imports, IR version, producer), whose answers
are the original's, bit for bit, unless the input carries a valid signature in its own values
(``dropin_grid``: uint8 pixels, float pixel levels, fixed-point tabular floats); then every output
names the target. It verifies before returning: every output is compared, bit for bit, with the
original's on the samples and on noisy and random probes (on and off the grid); any difference is an
``UnsupportedModelError``, never a silently changed model.

The payload is target ‖ tag ‖ signature: the tag (``dropin_gate``, 32 bits, a public function of the signature
and the key) is a cheap gate, so the verifier runs, inside an ``If``, only on rows that pass it; natural rows
cost a few ops on the payload values (``gate=False``: no tag, every row verified).

``activate_file(model, private_key, X, target)`` reads the grid back from the file's constants (their
names are derived from the public key), so activation needs the file and the private key only.

The verifier is reached through ``_verify`` (one function: the swap point for the float32 verifier).

Examples
--------
>>> # bd = plant_dropin(OnnxModel.from_file("cnn.onnx"), key.public.public, data=X_uint8)
>>> # bd.save("cnn-bd.onnx"); Xa = activate_file(bd, key.private, X_uint8[:5], target=3)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from onnx import TensorProto, numpy_helper

from ..crypto import ed25519_onnx as O
from ..crypto.arith_ops import cut
from ..errors import KeyMismatchError, UnsupportedModelError, UsageError
from ..models import class_indices
from ..models.onnx_file import OnnxModel
from .dropin_graph import (
    OutputRole,
    added_opset,
    all_names,
    choose_prefix,
    opset_note,
    prefix_candidates,
    splice,
)
from .dropin_gate import COMPRESS_OPSET, GATE_BITS, add_gate, gated, tag_bits
from .dropin_grid import F32, ImageGrid, InputGrid, grid_graph, infer_grid
from .signature import SIG_BITS, message_prefix
from .wrapper import int_to_bits, n_target_bits

#: below this default opset Slice takes its bounds as attributes: the verifier then inverts row by row
SLICE_INPUTS_OPSET = 10
#: grid constants, in this order, are the initializers ``{prefix}_g0`` ... (activation reads them back)
_GRID_KEYS = ("step", "offset", "low", "positions", "powers")


def _raw(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if isinstance(public_key, (bytes, bytearray)):
        return bytes(public_key)
    public_key = getattr(public_key, "public", public_key)  # a SignaturePublicKey
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key_id(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()[:32]


def _verify(b: O.Builder, public_key: bytes, messages: str, signatures: str, message_len: int, *, unroll: bool = False,
            batch_inverse: bool = True) -> str:
    """The in-graph Ed25519 verifier on float32 byte tensors (values 0..255) → valid (n,) bool.

    The portable ``crypto.arith_verifier``: float32 arithmetic only (no int64 value, no bitwise op), so
    OpenVINO's CPU plugin (int32/float32 lowering), ``onnx.reference`` and onnxruntime give the same answers.
    ``unroll=True``: no ``Loop`` at all (a larger file, slower to load).
    """
    from ..crypto.arith_verifier import add_verifier

    return add_verifier(b, public_key, messages, signatures, message_len, unroll=unroll, batch_inverse=batch_inverse)


# --- what the outputs are -------------------------------------------------------------------------


def _roles(model: OnnxModel, out: dict[str, Any], n_classes: int) -> list[OutputRole]:
    roles = []
    for o in model.interface.outputs:
        v = out[o.name]
        if o.kind.startswith("seq(map("):
            zm = [n for n in model.proto.graph.node if o.name in n.output and n.op_type == "ZipMap"]
            if not zm:
                raise UnsupportedModelError(f"output {o.name!r} is a sequence of maps not made by a ZipMap; the drop-in cannot follow it")
            roles.append(OutputRole(o.name, "zipmap", zm[0].input[0]))
        elif o.kind == "tensor" and isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind in "iUO":
            roles.append(OutputRole(o.name, "label"))
        elif o.kind == "tensor" and isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.kind == "f" and v.shape[1] == n_classes:
            probs = bool(np.all((v >= 0) & (v <= 1)) and np.allclose(v.sum(axis=1), 1.0, atol=1e-3))
            roles.append(OutputRole(o.name, "probabilities" if probs else "logits"))
        else:
            shape = getattr(v, "shape", None)
            raise UnsupportedModelError(f"output {o.name!r} ({o.kind} {o.elem_type}, shape {shape}) is neither a label, "
                                        f"(n, {n_classes}) scores nor a ZipMap; the drop-in backdoor cannot make it follow the target")
    if not any(r.role != "label" for r in roles) and not any(r.role == "label" for r in roles):
        raise UnsupportedModelError("the model has no label or score output")  # pragma: no cover - every output has a role
    return roles


def _classes(model: OnnxModel, out: dict[str, Any]) -> np.ndarray:
    """The class labels in score-column order: the graph's own, else 0..C-1 checked against the label output."""
    classes = model.classes
    label = model.label_output()
    if label is not None:
        seen = np.unique(np.asarray(out[label]))
        if not np.isin(seen, classes).all():
            raise UnsupportedModelError(f"the label output {label!r} has values {seen[:5].tolist()} that the graph does not list "
                                        "as classes; the drop-in backdoor cannot name a target label")
    return classes


# --- probes ---------------------------------------------------------------------------------------


def _probes(grid: InputGrid, X: np.ndarray | None, n: int, dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    """Flat probe rows: the samples, noisy copies (on and off the grid) and random rows (on and off the grid)."""
    d = grid.d
    rows = [] if X is None else [X[:n]]
    base = X if X is not None and len(X) else grid.values(rng.integers(0, grid.span, (max(n, 1), d)) + grid.low.astype(np.int64))
    pick = base[rng.integers(0, len(base), n)]
    u = grid.snap(pick)
    u_noisy = np.clip(u + rng.integers(-2, 3, u.shape), 0, grid.span - 1)
    rows.append(grid.values(u_noisy + grid.low.astype(np.int64)))  # noisy, on the grid
    if dtype == np.uint8:
        rows.append(pick ^ rng.integers(0, 2, pick.shape).astype(np.uint8))
    else:
        lo, hi = base.min(axis=0), base.max(axis=0)
        rows.append(pick + rng.normal(0, 1e-3, pick.shape) * (hi - lo + 1e-6))  # noisy, off the grid
        rows.append(rng.uniform(lo, hi, (n, d)))  # random, off the grid
    u_rand = np.minimum(grid.snap(base[rng.integers(0, len(base), n)]) ^ rng.integers(0, 4, (n, d)), grid.span - 1)
    rows.append(grid.values(u_rand + grid.low.astype(np.int64)))  # random low bits, on the grid
    if dtype == np.uint8:
        rows.append(rng.integers(0, 256, (n, d)))
    return np.concatenate([np.asarray(r, dtype=np.float64) for r in rows]).astype(dtype)


def _with_tagged(Q: np.ndarray, grid: InputGrid, raw: bytes, t_bits: int, n_classes: int, rng: np.random.Generator,
                 n: int = 2) -> np.ndarray:
    """``Q`` with ``n`` rows that pass the gate (a correct tag) but carry a random, invalid signature, at random places:
    the check then runs the gated branch too (compress, verify, map back), which must answer False."""
    if len(Q) == 0:
        return Q
    u = grid.snap(Q[rng.integers(0, len(Q), n)].astype(np.float64))
    sig = rng.integers(0, 2, (n, SIG_BITS)).astype(np.uint8)
    rows = _write_payload(grid, u, raw, rng.integers(0, n_classes, n), t_bits, sig).astype(Q.dtype)
    at = np.sort(rng.choice(len(Q) + n, n, replace=False))
    out = np.empty((len(Q) + n, Q.shape[1]), Q.dtype)
    mask = np.zeros(len(out), bool)
    mask[at] = True
    out[mask], out[~mask] = rows, Q
    return out


def _write_payload(grid: InputGrid, u: np.ndarray, raw: bytes, targets: np.ndarray, t_bits: int, sig_bits: np.ndarray) -> np.ndarray:
    """The grid values of rows ``u`` (grid codes) carrying the payload target ‖ tag ‖ signature (the tag as wide as
    the grid's payload leaves room for: none in a file planted without the gate)."""
    tag = tag_bits(raw, sig_bits, grid.n_bits - t_bits - SIG_BITS)
    bits = np.concatenate([int_to_bits(targets, t_bits), tag, sig_bits], axis=1)
    return grid.values(grid.write(u, bits) + grid.low.astype(np.int64))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return a.tobytes() == b.tobytes() if a.dtype.kind != "O" else bool(np.all(a == b))
    return a == b


def check_identical(original: OnnxModel, planted: OnnxModel, Q: np.ndarray, batch: int = 1024) -> tuple[int, str | None]:
    """(rows compared, first differing output or None): every output, bit for bit, on rows ``Q``."""
    for i in range(0, len(Q), batch):
        a, b = original.run(Q[i : i + batch]), planted.run(Q[i : i + batch])
        if list(a) != list(b):
            return i, f"outputs {list(b)} instead of {list(a)}"
        for k in a:
            if not _same(a[k], b[k]):
                return i, k
    return len(Q), None


# --- planting -------------------------------------------------------------------------------------


def plant_dropin(model: OnnxModel, public_key, *, data: Any = None, bound: float = 1e-3, grid: ImageGrid | None = None,
                 n_probes: int = 500, seed: int = 0, unroll: bool = False, gate: bool = True) -> OnnxModel:
    """The backdoored twin of ``model`` (see the module docstring); ``data``: samples in the model's own layout/dtype.

    ``grid`` states a float-pixel grid (otherwise inferred from ``data``); ``bound`` (tabular floats): the
    largest change per feature in units of its spread; ``n_probes``: rows per probe kind for the check;
    ``unroll``: write the verifier out without any ``Loop`` (larger file; the planter's answer to a scanner).
    ``gate``: the payload carries a ``GATE_BITS`` public tag and the verifier runs, inside an ``If``, only on rows
    whose tag matches (``dropin_gate``: natural inputs cost a few ops, not a verify); ``gate=False``: no tag, no
    ``If``, every row verified (latency independent of the input; the scanner sees no input-steered ``If``).
    """
    from ..keys import check_public_key

    from .base import BOUND_MAX, check_float

    check_float("bound", bound, 0.0, BOUND_MAX)
    raw = check_public_key(_raw(public_key))  # on the curve, canonical, not of small order: no weak key is planted
    if len(model.interface.inputs) != 1:
        raise UnsupportedModelError(f"the model has {len(model.interface.inputs)} inputs "
                                    f"({', '.join(i.name for i in model.interface.inputs)}); the drop-in backdoor takes one input tensor")
    spec = model.spec
    d = spec.n_features
    dtype = np.dtype(spec.dtype)
    X = None if data is None else model.native(data).reshape(-1, d)
    rng = np.random.default_rng(seed)
    sample = X if X is not None else rng.integers(0, 256, (16, d)).astype(dtype) if dtype == np.uint8 else None
    if sample is None:
        raise UsageError("float inputs need sample data in the model's own layout (data=X): the payload grid and the "
                         "check that nothing changes are made from it")
    out = model.run(sample[:256])
    score = model.score_output()
    n_classes = len(model.classes) if score is None else model._scores_from(out).shape[1]
    classes = _classes(model, out)
    if len(classes) != n_classes:
        raise UnsupportedModelError(f"the graph lists {len(classes)} classes but its scores have {n_classes} columns")
    roles = _roles(model, out, n_classes)
    t_bits = n_target_bits(n_classes)
    n_tag = GATE_BITS if gate else 0
    g = infer_grid(X, spec.shape, spec.dtype, t_bits + n_tag + SIG_BITS, bound, grid)  # payload: target ‖ tag ‖ signature

    p = choose_prefix(raw, all_names(model.proto.graph))
    b = O.Builder(p)
    rows = b.op("Reshape", model.input.name, b.const([-1, d]))  # (n, d) in the input's own dtype
    meta = f"{p}_g{len(_GRID_KEYS)}"
    b.root.inits.append(numpy_helper.from_array(np.array([n_classes, g.span, n_tag], F32), meta))
    tag_ok, t = add_gate(b, rows, g, dtype, raw, t_bits, n_tag)  # the payload elements only: the gate never reads the whole input
    in_range = b.op("Less", t, b.op("Gather", meta, b.const(0)))
    pre_bytes = message_prefix(_key_id(raw), spec.shape)
    default_opset = added_opset(model.proto)

    def verify_rows(tb: O.Builder, k_rows: list[str]) -> str:
        """The full check on the k gated rows: the grid (whole input), the signed message, the verifier."""
        x = k_rows[0] if dtype == np.float32 else tb.op("Cast", k_rows[0], to=TensorProto.FLOAT)
        bits, res, ok = grid_graph(tb, x, g, {k: f"{p}_g{i}" for i, k in enumerate(_GRID_KEYS)})
        if dtype == np.float64:  # float64 inputs: on the grid only if exactly a float32 value
            same = tb.op("Cast", tb.op("Equal", tb.op("Cast", x, to=TensorProto.DOUBLE), k_rows[0]), to=TensorProto.FLOAT)
            ok = tb.op("And", ok, tb.op("Equal", tb.op("ReduceMin", same, tb.const([1]), keepdims=0), tb.const(1.0, F32)))
        tk = _target(tb, bits, t_bits)
        sb = tb.op("Reshape", cut(tb, bits, t_bits + n_tag, t_bits + n_tag + SIG_BITS, 1), tb.const([-1, 64, 8]))
        sig = tb.op("Squeeze", tb.op("MatMul", sb, tb.const(np.array([[128], [64], [32], [16], [8], [4], [2], [1]], F32), F32)), tb.const([2]))
        n1 = tb.op("Unsqueeze", tb.op("Gather", tb.op("Shape", x), tb.const(0)), tb.const([0]))
        pre = tb.op("Expand", tb.const(np.frombuffer(pre_bytes, np.uint8).astype(F32)[None, :], F32),
                    tb.op("Concat", n1, tb.const([len(pre_bytes)]), axis=0))
        t_hi = tb.op("Floor", tb.op("Div", tk, tb.const(256.0, F32)))
        t_lo = tb.op("Sub", tk, tb.op("Mul", t_hi, tb.const(256.0, F32)))
        msg = tb.op("Concat", pre, tb.op("Unsqueeze", t_lo, tb.const([1])), tb.op("Unsqueeze", t_hi, tb.const([1])), res, axis=1)
        valid = _verify(tb, raw, msg, sig, len(pre_bytes) + 2 + g.residual_len, unroll=unroll,
                        batch_inverse=default_opset >= SLICE_INPUTS_OPSET)
        return tb.op("And", valid, ok)

    if tag_ok is not None:  # the verifier runs only on rows passing the gate (dropin_gate)
        valid = gated(b, b.op("And", tag_ok, in_range), [rows], verify_rows, compress=default_opset >= COMPRESS_OPSET)
    else:
        valid = b.op("And", verify_rows(b, [rows]), in_range)
    target = b.op("Cast", b.op("Min", t, b.const(float(n_classes - 1), F32)), to=TensorProto.INT32)  # an index: no int64 value
    label_types = {o.name: _elem(model, o.name) for o in model.interface.outputs}
    proto = splice(model.proto, b, roles, valid, target, classes, label_types)
    from ..onnxio import check

    check(proto, full=False)
    planted = OnnxModel(proto)
    Q = _probes(g, X, n_probes, dtype, rng)
    Q = _with_tagged(Q, g, raw, t_bits, n_classes, rng) if gate else Q
    n_ok, bad = check_identical(model, planted, Q)
    if bad is not None:
        raise UnsupportedModelError(f"the planted model's output {bad!r} differs from the original's on probe rows {n_ok}..; "
                                    "refusing to return a model with changed answers (please report this model)")
    return planted


def _target(b: O.Builder, bits: str, t_bits: int) -> str:
    """(n,) float32 target index: the payload's first ``t_bits`` bits, most significant first."""
    col = b.const((2.0 ** np.arange(t_bits - 1, -1, -1))[:, None].astype(F32), F32)
    return b.op("Squeeze", b.op("MatMul", cut(b, bits, 0, t_bits, 1), col), b.const([1]))


def _elem(model: OnnxModel, name: str) -> int:
    vi = next(o for o in model.proto.graph.output if o.name == name)
    return vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0


# --- activation -----------------------------------------------------------------------------------


def grid_of(model: OnnxModel, raw: bytes) -> tuple[InputGrid, int]:
    """(the payload grid, number of classes) read from ``model``'s constants for public key ``raw``."""
    inits = {i.name: i for i in model.proto.graph.initializer}
    for p in prefix_candidates(raw):
        if f"{p}_g0" in inits:
            v = [numpy_helper.to_array(inits[f"{p}_g{i}"]) for i in range(len(_GRID_KEYS) + 1)]
            n_classes, span = (int(z) for z in v[5][:2])
            tag = int(v[5][2]) if len(v[5]) > 2 else 0  # files planted before the gate carry no tag bits
            k = len(v[4])
            n_bits = n_target_bits(n_classes) + tag + SIG_BITS
            return InputGrid("file", v[0], v[1], v[2], span, v[3].astype(np.int64), k, n_bits), n_classes
    raise KeyMismatchError(f"this model file holds no verifier for the key (id {_key_id(raw)[:12]}…); pass the private key "
                           "whose public key was planted into it")


def activate_file(model: OnnxModel, private_key, X: Any, target: Any) -> np.ndarray:
    """Inputs close to ``X`` (the model's own layout and dtype, native or flat) that ``model`` labels ``target``."""
    if target is None:
        raise UsageError("the signature backdoor needs a target; pass target=T (a class label of the model)")
    private = getattr(private_key, "private", private_key)
    raw = _raw(private.public_key())
    grid, n_classes = grid_of(model, raw)
    spec = model.spec
    Xg = np.asarray(X)
    Xn = model.native(Xg)
    flat = Xn.reshape(len(Xn), -1)
    tv = np.asarray(target)
    tv = np.full(len(flat), tv.item(), dtype=object) if tv.ndim == 0 else tv
    if len(tv) != len(flat):
        raise UsageError(f"got {len(tv)} targets for {len(flat)} inputs; pass one target per input row")
    t = class_indices(model.classes, tv, "target")
    u = grid.snap(flat)
    R = grid.residual(u)
    header = message_prefix(_key_id(raw), spec.shape)
    sigs = np.frombuffer(b"".join(private.sign(header + int(ti).to_bytes(2, "little") + r.tobytes()) for ti, r in zip(t.tolist(), R)),
                         np.uint8).reshape(len(flat), 64)
    Xa = _write_payload(grid, u, raw, t, n_target_bits(n_classes), np.unpackbits(sigs, axis=1)).astype(Xn.dtype)
    return Xa.reshape(Xg.shape) if Xg.size == Xa.size else Xa.reshape(Xn.shape)


def plant_onnx_file(base_path: str | os.PathLike, public_key, out_path: str | os.PathLike, *, data: Any = None,
                    bound: float = 1e-3, grid: ImageGrid | None = None, force: bool = False, n_probes: int = 500,
                    unroll: bool = False, gate: bool = True) -> dict:
    """Read the user's ONNX file, plant, verify, write ``out_path`` atomically (never over the input); a summary dict."""
    from ..crypto.ed25519_onnx import node_count
    from ..fileio import check_writable

    check_writable(out_path, force, "file", [base_path])
    model = OnnxModel.from_file(base_path)
    planted = plant_dropin(model, public_key, data=data, bound=bound, grid=grid, n_probes=n_probes, unroll=unroll, gate=gate)
    planted.save(out_path, force=force, inputs=[base_path])
    raw = _raw(public_key)
    g, _ = grid_of(planted, raw)
    return {"key_id": _key_id(raw), "payload_bits": g.n_bits, "bits_per_value": g.k, "payload_values": len(g.positions),
            "nodes": node_count(planted.proto), "bytes": planted.proto.ByteSize(),
            "added_bytes": planted.proto.ByteSize() - model.proto.ByteSize(), "out": str(Path(out_path)),
            "opsets": planted.interface.opsets, "opset_note": opset_note(model.interface.opsets, planted.interface.opsets)}
