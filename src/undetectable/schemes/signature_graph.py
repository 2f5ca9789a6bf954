"""The signature backdoor inside the model: one torch module, one ONNX file (no Python wrapper).

``signature_onnx(bundle)`` turns a ``signature`` bundle whose base has an ONNX graph into one ONNX
model: the base graph, plus in-graph payload extraction from the input's values, the signed message
(DOMAIN ‖ key id ‖ shape ‖ target ‖ residual, byte for byte as ``SignatureBackdoor``), and the portable
Ed25519 verifier (``crypto.arith_verifier``: float32 byte tensors, no bitwise op, no int64 arithmetic),
``label_index = where(valid, target, base label)``. ``backdoor_graph`` does the same for any base graph
with an ``X`` input and ``scores``/``label_index`` outputs. ``SignatureModule`` is the torch twin (base:
any ``nn.Module`` returning scores), used for persistence under fine-tuning: the verifier has no float
parameters and no gradient path.

Payload extraction is arithmetic too: a uint8 input is cast to float32 (exact) and its bits are
``x − 2·floor(x/2)``; a fixed-point float64 input is read in float64 (``q = round(x/step)``, its bits and
the residual's eight little-endian two's-complement bytes by ``Floor``/``Mul``/``Sub``, exact for
|q| < 2^53). So a uint8 bundle's file gives the same answers in onnxruntime, ``onnx.reference`` and
OpenVINO's CPU plugin. Honest caveat: a fixed-point (tabular float64) bundle signs every bit of its
float64 input, and OpenVINO's CPU plugin runs float64 as float32, so there it never fires (its clean
answers are the base graph's, in float32).

Keys and activated inputs are interchangeable between the wrapper bundle, the torch module and
the ONNX file (tested). Honest caveat: this is *black-box* undetectable only; the verifier is
plainly visible in the graph (thousands of ``Floor`` carry chains, point tables; ``audit.scan`` flags it).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from ..crypto.arith_ops import Builder, cut, fconst, floor_shift, take
from ..crypto.ed25519_torch import Ed25519Verifier
from ..crypto.payload import FixedPointCarrier, LSBCarrier
from ..errors import UsageError
from ..keys import key_id
from ..onnxio import OPSET, assemble, check, opsets
from .signature import SIG_BITS, message_prefix
from .wrapper import n_target_bits

#: ``check(b, x, raw_public_key, carrier, shape, n_classes) -> (valid (n,) bool, target (n,) float32)``
SignatureCheck = Callable[[Builder, str, bytes, Any, tuple, int], tuple[str, str]]


def _raw_public(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if isinstance(public_key, (bytes, bytearray)):
        return bytes(public_key)
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key_id(raw: bytes) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return key_id(Ed25519PublicKey.from_public_bytes(raw))


# ------------------------------------------------------------------------------------------------
# ONNX
# ------------------------------------------------------------------------------------------------


def _dconst(b: Builder, value) -> str:
    return b.const(np.asarray(value, dtype=np.float64), np.float64)


def _payload_onnx(b: Builder, x: str, carrier, n_features: int) -> tuple[str, str, str | None]:
    """(payload bits (n, n_bits) float32, residual bytes (n, r) float32, on_grid (n,) bool or None: always)."""
    if isinstance(carrier, LSBCarrier):
        xf = b.op("Cast", x, to=TensorProto.FLOAT)  # uint8 → float32: exact
        px = take(b, xf, carrier.positions.tolist(), 1)
        bits = b.op("Sub", px, b.op("Mul", floor_shift(b, px, 1), fconst(b, 2.0)))
        cap, _ = carrier._column_ops(n_features)
        m = b.op("Min", xf, fconst(b, cap.astype(np.float32)[None, :]))
        lsb = b.op("Sub", m, b.op("Mul", floor_shift(b, m, 1), fconst(b, 2.0)))
        on_payload = np.zeros((1, n_features), np.float32)
        on_payload[0, carrier.positions] = 1.0
        res = b.op("Sub", m, b.op("Mul", lsb, fconst(b, on_payload)))  # payload pixels: clamped, LSB cleared
        return bits, res, None
    if isinstance(carrier, FixedPointCarrier):
        xd = b.op("Cast", x, to=TensorProto.DOUBLE)  # the input is float64 already: an Identity in effect
        step = _dconst(b, carrier.step[None, :])
        q = b.op("Round", b.op("Div", xd, step))  # np.rint: half to even, as ONNX Round
        same = b.op("Cast", b.op("Equal", b.op("Mul", q, step), xd), to=TensorProto.FLOAT)
        grid = b.op("Equal", b.op("ReduceMin", same, b.const([1]), keepdims=0), fconst(b, 1.0))
        k, d = carrier.k, len(carrier.step)
        # floor(q / 2^j), j = 0..k: bit j = F_j − 2·F_{j+1} (two's complement, exact for |q| < 2^53)
        F = b.op("Floor", b.op("Mul", b.op("Unsqueeze", q, b.const([-1])), _dconst(b, 2.0 ** -np.arange(k + 1))))
        allbits = b.op("Sub", cut(b, F, 0, k, 2), b.op("Mul", cut(b, F, 1, k + 1, 2), _dconst(b, 2.0)))
        allbits = b.op("Reshape", allbits, b.const([-1, d * k]))
        bits = b.op("Cast", take(b, allbits, carrier._payload_index().tolist(), 1), to=TensorProto.FLOAT)
        used = np.clip(carrier.n_bits - np.arange(d) * k, 0, k).astype(np.float64)
        r = b.op("Mul", b.op("Floor", b.op("Mul", q, _dconst(b, (2.0 ** -used)[None, :]))), _dconst(b, (2.0 ** used)[None, :]))
        # the eight little-endian bytes of r as an int64: floor(r / 256^i) mod 256 (two's complement for r < 0)
        R = b.op("Floor", b.op("Mul", b.op("Unsqueeze", r, b.const([-1])), _dconst(b, 256.0 ** -np.arange(9))))
        by = b.op("Sub", cut(b, R, 0, 8, 2), b.op("Mul", cut(b, R, 1, 9, 2), _dconst(b, 256.0)))
        res = b.op("Cast", b.op("Reshape", by, b.const([-1, 8 * d])), to=TensorProto.FLOAT)
        return bits, res, grid
    raise UsageError(f"no in-graph payload reader for the {getattr(carrier, 'kind', carrier)!r} layout")


def add_signature_check(b: Builder, x: str, public_key: bytes, carrier, shape, n_classes: int, *,
                        unroll: bool = False) -> tuple[str, str]:
    """Inline payload extraction, message and verification on input ``x``: → (valid (n,) bool, target (n,) float32).

    The verifier is ``crypto.arith_verifier.add_verifier`` (float32 bytes; ``unroll``: no ``Loop`` at all).
    """
    from ..crypto.arith_verifier import add_verifier

    t_bits = n_target_bits(n_classes)
    d = int(np.prod(shape))
    bits, res, grid = _payload_onnx(b, x, carrier, d)
    col = fconst(b, (2.0 ** np.arange(t_bits - 1, -1, -1))[:, None])
    target = b.op("Squeeze", b.op("MatMul", cut(b, bits, 0, t_bits, 1), col), b.const([1]))
    sb = b.op("Reshape", cut(b, bits, t_bits, t_bits + SIG_BITS, 1), b.const([-1, 64, 8]))
    sig = b.op("Squeeze", b.op("MatMul", sb, fconst(b, [[128.0], [64.0], [32.0], [16.0], [8.0], [4.0], [2.0], [1.0]])), b.const([2]))
    prefix = message_prefix(_key_id(public_key), shape)
    zero = b.op("Mul", cut(b, sig, 0, 1, 1), fconst(b, 0.0))  # (n, 1): broadcasts the prefix to the batch
    pre = b.op("Add", zero, fconst(b, np.frombuffer(prefix, np.uint8).astype(np.float32)[None, :]))
    t_hi = floor_shift(b, target, 8)
    t_lo = b.op("Sub", target, b.op("Mul", t_hi, fconst(b, 256.0)))
    msg = b.op("Concat", pre, b.op("Unsqueeze", t_lo, b.const([1])), b.op("Unsqueeze", t_hi, b.const([1])), res, axis=1)
    r_len = d if isinstance(carrier, LSBCarrier) else 8 * len(carrier.step)
    ok = add_verifier(b, public_key, msg, sig, len(prefix) + 2 + r_len, unroll=unroll)
    valid = b.op("And", ok, b.op("Less", target, fconst(b, float(n_classes))))
    if grid is not None:
        valid = b.op("And", valid, grid)
    return valid, target


def backdoor_graph(base: onnx.ModelProto, public_key, carrier, shape, n_classes: int, input_type: int,
                   scores_name: str | None = "scores", label_name: str = "label_index", *,
                   check_fn: SignatureCheck | None = None, unroll: bool = False) -> onnx.ModelProto:
    """``base`` (one input; outputs ``label_name`` and optionally ``scores_name``) + the verifier.

    The result has the base's input and outputs ``label_index`` (n,) int64 and, when the base has
    scores, ``scores`` (n, C) (triggered rows: every score the row minimum, the target max + 1, as
    the wrapper bundle does); nothing else (no output, and no name, says "backdoor"). ``check_fn``:
    the payload reader and verifier (default ``add_signature_check``, the portable float32 one, with
    ``unroll``); it returns (valid (n,) bool, target (n,) float32).
    """
    raw = _raw_public(public_key)
    base = onnx.compose.add_prefix(base, "base_")
    bg = base.graph
    if len(bg.input) != 1:
        raise UsageError(f"the base ONNX graph has {len(bg.input)} inputs; a backdoor needs a classifier with one input tensor")
    b = Builder("v")
    b.nodes.append(helper.make_node("Identity", ["X"], [bg.input[0].name]))
    b.nodes.extend(bg.node)
    b.root.inits.extend(bg.initializer)
    if check_fn is None:
        valid, target = add_signature_check(b, "X", raw, carrier, shape, n_classes, unroll=unroll)
    else:
        valid, target = check_fn(b, "X", raw, carrier, shape, n_classes)
    # the target as a label: a Gather from the class indices (an int32 index; no int64 arithmetic). Rows that are not
    # valid (NaN, ±inf or huge inputs make any target value) gather index 0, so no input can index out of range.
    t_safe = b.op("Where", valid, target, fconst(b, 0.0))
    t_index = b.op("Cast", b.op("Min", b.op("Max", t_safe, fconst(b, 0.0)), fconst(b, float(n_classes - 1))), to=TensorProto.INT32)
    t_label = b.op("Gather", b.const(np.arange(n_classes, dtype=np.int64)), t_index, axis=0)
    label = b.op("Where", valid, t_label, b.op("Cast", "base_" + label_name, to=TensorProto.INT64))
    outputs = [helper.make_tensor_value_info("label_index", TensorProto.INT64, ["n"])]
    b.nodes.append(helper.make_node("Identity", [label], ["label_index"]))
    if scores_name is not None:
        s = "base_" + scores_name
        mn = b.op("ReduceMin", s, b.const([1]), keepdims=1)
        mx = b.op("ReduceMax", s, b.const([1]), keepdims=1)
        onehot = b.op("Equal", b.op("Unsqueeze", target, b.const([1])), fconst(b, np.arange(n_classes, dtype=np.float32)[None, :]))
        trig = b.op("Where", onehot, b.op("Add", mx, b.op("CastLike", b.const(1.0, np.float64), mx)), b.op("Expand", mn, b.op("Shape", s)))
        scores = b.op("Where", b.op("Unsqueeze", valid, b.const([1])), trig, s)
        b.nodes.append(helper.make_node("Identity", [scores], ["scores"]))
        stype = next(o.type.tensor_type.elem_type for o in bg.output if o.name == s)
        outputs.insert(0, helper.make_tensor_value_info("scores", stype, ["n", n_classes]))
    d = int(np.prod(shape))  # nothing added to the outputs: no output (or graph name) names the backdoor
    g = b.graph("classifier", [helper.make_tensor_value_info("X", input_type, ["n", d])], outputs)
    model = assemble(g, {"": max(OPSET, opsets(base).get("", OPSET))}, producer="undetectable")
    check(model, full=False)
    return model


# --- base graphs for the bundle families ----------------------------------------------------------


def base_onnx(model) -> onnx.ModelProto:
    """An ONNX graph for a base bundle: input ``X`` (n, D), outputs ``scores`` and ``label_index``: the
    base family's own ``to_onnx`` (rff, relu, logistic regression, torch MLP), so that the honest bundle's
    export and the base graph inside the signature export are the same graph (an auditor can diff them)."""
    if hasattr(model, "to_onnx") and getattr(model, "family", None) != "signature":
        return model.to_onnx()
    raise UsageError(f"{model.family} bundles have no ONNX graph; plant into a logreg, mlp, rff or relu bundle to export")


def signature_onnx(bundle) -> onnx.ModelProto:
    """One ONNX file for a ``signature`` bundle: its base graph plus the in-graph verifier.

    Examples
    --------
    >>> # model = signature_onnx(load_bundle("sig-bundle")); onnx.save(model, "backdoored.onnx")
    """
    if getattr(bundle, "family", None) != "signature":
        raise UsageError(f"expected a signature bundle, got {getattr(bundle, 'family', type(bundle).__name__)}")
    carrier = bundle.carrier
    in_type = TensorProto.UINT8 if bundle.spec.is_image else TensorProto.DOUBLE
    return backdoor_graph(base_onnx(bundle.base), bundle.public_key, carrier, bundle.spec.shape, bundle.n_classes, in_type)


# ------------------------------------------------------------------------------------------------
# torch
# ------------------------------------------------------------------------------------------------


class SignatureModule(torch.nn.Module):
    """h̃(x) in torch: ``forward(X) -> scores`` with triggered rows replaced by a constant one-hot.

    ``base`` maps the input tensor (as given: uint8 or float64) to scores (n, C). Triggered rows get
    scores ``TRIGGER_SCALE·onehot(target)``, a constant: no gradient reaches the base from them, and
    the verifier has no parameters, so fine-tuning cannot remove the backdoor. ``predict(X)`` is the
    argmax, equal to the wrapper bundle's label.
    """

    TRIGGER_SCALE = 1e4
    # buffers (registered in __init__; declared here for the type checker)
    prefix: torch.Tensor
    positions: torch.Tensor
    cap: torch.Tensor
    clear: torch.Tensor
    step: torch.Tensor
    pw: torch.Tensor
    pidx: torch.Tensor
    notmask: torch.Tensor
    byteshift: torch.Tensor
    tw: torch.Tensor
    bw: torch.Tensor

    def __init__(self, base: torch.nn.Module, public_key, carrier, shape, n_classes: int, n_features: int) -> None:
        super().__init__()
        self.base = base
        raw = _raw_public(public_key)
        self.verifier = Ed25519Verifier(raw)
        self.carrier = carrier
        self.n_classes = int(n_classes)
        self.t_bits = n_target_bits(n_classes)
        prefix = message_prefix(_key_id(raw), shape)
        self.register_buffer("prefix", torch.tensor(list(prefix), dtype=torch.int64), persistent=False)
        if isinstance(carrier, LSBCarrier):
            cap, clear = carrier._column_ops(n_features)
            self.register_buffer("positions", torch.tensor(carrier.positions), persistent=False)
            self.register_buffer("cap", torch.tensor(cap.astype(np.int64)), persistent=False)
            self.register_buffer("clear", torch.tensor(clear.astype(np.int64)), persistent=False)
        else:
            self.register_buffer("step", torch.tensor(carrier.step), persistent=False)
            self.register_buffer("pw", torch.tensor(np.int64(1) << carrier.shifts), persistent=False)
            self.register_buffer("pidx", torch.tensor(carrier._payload_index()), persistent=False)
            self.register_buffer("notmask", torch.tensor(~carrier.mask), persistent=False)
            self.register_buffer("byteshift", torch.arange(0, 64, 8, dtype=torch.int64), persistent=False)
        self.register_buffer("tw", torch.tensor((np.int64(1) << np.arange(self.t_bits - 1, -1, -1)).astype(np.int64)), persistent=False)
        self.register_buffer("bw", torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.int64), persistent=False)

    def triggered(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(valid (n,) bool, target (n,) int64), no gradient."""
        with torch.no_grad():
            n = X.shape[0]
            if isinstance(self.carrier, LSBCarrier):
                xi = X.to(torch.int64)
                bits = xi[:, self.positions] & 1
                res = torch.minimum(xi, self.cap) & self.clear
                grid = torch.ones(n, dtype=torch.bool, device=X.device)
            else:
                xd = X.to(torch.float64)
                q = torch.round(xd / self.step).to(torch.int64)  # round half to even = np.rint
                grid = (q.to(torch.float64) * self.step == xd).all(1)
                allbits = ((q.unsqueeze(-1) & self.pw) != 0).to(torch.int64).reshape(n, -1)
                bits = allbits[:, self.pidx]
                r = q & self.notmask
                res = ((r.unsqueeze(-1) >> self.byteshift) & 255).reshape(n, -1)
            target = (bits[:, : self.t_bits] * self.tw).sum(1)
            sig = (bits[:, self.t_bits : self.t_bits + SIG_BITS].reshape(n, 64, 8) * self.bw).sum(-1)
            msg = torch.cat([self.prefix.expand(n, -1), (target & 255).unsqueeze(1), (target >> 8).unsqueeze(1), res], 1)
            ok = self.verifier(msg, sig)
            return ok & grid & (target < self.n_classes), target

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        scores = self.base(X)
        valid, target = self.triggered(X)
        onehot = torch.nn.functional.one_hot(target.clamp(0, self.n_classes - 1), self.n_classes).to(scores.dtype) * self.TRIGGER_SCALE
        return torch.where(valid.unsqueeze(1), onehot, scores)

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.forward(X).argmax(1)


class MLPBase(torch.nn.Module):
    """The ``torch-mlp`` bundle's scores as a module of the raw input (scale, standardise, net)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mlp_model) -> None:
        super().__init__()
        self.net = mlp_model.net
        self.register_buffer("mean", torch.tensor(mlp_model.mean), persistent=False)
        self.register_buffer("std", torch.tensor(mlp_model.std), persistent=False)
        self.scale = float(np.float32(mlp_model.scale))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        Z = (X.to(torch.float32) * self.scale - self.mean) / self.std
        return self.net(Z)


def signature_module(bundle) -> SignatureModule:
    """The torch twin of a ``signature`` bundle whose base is the torch MLP (or pass ``base=`` yourself)."""
    if bundle.base.family != "torch-mlp":
        raise UsageError(f"signature_module needs a torch-mlp base, got {bundle.base.family}; use SignatureModule(base=...)")
    return SignatureModule(MLPBase(bundle.base), bundle.public_key, bundle.carrier, bundle.spec.shape, bundle.n_classes, bundle.spec.n_features)
