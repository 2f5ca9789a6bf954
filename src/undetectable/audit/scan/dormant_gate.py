"""dormant-gate (dynamic, with natural data): a saturated nonlinearity constant on natural data that steers outputs.

The arithmetic answer to ``dormant-branch``: a trigger needs no boolean. ``g = min(relu(k·(s(x) − t)), 1)``
mixed in as ``y + g·(target − y)`` is exactly 0 on every natural input and 1 on a triggered one, using only
ops honest networks use. What it cannot avoid is a *saturated* nonlinearity: some input-derived float tensor
made by a saturating op (Relu, Min/Max, Clip, Sigmoid, Tanh, Floor, ...) that is one constant on every
element of every natural input. Each such tensor is a candidate; it is then *moved* off its constant (by
+1 when the constant is below ½, else by −1: the other side of a 0/1 gate, of a saturated sigmoid or
tanh) and the model rerun: if an output changes, the graph holds a gate natural data never opens that
decides outputs when opened. A dead ReLU neuron is not one (its layer's other neurons vary), nor is a
shape computation (not input-derived). Tensors inside loop bodies are not reached. The constant
candidates are moved all at once first (one rerun; an honest graph ends there), then halved until one
tensor whose move alone changes an output is found (a group test: ~log2(candidates) reruns).

Honest caveat: a gate whose saturated tensor also carries a varying part (e.g. concatenated with live
features before it is used) is not a whole-tensor constant and passes; so does a gate that saturates
only in the probabilities (a softmax) or one that never saturates exactly.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import Finding, check
from ._common import finding
from .dormant import FLIP_SAMPLES, _native, _same, _session
from .graph import GraphView

#: elementwise ops that saturate (clamp, squash, round or underflow to an exact constant on a whole region)
SATURATING = frozenset({"Relu", "Clip", "Min", "Max", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softsign", "Softplus",
                        "Exp", "Sign", "Abs", "Floor", "Ceil", "Round", "Erf", "Elu", "Selu", "Celu", "ThresholdedRelu",
                        "Shrink", "Mish", "Gelu"})
FLOATS: dict[int, type] = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16}
MAX_CANDIDATES = 2000  # tensors exposed at once (the latest first); an unrolled verifier has tens of thousands


def _exposed(model: onnx.ModelProto, names: list[str], types: dict[str, int]) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in names:
        m.graph.output.append(helper.make_tensor_value_info(n, types[n], None))
    return m


def _moved(model: onnx.ModelProto, moves: list[tuple[str, int, float]]) -> onnx.ModelProto:
    """``model`` with every reader of each ``name`` reading ``name + delta`` instead (``moves``: (name, elem type, delta))."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    new = {name: name + "__moved" for name, _, _ in moves}
    for node in m.graph.node:
        node.input[:] = [new.get(i, i) for i in node.input]
    for name, elem_type, delta in moves:
        d = name + "__delta"
        idx = next(k for k, node in enumerate(m.graph.node) if name in node.output)
        m.graph.node.insert(idx + 1, helper.make_node("Add", [name, d], [new[name]]))
        m.graph.initializer.append(numpy_helper.from_array(np.array(delta, dtype=FLOATS[elem_type]), d))
    return m


@check("dormant-gate", needs_data=True)
def dormant_gate(view: GraphView, ctx) -> list[Finding]:
    """Saturated float gates: input-derived nonlinearity outputs constant on natural data whose move changes an output (high)."""
    if len(view.inputs) != 1:
        return []  # dormant-branch already says why the check feeds one input only
    order = {o: k for k, n in enumerate(view.model.graph.node) for o in n.output}
    outputs = set(view.outputs)
    cands = sorted((n for n in order if n in view.tainted and n not in outputs and view.elem_type.get(n) in FLOATS
                    and view.producer[n].op in SATURATING), key=lambda n: -order[n])[:MAX_CANDIDATES]
    if not cands:
        return []
    X = _native(view.model, np.asarray(ctx.data)[: ctx.config.dormant_samples], _Quiet())
    if X is None or len(X) < 2:
        return []
    try:
        sess = _session(_exposed(view.model, cands, view.elem_type))
        feed = {sess.get_inputs()[0].name: X}
        vals = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))
    except Exception:  # noqa: BLE001 - dormant-branch reports a file onnxruntime cannot run
        return []
    constant = [n for n in cands if vals[n].size and np.all(vals[n] == vals[n].flat[0]) and np.isfinite(vals[n].flat[0])]
    few = {k: v[:FLIP_SAMPLES] for k, v in feed.items()}
    base_out = sess.run([o.name for o in view.model.graph.output], few)
    moves = {n: (n, view.elem_type[n], 1.0 if float(vals[n].flat[0]) < 0.5 else -1.0) for n in constant}

    def changes(group: list[str]) -> bool:
        try:
            out = _session(_moved(view.model, [moves[n] for n in group])).run(None, few)
        except Exception:  # noqa: BLE001 - a move onnxruntime refuses proves nothing
            return False
        return not all(_same(a, b) for a, b in zip(base_out, out))

    group = list(constant)
    if not group or not changes(group):
        return []
    while len(group) > 1:  # halve, keeping a half whose move changes an output (the other when the first does not)
        first = group[: len(group) // 2]
        group = first if changes(first) else group[len(group) // 2:]
    if not changes(group):
        return []  # only moves together change the outputs: no single gate to name
    n = group[0]
    ref = view.producer[n]
    return [finding("dormant-gate", "high", [ref],
                    f"a saturated gate ({ref.op} {n} = {float(vals[n].flat[0]):g}, one of {len(constant)} input-derived saturated "
                    f"tensors constant on all {len(X)} natural inputs) changes the outputs when moved off that constant: "
                    "an arithmetic trigger natural data never opens")]


class _Quiet:
    """A context whose notes are dropped (dormant-branch already reports a data/input mismatch)."""

    def __init__(self) -> None:
        self.inconclusive: list[str] = []
