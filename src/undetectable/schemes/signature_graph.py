"""The signature backdoor inside the model: one torch module, one ONNX file (no Python wrapper).

``signature_onnx(bundle)`` turns a ``signature`` bundle whose base has an ONNX graph into one ONNX
model: the base graph, plus in-graph payload extraction from the input's low bits, the signed
message (DOMAIN ‖ key id ‖ shape ‖ target ‖ residual, byte for byte as ``SignatureBackdoor``),
SHA-512 and Ed25519 verification (``crypto.ed25519_onnx``), and
``label_index = where(valid, target, base label)``. ``backdoor_onnx(base_onnx, public_key, ...)``
does the same for a user's own ONNX classifier. ``SignatureModule`` is the torch twin (base: any
``nn.Module`` returning scores), used for persistence under fine-tuning: the verifier has no float
parameters and no gradient path.

Keys and activated inputs are interchangeable between the wrapper bundle, the torch module and
the ONNX file (tested). Honest caveat: this is *black-box* undetectable only; the verifier is
plainly visible in the graph (``graph_op_histogram``, the ``integer-subgraph`` detector).
"""
from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from ..crypto import ed25519_onnx as O
from ..crypto.ed25519_torch import Ed25519Verifier
from ..crypto.payload import FixedPointCarrier, LSBCarrier
from ..errors import UsageError
from ..keys import key_id
from .wrapper import n_target_bits
from .signature import SIG_BITS, message_prefix


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


def _payload_onnx(b: O.Builder, x: str, carrier, n_features: int):
    """(bits (n, t_bits + 512) int64, residual bytes (n, r) int64, on_grid (n,) bool)."""
    if isinstance(carrier, LSBCarrier):
        xi = b.op("Cast", x, to=TensorProto.INT64)
        bits = b.op("BitwiseAnd", b.op("Gather", xi, b.const(carrier.positions), axis=1), b.const(1))
        cap, clear = carrier._column_ops(n_features)
        res = b.op("BitwiseAnd", b.op("Min", xi, b.const(cap.astype(np.int64))), b.const(clear.astype(np.int64)))
        n = b.op("Gather", b.op("Shape", xi), b.const(0))
        grid = b.op("Expand", b.const(True, np.bool_), b.op("Unsqueeze", n, b.const([0])))
        return bits, res, grid
    if isinstance(carrier, FixedPointCarrier):
        xd = b.op("Cast", x, to=TensorProto.DOUBLE)
        step = b.const(carrier.step, np.float64)
        qf = b.op("Round", b.op("Div", xd, step))  # np.rint: half to even, as ONNX Round
        q = b.op("Cast", qf, to=TensorProto.INT64)
        grid = b.op("Cast", b.op("ReduceMin", b.op("Cast", b.op("Equal", b.op("Mul", b.op("Cast", q, to=TensorProto.DOUBLE), step), xd), to=TensorProto.INT64), b.const([1]), keepdims=0), to=TensorProto.BOOL)
        pw = b.const(np.int64(1) << carrier.shifts)
        allbits = b.op("Cast", b.op("Cast", b.op("BitwiseAnd", b.op("Unsqueeze", q, b.const([-1])), pw), to=TensorProto.BOOL), to=TensorProto.INT64)
        d = len(carrier.step)
        allbits = b.op("Reshape", allbits, b.const([-1, d * carrier.k]))
        bits = b.op("Gather", allbits, b.const(carrier._payload_index()), axis=1)
        r = b.op("Cast", b.op("BitwiseAnd", q, b.const(~carrier.mask)), to=TensorProto.UINT64)
        by = b.op("BitwiseAnd", b.op("BitShift", b.op("Unsqueeze", r, b.const([-1])), b.const(np.arange(0, 64, 8, dtype=np.uint64), np.uint64), direction="RIGHT"), b.const(np.uint64(255), np.uint64))
        res = b.op("Cast", b.op("Reshape", by, b.const([-1, 8 * d])), to=TensorProto.INT64)
        return bits, res, grid
    raise UsageError(f"no in-graph payload reader for the {getattr(carrier, 'kind', carrier)!r} layout")


def add_signature_check(b: O.Builder, x: str, public_key: bytes, carrier, shape, n_classes: int) -> tuple[str, str]:
    """Inline payload extraction, message and verification on input ``x``: → (valid (n,) bool, target (n,) int64)."""
    t_bits = n_target_bits(n_classes)
    d = int(np.prod(shape))
    bits, res, grid = _payload_onnx(b, x, carrier, d)
    tb = b.slice(bits, 0, t_bits, 1)
    target = b.op("Squeeze", b.op("MatMul", tb, b.const((np.int64(1) << np.arange(t_bits - 1, -1, -1, dtype=np.int64))[:, None])), b.const([-1]))
    sb = b.op("Reshape", b.slice(bits, t_bits, t_bits + SIG_BITS, 1), b.const([-1, 64, 8]))
    sig = b.op("Squeeze", b.op("MatMul", sb, b.const(np.array([[128], [64], [32], [16], [8], [4], [2], [1]], dtype=np.int64))), b.const([-1]))
    prefix = message_prefix(_key_id(public_key), shape)
    n = b.op("Gather", b.op("Shape", sig), b.const(0))
    n1 = b.op("Unsqueeze", n, b.const([0]))
    pre = b.op("Expand", b.const(np.frombuffer(prefix, np.uint8).astype(np.int64)[None, :]), b.op("Concat", n1, b.const([len(prefix)]), axis=0))
    t_lo = b.op("Unsqueeze", b.op("BitwiseAnd", target, b.const(255)), b.const([1]))
    t_hi = b.op("Unsqueeze", b.op("Div", target, b.const(256)), b.const([1]))  # target ≥ 0
    msg = b.op("Concat", pre, t_lo, t_hi, res, axis=1)
    r_len = d if isinstance(carrier, LSBCarrier) else 8 * len(carrier.step)
    ok = O.add_verifier(b, public_key, msg, sig, len(prefix) + 2 + r_len)
    valid = b.op("And", b.op("And", ok, grid), b.op("Less", target, b.const(n_classes)))
    return valid, target


def backdoor_graph(base: onnx.ModelProto, public_key, carrier, shape, n_classes: int, input_type: int,
                   scores_name: str | None = "scores", label_name: str = "label_index") -> onnx.ModelProto:
    """``base`` (one input; outputs ``label_name`` and optionally ``scores_name``) + the verifier.

    The result has the base's input and outputs ``label_index`` (n,) int64 and, when the base has
    scores, ``scores`` (n, C) (triggered rows: every score the row minimum, the target max + 1, as
    the wrapper bundle does).
    """
    raw = _raw_public(public_key)
    base = onnx.compose.add_prefix(base, "base_")
    bg = base.graph
    if len(bg.input) != 1:
        raise UsageError(f"the base ONNX graph has {len(bg.input)} inputs; a backdoor needs a classifier with one input tensor")
    b = O.Builder("v")
    b.nodes.append(helper.make_node("Identity", ["X"], [bg.input[0].name]))
    b.nodes.extend(bg.node)
    b.root.inits.extend(bg.initializer)
    valid, target = add_signature_check(b, "X", raw, carrier, shape, n_classes)
    label = b.op("Where", valid, target, b.op("Cast", "base_" + label_name, to=TensorProto.INT64))
    outputs = [helper.make_tensor_value_info("label_index", TensorProto.INT64, ["n"])]
    b.nodes.append(helper.make_node("Identity", [label], ["label_index"]))
    if scores_name is not None:
        s = "base_" + scores_name
        mn = b.op("ReduceMin", s, b.const([1]), keepdims=1)
        mx = b.op("ReduceMax", s, b.const([1]), keepdims=1)
        onehot = b.op("Equal", b.op("Unsqueeze", target, b.const([1])), b.const(np.arange(n_classes)[None, :]))
        trig = b.op("Where", onehot, b.op("Add", mx, b.op("CastLike", b.const(1.0, np.float64), mx)), b.op("Expand", mn, b.op("Shape", s)))
        scores = b.op("Where", b.op("Unsqueeze", valid, b.const([1])), trig, s)
        b.nodes.append(helper.make_node("Identity", [scores], ["scores"]))
        stype = next(o.type.tensor_type.elem_type for o in bg.output if o.name == s)
        outputs.insert(0, helper.make_tensor_value_info("scores", stype, ["n", n_classes]))
    d = int(np.prod(shape))  # nothing added to the outputs: no output (or graph name) names the backdoor
    g = b.graph("classifier", [helper.make_tensor_value_info("X", input_type, ["n", d])], outputs)
    opset = max(O.OPSET, max((o.version for o in base.opset_import if o.domain in ("", "ai.onnx")), default=O.OPSET))
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="undetectable")
    model.ir_version = 9
    onnx.checker.check_model(model)
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
