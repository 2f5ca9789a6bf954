"""dormant-branch (dynamic, with natural data): input-derived booleans that never change on natural inputs yet steer outputs.

Every input-derived boolean of the top-level graph is exposed and evaluated on the data. One that
is the same everywhere (every element, every example) is a candidate; it is then *flipped* (a
``Not`` spliced in front of its readers) and the model rerun: if an output changes, the graph holds
a branch that natural data never takes and that decides outputs when taken, which is what a trigger
is. A dead ReLU is not one (its boolean varies across neurons), nor is a shape test (not
input-derived). Booleans inside loop bodies are not reached (the static checks see those).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from . import Finding, check
from ._common import finding
from .graph import GraphView

BOOL_OPS = frozenset({"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Not", "Xor", "IsNaN", "IsInf"})
FLIP_SAMPLES = 16  # inputs each flipped model is run on (a dormant boolean flips every one of them)
MAX_HITS = 3  # enough to name the trigger; each flip costs a session of the whole model


def _session(model: onnx.ModelProto):
    from ...onnxio import session

    return session(model)


_NP = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.UINT8: np.uint8, TensorProto.INT64: np.int64,
       TensorProto.INT32: np.int32, TensorProto.FLOAT16: np.float16, TensorProto.INT8: np.int8}


def _native(model: onnx.ModelProto, X: np.ndarray, ctx) -> np.ndarray | None:
    """``X`` in the model input's own shape and dtype (flat rows reshaped when the sizes agree); None (noted) otherwise."""
    inits = {t.name for t in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)
    tt = inp.type.tensor_type
    dims: list = [d.dim_value if d.dim_value > 0 else None for d in tt.shape.dim][1:]
    if dims and all(d is not None for d in dims) and int(np.prod(X.shape[1:])) == int(np.prod(dims)):
        X = X.reshape((len(X), *dims))
    elif dims and any(d is not None and d != s for d, s in zip(dims, X.shape[1:])):
        ctx.inconclusive.append(f"dormant-branch: the data's shape {X.shape[1:]} does not fit the input {inp.name}")
        return None
    dtype = _NP.get(tt.elem_type)
    if dtype is None:
        ctx.inconclusive.append(f"dormant-branch: input {inp.name} has an element type the check does not feed")
        return None
    return X.astype(dtype, copy=False)


def _with_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in names:
        m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.BOOL, None))
    return m


def _flipped(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    new = name + "__flip"
    for node in m.graph.node:
        for k, i in enumerate(node.input):
            if i == name:
                node.input[k] = new
    for o in m.graph.output:
        if o.name == name:
            o.name = new  # unlikely: a boolean output of the model itself
    idx = next(k for k, node in enumerate(m.graph.node) if name in node.output)
    m.graph.node.insert(idx + 1, helper.make_node("Not", [name], [new]))
    return m


def _same(a, b) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b))


@check("dormant-branch", needs_data=True)
def dormant(view: GraphView, ctx) -> list[Finding]:
    """Input-derived booleans constant over the data whose flip changes an output (high)."""
    X = ctx.data
    if len(view.inputs) != 1:
        ctx.inconclusive.append(f"dormant-branch: the model has {len(view.inputs)} inputs; the check feeds one")
        return []
    order = {o: k for k, n in enumerate(view.model.graph.node) for o in n.output}
    cands = [n for n in order if n in view.tainted and n not in view.outputs
             and (view.elem_type.get(n) == TensorProto.BOOL or (n not in view.elem_type and view.producer[n].op in BOOL_OPS))]
    if not cands:
        return []
    X = _native(view.model, np.asarray(X)[: ctx.config.dormant_samples], ctx)
    if X is None:
        return []
    try:
        sess = _session(_with_outputs(view.model, sorted(cands)))
        feed = {sess.get_inputs()[0].name: X}
        names = [o.name for o in sess.get_outputs()]
        vals = dict(zip(names, sess.run(None, feed)))
    except Exception as exc:  # noqa: BLE001 - a file onnxruntime cannot run is not analysed dynamically
        ctx.inconclusive.append(f"dormant-branch: onnxruntime could not run the model on the data ({type(exc).__name__})")
        return []
    # the latest booleans first (a trigger's verdict sits next to the outputs); flips run on a few inputs
    constant = sorted((n for n in cands if vals[n].size and bool(np.all(vals[n] == vals[n].flat[0]))), key=lambda n: -order[n])
    few = {k: v[:FLIP_SAMPLES] for k, v in feed.items()}
    base_out = sess.run([o.name for o in view.model.graph.output], few)
    hits: list[tuple[str, bool]] = []
    for n in constant[: ctx.config.dormant_max_flips]:
        if len(hits) >= MAX_HITS:
            break
        try:
            flipped = _session(_flipped(view.model, n)).run(None, few)
        except Exception:  # noqa: BLE001, S112 - a flip onnxruntime refuses proves nothing
            continue
        if not all(_same(a, b) for a, b in zip(base_out, flipped)):
            hits.append((n, bool(vals[n].flat[0])))
    if not hits:
        return []
    refs = [view.producer[n] for n, _ in hits]
    always = ", ".join(f"{n}={v}" for n, v in hits[:4])
    return [finding("dormant-branch", "high", refs,
                    f"{len(hits)}{'+' if len(hits) >= MAX_HITS else ''} input-derived boolean(s) constant on all {len(X)} natural inputs ({always}) change the outputs "
                    "when flipped: a branch natural data never takes")]
