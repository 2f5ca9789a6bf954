"""Bring your own model: plant the signature backdoor into a user's ONNX classifier.

``backdoor_onnx(model, public_key, spec, input_scale=...)`` takes any ONNX classifier with one input
tensor whose first output is the class scores (n, C), and returns ``(backdoored ONNX model,
wrapper)``: the ONNX file is the user's graph plus the in-graph verifier (``signature_graph.backdoor_graph`` with
the old int64/bitwise ``crypto.ed25519_onnx`` verifier, ``int64_signature_check``: this demo's measurements
and the scan corpus's ``signature`` kind describe that one; the drop-in route, ``schemes.dropin``, is the
portable one), and
``wrapper`` is the equivalent Python ``SignatureBackdoor`` around the user's graph (run in
onnxruntime) whose ``activate(X, private_key, targets)`` makes activated inputs for either.

The graph does not say what its input *means*, so the user states it as an ``InputSpec``: uint8
images (``InputSpec((784,), "uint8", 0, 255)``; the payload rides in pixel LSBs) or float features
with their training standard deviations (a fixed-point grid, as for bundles). The backdoored file
takes that input as (n, d) and feeds the user's graph ``Cast(X)·input_scale`` reshaped to the
graph's own input shape (e.g. (n, 1, 28, 28) float32 in [0, 1]).

``cnn_demo`` trains a small CNN on mnist5k with torch, writes it as ONNX, backdoors it and checks
clean accuracy, activation for every target and agreement on ≥ 10^5 natural/noisy/random inputs.
"""
from __future__ import annotations

import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..bundle import Model
from ..crypto import ed25519_onnx as O
from ..crypto.payload import FixedPointCarrier, LSBCarrier
from ..errors import ParameterError, UsageError
from ..export import onnx_session
from ..onnxio import assemble, check
from ..spec import InputSpec
from .signature import SIG_BITS, _plant_signature, message_prefix
from .signature_graph import _key_id, backdoor_graph
from .wrapper import n_target_bits

_NP_OF = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.UINT8: np.uint8}


# --- the old int64 verifier (this demo's files only) -------------------------------------------------


def _int64_payload(b: O.Builder, x: str, carrier, n_features: int):
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


def int64_signature_check(b: O.Builder, x: str, public_key: bytes, carrier, shape, n_classes: int) -> tuple[str, str]:
    """The old integer verifier (``crypto.ed25519_onnx``: int64 words, bitwise ops, ``Loop``s) on input ``x``:
    → (valid (n,) bool, target (n,) float32). Kept for this demo's files (and the scan corpus's ``signature``
    kind built from them), whose measurements describe that verifier; ``signature_graph`` uses the portable one.
    """
    t_bits = n_target_bits(n_classes)
    d = int(np.prod(shape))
    bits, res, grid = _int64_payload(b, x, carrier, d)
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
    return valid, b.op("Cast", target, to=TensorProto.FLOAT)


def adapt_onnx(model: onnx.ModelProto, spec: InputSpec, input_scale: float = 1.0) -> onnx.ModelProto:
    """The user's graph behind an ``X`` (n, d) input of ``spec``'s dtype; outputs ``scores`` and ``label_index``."""
    from onnx import version_converter

    if len(model.graph.input) - len({i.name for i in model.graph.initializer} & {i.name for i in model.graph.input}) != 1:
        raise UsageError("the ONNX classifier must have exactly one input tensor (image or feature vector)")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=18)
    if opset < 18:
        model = version_converter.convert_version(model, 18)
    g = model.graph
    inp = g.input[0]
    et = inp.type.tensor_type.elem_type
    dims = [d.dim_value if d.dim_value > 0 else -1 for d in inp.type.tensor_type.shape.dim]
    shape = [-1] + dims[1:]
    if int(np.prod([d for d in dims[1:]])) != spec.n_features:
        raise UsageError(f"the graph's input {inp.name} has shape {dims}, which does not hold the {spec.n_features} features of the stated input")
    scores = g.output[0].name
    in_type = TensorProto.UINT8 if spec.is_image else TensorProto.DOUBLE
    pre = [helper.make_node("Cast", ["X"], ["_byo_xc"], to=et),
           helper.make_node("Mul", ["_byo_xc", "_byo_scale"], ["_byo_xs"]),
           helper.make_node("Reshape", ["_byo_xs", "_byo_shape"], [inp.name])]
    inits = [numpy_helper.from_array(np.array(input_scale, dtype=_NP_OF.get(et, np.float32)), "_byo_scale"),
             numpy_helper.from_array(np.array(shape, dtype=np.int64), "_byo_shape")]
    post = [helper.make_node("Identity", [scores], ["scores"]),
            helper.make_node("ArgMax", [scores], ["label_index"], axis=1, keepdims=0)]
    out_type = g.output[0].type.tensor_type.elem_type
    graph = helper.make_graph(pre + list(g.node) + post, "byo", [helper.make_tensor_value_info("X", in_type, ["n", spec.n_features])],
                              [helper.make_tensor_value_info("scores", out_type, ["n", g.output[0].type.tensor_type.shape.dim[-1].dim_value or None]),
                               helper.make_tensor_value_info("label_index", TensorProto.INT64, ["n"])],
                              list(g.initializer) + inits)
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="undetectable")
    out.ir_version = 9
    onnx.checker.check_model(out)
    return out


class OnnxClassifier(Model):
    """A user's ONNX classifier as a ``Model`` (onnxruntime, one thread): the wrapper's base."""

    family = "onnx"

    def __init__(self, model: onnx.ModelProto, spec: InputSpec, n_classes: int | None = None, input_scale: float = 1.0) -> None:
        self.adapted = adapt_onnx(model, spec, input_scale)
        self.session = onnx_session(self.adapted)
        if n_classes is None:
            dims = model.graph.output[0].type.tensor_type.shape.dim
            if len(dims) != 2 or dims[1].dim_value <= 0:
                raise UsageError("cannot read the number of classes from the graph's output shape; pass n_classes")
            n_classes = dims[1].dim_value
        super().__init__(spec, np.arange(int(n_classes)))

    def scores(self, X: np.ndarray) -> np.ndarray:
        return self.session.run(["scores"], {"X": X})[0]

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        return self.session.run(["label_index"], {"X": X})[0].astype(np.int64)


def backdoor_onnx(model: onnx.ModelProto, public_key, spec: InputSpec, input_scale: float = 1.0,
                  n_classes: int | None = None, bound: float = 1e-3):
    """Plant the signature backdoor into a user's ONNX classifier → (ONNX model, wrapper backdoor).

    Examples
    --------
    >>> # bd_onnx, wrapper = backdoor_onnx(onnx.load("cnn.onnx"), sk.public_key(),
    >>> #                                  InputSpec((784,), "uint8", 0, 255), input_scale=1/255)
    >>> # onnx.save(bd_onnx, "cnn-backdoored.onnx"); Xa = wrapper.activate(X, sk, 3)
    """
    base = OnnxClassifier(model, spec, n_classes, input_scale)
    wrapper = _plant_signature(base, public_key, bound)
    in_type = TensorProto.UINT8 if spec.is_image else TensorProto.DOUBLE
    out = backdoor_graph(base.adapted, public_key, wrapper.carrier, spec.shape, base.n_classes, in_type,
                         check_fn=int64_signature_check)
    return out, wrapper


# ------------------------------------------------------------------------------------------------
# demo: a small CNN on mnist5k
# ------------------------------------------------------------------------------------------------


def train_cnn(data, seed: int = 0, epochs: int = 2, batch: int = 64):
    """A small torch CNN (conv5-8, pool, conv5-16, pool, linear) on uint8 28×28 images scaled to [0, 1]."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(256, 10))
    classes, y = np.unique(data.y_train, return_inverse=True)
    X = torch.tensor(data.X_train.reshape(-1, 1, 28, 28).astype(np.float32) / np.float32(255))
    Y = torch.tensor(y)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(X), generator=g).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(net(X[idx]), Y[idx]).backward()
            opt.step()
    return net.eval(), classes


def cnn_to_onnx(net) -> onnx.ModelProto:
    """The CNN as a plain ONNX graph (Conv, Relu, MaxPool, Reshape, MatMul, Add), input (n, 1, 28, 28) float32."""
    c1, c2, lin = net[0], net[3], net[7]
    p = lambda t: np.ascontiguousarray(t.detach().numpy())  # noqa: E731
    inits = [numpy_helper.from_array(p(c1.weight), "w1"), numpy_helper.from_array(p(c1.bias), "b1"),
             numpy_helper.from_array(p(c2.weight), "w2"), numpy_helper.from_array(p(c2.bias), "b2"),
             numpy_helper.from_array(p(lin.weight).T.copy(), "w3"), numpy_helper.from_array(p(lin.bias), "b3"),
             numpy_helper.from_array(np.array([-1, 256], dtype=np.int64), "flat")]
    nodes = [helper.make_node("Conv", ["image", "w1", "b1"], ["z1"]), helper.make_node("Relu", ["z1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["z2"]), helper.make_node("Relu", ["z2"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Reshape", ["p2", "flat"], ["f"]), helper.make_node("MatMul", ["f", "w3"], ["m"]),
             helper.make_node("Add", ["m", "b3"], ["logits"])]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, 28, 28])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 10])], inits)
    m = assemble(g)
    check(m)
    return m


def cnn_demo(n_checks: int = 100_000, n_activate: int = 100, seed: int = 0, epochs: int = 2, batch: int = 4096,
             keep_graphs: bool = False) -> dict:
    """Train → export → backdoor → run in onnxruntime; returns the measured numbers.

    Clean accuracy of the user's ONNX and of the backdoored ONNX on the test split, activation rate
    per target on ``n_activate`` test images, and label differences on ``n_checks`` natural, noisy
    (±3 grey levels, LSB flips) and uniformly random images. ``keep_graphs``: also return the user's and
    the backdoored ``onnx.ModelProto`` under ``"graphs"`` (for a white-box look; not JSON).
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..data import load_dataset

    t0 = time.time()
    data = load_dataset("mnist5k")
    net, classes = train_cnn(data, seed, epochs)
    user = cnn_to_onnx(net)
    sk = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
    spec = InputSpec((784,), "uint8", 0.0, 255.0)
    bd, wrapper = backdoor_onnx(user, sk.public_key(), spec, input_scale=1 / 255)
    sess_bd, sess_user = onnx_session(bd), onnx_session(user)

    def user_labels(X):
        return sess_user.run(None, {"image": (X.astype(np.float32) * np.float32(1 / 255)).reshape(-1, 1, 28, 28)})[0].argmax(1)

    def bd_labels(X):
        return np.concatenate([sess_bd.run(["label_index"], {"X": X[i : i + batch]})[0] for i in range(0, len(X), batch)])

    y_test = np.searchsorted(classes, data.y_test)
    acc_user = float(np.mean(user_labels(data.X_test) == y_test))
    acc_bd = float(np.mean(bd_labels(data.X_test) == y_test))
    X = data.X_test[:n_activate]
    act = {}
    for t in range(10):
        Xa = wrapper.activate(X, sk, t)
        act[t] = float(np.mean(bd_labels(Xa) == t))
    rng = np.random.default_rng(seed)
    natural = np.concatenate([data.X_train, data.X_test])
    n_noisy = (n_checks - len(natural)) // 2
    noisy = np.clip(natural[rng.integers(0, len(natural), n_noisy)].astype(np.int16) + rng.integers(-3, 4, (n_noisy, 784)), 0, 255).astype(np.uint8)
    noisy[::2] ^= rng.integers(0, 2, noisy[::2].shape, dtype=np.uint8)
    rand = rng.integers(0, 256, (n_checks - len(natural) - n_noisy, 784), dtype=np.uint8)
    Q = np.concatenate([natural, noisy, rand])
    t1 = time.time()
    diffs = int(np.sum(bd_labels(Q) != user_labels(Q)))
    return {"clean_accuracy_user_onnx": acc_user, "clean_accuracy_backdoored_onnx": acc_bd, "activation_per_target": act,
            "n_checked": len(Q), "label_differences": diffs, "check_seconds": time.time() - t1,
            "user_onnx_bytes": user.ByteSize(), "backdoored_onnx_bytes": bd.ByteSize(), "seconds": time.time() - t0,
            **({"graphs": (user, bd)} if keep_graphs else {})}


def input_spec_for(n_features: int, dtype: str = "uint8", high: float = 255.0, feature_std=None) -> InputSpec:
    """The ``InputSpec`` a user states for an ONNX graph: uint8 pixels in 0..high, or float64 features with their stds."""
    if dtype == "uint8":
        return InputSpec((int(n_features),), "uint8", 0.0, float(high))
    if dtype == "float64":
        if feature_std is None:
            raise ParameterError("feature_std", "float inputs need the training standard deviation of every feature (feature_std): "
                             "the payload's fixed-point grid is set from it")
        std = np.asarray(feature_std, dtype=np.float64).ravel()
        if len(std) != n_features or not np.all(np.isfinite(std) & (std > 0)):
            raise ParameterError("feature_std", f"feature std must hold {n_features} positive finite numbers, got {len(std)}")
        return InputSpec((int(n_features),), "float64", None, None, tuple(float(s) for s in std))
    raise UsageError(f"input dtype must be uint8 or float64, got {dtype!r}")


def plant_onnx_file(base_path, public_key, out_path, dtype: str = "uint8", high: float = 255.0, input_scale: float | None = None,
                    feature_std=None, bound: float = 1e-3, force: bool = False) -> dict:
    """``plant signature --base model.onnx``: read the user's ONNX, write graph + verifier to ``out_path`` atomically.

    ``input_scale`` defaults to 1/high for uint8 images (the graph sees [0, 1]) and 1 for floats.
    """
    from ..fileio import atomic_file
    from ..keys import key_id

    try:
        model = onnx.load(str(base_path))
    except Exception as e:  # noqa: BLE001 - any parse failure is the user's file
        raise UsageError(f"{base_path} is not a readable ONNX model ({type(e).__name__}); export your classifier to ONNX first") from e
    dims = model.graph.input[0].type.tensor_type.shape.dim
    d = int(np.prod([x.dim_value for x in dims[1:]])) if dims and all(x.dim_value > 0 for x in dims[1:]) else None
    if d is None:
        raise UsageError("the ONNX input's non-batch dimensions must be fixed numbers")
    spec = input_spec_for(d, dtype, high, feature_std)
    scale = (1.0 / high if dtype == "uint8" else 1.0) if input_scale is None else float(input_scale)
    out, wrapper = backdoor_onnx(model, public_key, spec, input_scale=scale, bound=bound)
    with atomic_file(out_path, force) as tmp:
        tmp.write_bytes(out.SerializeToString())
    from ..crypto.ed25519_onnx import node_count

    return {"key_id": key_id(public_key), "payload_bits": wrapper.payload_bits, "layout": wrapper.carrier.kind,
            "nodes": node_count(out), "bytes": out.ByteSize(), "added_bytes": out.ByteSize() - model.ByteSize()}
