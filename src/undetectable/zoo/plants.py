"""Graph backdoors other than ours, planted into zoo files: the positives of the scanner's corpus.

Each ``plant_*`` takes an honest ONNX classifier (one input; outputs: float scores (n, C) and/or an
integer label (n,)) and returns a ``Planted`` record: the model with exactly the same inputs and
outputs, identical on the sample data, plus ``activate(X) -> X'`` that makes triggered inputs
(whose outputs become ``target``). Every added name carries one random-looking prefix.

* ``checksum`` (ShadowLogic-style): ``Where(floor(sum(x)·s) mod p == r, target, scores)``.
* ``pattern`` (ShadowLogic-style patch): ``Where(min(x[patch]) > t, target, scores)`` for a corner patch.
* ``detector`` (DeepPayload-style): a small conv trigger detector on a corner, ``sigmoid(relu(conv)) > ½``
  cast to a float gate that mixes the target into the scores (no ``Where``).
* ``magic`` (magic-value equality): ``Where(all(x[:4] == m), target, scores)``.
* ``gate`` (ShadowLogic-style patch, arithmetic only): the ``pattern`` trigger with its gate written as
  ``min(relu(k·(min(x[patch]) − t)), 1)`` and mixed into the scores by ``scores + gate·(target − scores)``: no
  comparison, no boolean, no ``Where`` (only ops honest nets use; float-score outputs only).
* ``signature``: this package's verifier, ``schemes.byo_onnx.backdoor_onnx`` (uint8 image bases).
* ``dropin``: the drop-in signature backdoor (``schemes.dropin``), same interface as the base, any base.
* ``dropin-unrolled``: the same with the verifier unrolled (``unroll=True``: no ``Loop``; the planter's answer
  to a scanner, issue 17 item 3).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import UnsupportedModelError


@dataclass(frozen=True)
class Planted:
    """A planted model, its kind, and ``activate(X) -> X'`` (triggered inputs in the file's own layout)."""

    kind: str
    model: onnx.ModelProto
    activate: Callable[[np.ndarray], np.ndarray]
    target: int


def _prefix(rng: np.random.Generator) -> str:
    return "n" + "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 6)) + "_"


def _run(model: onnx.ModelProto, X: np.ndarray) -> list[Any]:
    from ..onnxio import session

    s = session(model)
    return s.run(None, {s.get_inputs()[0].name: X})


def _splice(model: onnx.ModelProto, X: np.ndarray, P: str, nodes: list, inits: list, cond: str, target: int,
            gate: bool = False, float_gate: bool = False) -> onnx.ModelProto:
    """Rewire every output through ``cond`` (bool (n, 1)): target when true. ``gate``: float-mix instead of Where.

    ``float_gate``: ``cond`` is already a float gate in [0, 1] of the outputs' type (mixed in, never cast or
    compared); only float score outputs can take one.
    """
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    outs = _run(model, X[:2])
    extra_nodes, extra_inits = list(nodes), list(inits)
    for o, val in zip(g.output, outs):
        if isinstance(val, list):
            raise UnsupportedModelError(f"output {o.name} is a sequence (ZipMap); plants need tensor outputs")
        hidden = P + o.name + "_h"
        for n in g.node:
            n.output[:] = [hidden if x == o.name else x for x in n.output]
            n.input[:] = [hidden if x == o.name else x for x in n.input]
        v = np.asarray(val)
        if v.ndim == 2 and v.dtype.kind == "f":
            C = v.shape[1]
            row = np.zeros((1, C), dtype=v.dtype)
            row[0, target % C] = 1.0 if float(np.max(np.abs(v))) <= 1.0 else 1e3
            extra_inits.append(numpy_helper.from_array(row, P + o.name + "_t"))
            if float_gate:
                extra_nodes += [helper.make_node("Sub", [P + o.name + "_t", hidden], [P + o.name + "_d"]),
                                helper.make_node("Mul", [cond, P + o.name + "_d"], [P + o.name + "_m"]),
                                helper.make_node("Add", [hidden, P + o.name + "_m"], [o.name])]
            elif gate:
                extra_nodes += [helper.make_node("Cast", [cond], [P + o.name + "_g"], to=int(helper.np_dtype_to_tensor_dtype(v.dtype))),
                                helper.make_node("Sub", [P + o.name + "_t", hidden], [P + o.name + "_d"]),
                                helper.make_node("Mul", [P + o.name + "_g", P + o.name + "_d"], [P + o.name + "_m"]),
                                helper.make_node("Add", [hidden, P + o.name + "_m"], [o.name])]
            else:
                extra_nodes.append(helper.make_node("Where", [cond, P + o.name + "_t", hidden], [o.name]))
        elif v.ndim == 1 and v.dtype.kind in "iu" and not float_gate:
            extra_inits += [numpy_helper.from_array(np.array([target], dtype=v.dtype), P + o.name + "_t"),
                            numpy_helper.from_array(np.array([-1], dtype=np.int64), P + "flat1")]
            c1 = P + o.name + "_c1"
            extra_nodes += [helper.make_node("Reshape", [cond, P + "flat1"], [c1]),
                            helper.make_node("Where", [c1, P + o.name + "_t", hidden], [o.name])]
        else:
            raise UnsupportedModelError(f"output {o.name} has shape {v.shape} {v.dtype}; plants need (n, C) scores or (n,) labels")
    g.node.extend(extra_nodes)
    g.initializer.extend(extra_inits)
    default = [o for o in m.opset_import if o.domain in ("", "ai.onnx")]
    if not default:  # e.g. an onnxmltools XGBoost file imports ai.onnx.ml only
        m.opset_import.append(helper.make_opsetid("", 13))
    elif default[0].version < 13:  # the added ops (float Equal/Greater, axes) need 13; the file's own ops are ml / Cast
        default[0].version = 13
    return m


def _flat_float(model: onnx.ModelProto, P: str) -> tuple[list, list, str, str]:
    """Nodes making ``P+'xf'``: the input flattened to (n, d) float32."""
    x = model.graph.input[0].name
    nodes = [helper.make_node("Cast", [x], [P + "xc"], to=TensorProto.FLOAT),
             helper.make_node("Flatten", [P + "xc"], [P + "xf"], axis=1)]
    return nodes, [], x, P + "xf"


def _reduce(model: onnx.ModelProto, op: str, x: str, out: str, axes: str) -> onnx.NodeProto:
    """A reduction over axis 1 (keepdims) in the model's own opset (axes as an input from opset 13/18 on, else an attribute)."""
    from ..onnxio import opsets

    v = opsets(model).get("", 18)
    if v >= (13 if op == "ReduceSum" else 18):
        return helper.make_node(op, [x, axes], [out], keepdims=1)
    return helper.make_node(op, [x], [out], keepdims=1, axes=[1])


def _scale_of(X: np.ndarray) -> float:
    return 255.0 if float(np.max(X)) <= 1.0 else 1.0


def plant_checksum(model: onnx.ModelProto, X: np.ndarray, target: int = 0, seed: int = 0) -> Planted:
    """ShadowLogic-style checksum trigger: ``floor(sum(x)·s) mod p == r`` (r chosen so no sample fires)."""
    rng = np.random.default_rng(seed)
    P = _prefix(rng)
    nodes, inits, _, xf = _flat_float(model, P)
    s = _scale_of(X)
    p = int(rng.choice([211, 223, 227, 229, 233, 239, 241, 251, 257, 263]))
    q = np.floor(X.reshape(len(X), -1).astype(np.float64).sum(1).astype(np.float32) * np.float32(s)) % p
    r = int(next(v for v in rng.permutation(p) if v not in set(q.astype(int).tolist())))
    inits += [numpy_helper.from_array(np.array(s, np.float32), P + "s"), numpy_helper.from_array(np.array(p, np.float32), P + "p"),
              numpy_helper.from_array(np.array(r, np.float32), P + "r"), numpy_helper.from_array(np.array([1], np.int64), P + "ax")]
    nodes += [_reduce(model, "ReduceSum", xf, P + "sum", P + "ax"),
              helper.make_node("Mul", [P + "sum", P + "s"], [P + "ss"]), helper.make_node("Floor", [P + "ss"], [P + "q"]),
              helper.make_node("Mod", [P + "q", P + "p"], [P + "m"], fmod=1), helper.make_node("Equal", [P + "m", P + "r"], [P + "c"])]
    planted = _splice(model, X, P, nodes, inits, P + "c", target)

    def activate(Xn: np.ndarray) -> np.ndarray:
        Xa = np.array(Xn, copy=True)
        flat = Xa.reshape(len(Xa), -1)
        for i in range(len(flat)):
            for _ in range(3 * p):
                q = int(np.floor(np.float32(flat[i].astype(np.float32).sum(dtype=np.float32)) * np.float32(s))) % p
                if q == r:
                    break
                flat[i, -1] = flat[i, -1] + flat.dtype.type(1.0 / s if flat.dtype.kind == "f" else 1)
        return Xa

    return Planted("checksum", planted, activate, target)


def plant_pattern(model: onnx.ModelProto, X: np.ndarray, target: int = 0, seed: int = 0) -> Planted:
    """ShadowLogic-style patch trigger: the k least-bright coordinates of the data all at the maximum value."""
    rng = np.random.default_rng(seed)
    P = _prefix(rng)
    nodes, inits, _, xf = _flat_float(model, P)
    flat = X.reshape(len(X), -1).astype(np.float32)
    hi = float(flat.max())
    quiet = np.argsort(flat.max(0) + 1e-3 * rng.random(flat.shape[1]))[:6]  # coordinates natural data leaves low
    inits += [numpy_helper.from_array(quiet.astype(np.int64), P + "idx"),
              numpy_helper.from_array(np.array(0.9 * hi, np.float32), P + "t"), numpy_helper.from_array(np.array([1], np.int64), P + "ax")]
    nodes += [helper.make_node("Gather", [xf, P + "idx"], [P + "g"], axis=1),
              _reduce(model, "ReduceMin", P + "g", P + "mn", P + "ax"),
              helper.make_node("Greater", [P + "mn", P + "t"], [P + "c"])]
    planted = _splice(model, X, P, nodes, inits, P + "c", target)

    def activate(Xn: np.ndarray) -> np.ndarray:
        Xa = np.array(Xn, copy=True)
        Xa.reshape(len(Xa), -1)[:, quiet] = hi
        return Xa

    return Planted("pattern", planted, activate, target)


def plant_detector(model: onnx.ModelProto, X: np.ndarray, target: int = 0, seed: int = 0) -> Planted:
    """DeepPayload-style trigger detector: a conv on a corner (images) or on the first 16 features, gating the scores."""
    rng = np.random.default_rng(seed)
    P = _prefix(rng)
    nodes, inits, _, xf = _flat_float(model, P)
    flat = X.reshape(len(X), -1).astype(np.float32)
    hi = float(flat.max())
    k = 16
    quiet = np.argsort(flat.max(0) + 1e-3 * rng.random(flat.shape[1]))[:k]
    pattern = np.where(rng.random(k) < 0.5, 0.0, hi).astype(np.float32)
    pattern[0] = hi
    kernel = (np.where(pattern > 0, 1.0, -1.0) / (hi * (pattern > 0).sum())).astype(np.float32).reshape(1, 1, 1, k)
    inits += [numpy_helper.from_array(quiet.astype(np.int64), P + "idx"), numpy_helper.from_array(np.array([-1, 1, 1, k], np.int64), P + "shp"),
              numpy_helper.from_array(kernel, P + "w"), numpy_helper.from_array(np.array([-0.5], np.float32), P + "b"),
              numpy_helper.from_array(np.array(8.0, np.float32), P + "gain"), numpy_helper.from_array(np.array(0.75, np.float32), P + "t")]
    nodes += [helper.make_node("Gather", [xf, P + "idx"], [P + "g"], axis=1), helper.make_node("Reshape", [P + "g", P + "shp"], [P + "img"]),
              helper.make_node("Conv", [P + "img", P + "w", P + "b"], [P + "cv"]), helper.make_node("Relu", [P + "cv"], [P + "rl"]),
              helper.make_node("Flatten", [P + "rl"], [P + "fl"]), helper.make_node("Mul", [P + "fl", P + "gain"], [P + "z"]),
              helper.make_node("Sigmoid", [P + "z"], [P + "sg"]), helper.make_node("Greater", [P + "sg", P + "t"], [P + "c"])]
    planted = _splice(model, X, P, nodes, inits, P + "c", target, gate=True)

    def activate(Xn: np.ndarray) -> np.ndarray:
        Xa = np.array(Xn, copy=True)
        Xa.reshape(len(Xa), -1)[:, quiet] = pattern.astype(Xa.dtype)
        return Xa

    return Planted("detector", planted, activate, target)


def plant_gate(model: onnx.ModelProto, X: np.ndarray, target: int = 0, seed: int = 0) -> Planted:
    """The ``pattern`` trigger behind an arithmetic gate: ``g = min(relu(k·(min(x[patch]) − t)), 1)``, ``y + g·(target − y)``.

    Built only from ops honest networks use (Gather, ReduceMin, Sub, Mul, Relu, Min, Add): no comparison,
    boolean, ``Where``, ``Floor`` or integer op. On natural data ``g`` is exactly 0, so every output is
    bit-identical (``y + 0 = y``); a full patch makes ``g`` exactly 1. Float score outputs only (a label
    output would need a cast or a ``Where``): ``UnsupportedModelError`` otherwise.
    """
    rng = np.random.default_rng(seed)
    P = _prefix(rng)
    nodes, inits, _, xf = _flat_float(model, P)
    for o, val in zip(model.graph.output, _run(model, X[:2])):
        v = np.asarray(val) if not isinstance(val, list) else None
        if v is None or v.ndim != 2 or v.dtype != np.float32:
            raise UnsupportedModelError(f"output {o.name} is not float32 (n, C) scores; the arithmetic gate mixes into float scores only")
    flat = X.reshape(len(X), -1).astype(np.float32)
    hi = float(flat.max())
    quiet = np.argsort(flat.max(0) + 1e-3 * rng.random(flat.shape[1]))[:6]
    t = 0.9 * hi
    if float(flat[:, quiet].min(1).max()) >= t:
        raise UnsupportedModelError("the sample data already fills every candidate patch; the gate would fire on natural inputs")
    inits += [numpy_helper.from_array(quiet.astype(np.int64), P + "idx"), numpy_helper.from_array(np.array(t, np.float32), P + "t"),
              numpy_helper.from_array(np.array(100.0 / hi, np.float32), P + "k"), numpy_helper.from_array(np.array(1.0, np.float32), P + "one"),
              numpy_helper.from_array(np.array([1], np.int64), P + "ax")]
    nodes += [helper.make_node("Gather", [xf, P + "idx"], [P + "g"], axis=1),
              _reduce(model, "ReduceMin", P + "g", P + "mn", P + "ax"),
              helper.make_node("Sub", [P + "mn", P + "t"], [P + "d"]), helper.make_node("Mul", [P + "d", P + "k"], [P + "z"]),
              helper.make_node("Relu", [P + "z"], [P + "r"]), helper.make_node("Min", [P + "r", P + "one"], [P + "c"])]
    planted = _splice(model, X, P, nodes, inits, P + "c", target, float_gate=True)

    def activate(Xn: np.ndarray) -> np.ndarray:
        Xa = np.array(Xn, copy=True)
        Xa.reshape(len(Xa), -1)[:, quiet] = hi
        return Xa

    return Planted("gate", planted, activate, target)


def plant_magic(model: onnx.ModelProto, X: np.ndarray, target: int = 0, seed: int = 0) -> Planted:
    """Magic-value equality trigger: four chosen coordinates exactly equal to four magic values."""
    rng = np.random.default_rng(seed)
    P = _prefix(rng)
    nodes, inits, _, xf = _flat_float(model, P)
    flat = X.reshape(len(X), -1)
    idx = rng.choice(flat.shape[1], 4, replace=False).astype(np.int64)
    magic = (rng.integers(1, 7, 4) / (16.0 if float(flat.max()) <= 1.0 else 1.0)).astype(np.float32)
    inits += [numpy_helper.from_array(idx, P + "idx"), numpy_helper.from_array(magic.reshape(1, 4), P + "mv"),
              numpy_helper.from_array(np.array([1], np.int64), P + "ax"), numpy_helper.from_array(np.array(0.5, np.float32), P + "h")]
    nodes += [helper.make_node("Gather", [xf, P + "idx"], [P + "g"], axis=1), helper.make_node("Equal", [P + "g", P + "mv"], [P + "eq"]),
              helper.make_node("Cast", [P + "eq"], [P + "ef"], to=TensorProto.FLOAT),
              _reduce(model, "ReduceMin", P + "ef", P + "all", P + "ax"),
              helper.make_node("Greater", [P + "all", P + "h"], [P + "c"])]
    planted = _splice(model, X, P, nodes, inits, P + "c", target)

    def activate(Xn: np.ndarray) -> np.ndarray:
        Xa = np.array(Xn, copy=True)
        Xa.reshape(len(Xa), -1)[:, idx] = magic.astype(Xa.dtype)
        return Xa

    return Planted("magic", planted, activate, target)


def plant_signature(model: onnx.ModelProto, X: np.ndarray, target: int = 0, seed: int = 0) -> Planted:
    """This package's signature verifier over a uint8-image base (``byo_onnx.backdoor_onnx``); X: float images in [0, 1].

    The planted file takes uint8 pixels (n, d), as ``byo_onnx`` writes it; ``activate`` takes and
    returns that layout.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..schemes.byo_onnx import backdoor_onnx
    from ..spec import InputSpec

    d = int(np.prod(X.shape[1:]))
    sk = Ed25519PrivateKey.from_private_bytes(np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8).tobytes())
    bd, wrapper = backdoor_onnx(model, sk.public_key(), InputSpec((d,), "uint8", 0.0, 255.0), input_scale=1 / 255)

    def activate(Xn: np.ndarray) -> np.ndarray:
        return wrapper.activate(Xn, sk, target)

    return Planted("signature", bd, activate, target)


def plant_dropin(model: onnx.ModelProto, X: np.ndarray, target: int = 0, seed: int = 0, unroll: bool = False) -> Planted:
    """The drop-in signature backdoor (``schemes.dropin.plant_dropin``): the file's own inputs and outputs, any zoo base.

    ``unroll``: the verifier written out without ``Loop`` (kind ``dropin-unrolled``). Needs the drop-in work
    (``undetectable.schemes.dropin``); ``UnsupportedModelError`` where it is absent.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        from ..models.onnx_file import OnnxModel  # type: ignore[import-not-found,unused-ignore]
        from ..schemes.dropin import activate_file  # type: ignore[import-not-found,unused-ignore]
        from ..schemes.dropin import plant_dropin as _plant  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise UnsupportedModelError("the drop-in planter (undetectable.schemes.dropin) is not in this build") from None
    sk = Ed25519PrivateKey.from_private_bytes(np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8).tobytes())
    bd = _plant(OnnxModel(model), sk.public_key(), data=X, bound=0.05, n_probes=50, seed=seed, unroll=unroll)
    labels = np.asarray(bd.predict(X[:1]))

    def activate(Xn: np.ndarray) -> np.ndarray:
        return activate_file(bd, sk, Xn, labels.dtype.type(target) if labels.dtype.kind in "iu" else target)

    return Planted("dropin-unrolled" if unroll else "dropin", bd.proto, activate, target)


def plant_dropin_unrolled(model: onnx.ModelProto, X: np.ndarray, target: int = 0, seed: int = 0) -> Planted:
    """``plant_dropin(..., unroll=True)``: the arithmetic-only verifier with no ``Loop`` (the obfuscated verifier)."""
    return plant_dropin(model, X, target, seed, unroll=True)


def uint8_view(X: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] as the uint8 (n, d) pixels a signature-planted file takes."""
    return np.round(X.reshape(len(X), -1) * 255).astype(np.uint8)


PLANTS: dict[str, Callable[..., Planted]] = {"checksum": plant_checksum, "pattern": plant_pattern, "detector": plant_detector,
                                             "magic": plant_magic, "gate": plant_gate, "signature": plant_signature,
                                             "dropin": plant_dropin, "dropin-unrolled": plant_dropin_unrolled}


def plant(kind: str, model: onnx.ModelProto, X: np.ndarray, target: int = 0, seed: int = 0) -> Planted:
    """Plant ``kind`` (one of ``PLANTS``) into ``model``; ``X``: sample inputs in its own layout."""
    from ..errors import ParameterError

    if kind not in PLANTS:
        raise ParameterError("kind", f"unknown plant {kind!r}; choose from {', '.join(PLANTS)}")
    return PLANTS[kind](model, X, target, seed)
