"""Small helpers the checks share (op families, element types, node lists)."""
from __future__ import annotations

from onnx import TensorProto

from . import Finding
from .graph import GraphView, NodeRef

INT_TYPES = frozenset({TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8,
                       TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64})
BITWISE = frozenset({"BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"})
ROUNDING = frozenset({"Floor", "Round", "Ceil"})
COMPARE = frozenset({"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"})
#: ops whose output mixes many input coordinates (a trigger detector or checksum aggregates before it decides)
AGGREGATE = frozenset({"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                       "ReduceLogSumExp", "ReduceSumSquare", "MatMul", "Gemm", "Conv", "ConvInteger", "MatMulInteger",
                       "GlobalAveragePool", "GlobalMaxPool", "ArgMax", "ArgMin", "TopK", "CumSum", "Einsum"})
MAX_NAMED = 12


def is_int(view: GraphView, name: str) -> bool:
    return view.elem_type.get(name) in INT_TYPES


def out_int(view: GraphView, ref: NodeRef) -> bool:
    if ref.op == "Cast":
        return any(a.name == "to" and a.i in INT_TYPES for a in ref.node.attribute)
    return bool(ref.node.output) and is_int(view, ref.node.output[0])


def ids(refs) -> tuple[str, ...]:
    """At most MAX_NAMED node ids (a finding names its nodes; the reason says how many there are)."""
    return tuple(r.id for r in list(refs)[:MAX_NAMED])


def finding(check: str, severity: str, refs: list[NodeRef], reason: str) -> Finding:
    more = f" ({len(refs)} nodes)" if len(refs) > MAX_NAMED else ""
    return Finding(check, severity, ids(refs), reason + more)


def ancestor_ops(view: GraphView, name: str, limit: int = 400) -> set[str]:
    """Op types among the (input-derived) ancestors of ``name``."""
    return {r.op for r in view.ancestors(name, limit) if view.node_tainted(r)}

#: ops that move or select values without computing new ones
MOVEMENT = frozenset({"Gather", "GatherElements", "GatherND", "ArrayFeatureExtractor", "Reshape", "Cast", "Identity", "Squeeze",
                      "Unsqueeze", "Transpose", "Slice", "Concat", "Flatten", "Expand", "Split", "Tile"})
SELECTIONS = frozenset({"TopK", "ArgMax", "ArgMin"})


def selection_derived(view: GraphView, name: str, limit: int = 200) -> bool:
    """Whether input-derived ``name`` is a *selection* (top-k / argmax indices, labels looked up by them) moved around.

    KNN vote counting compares selected labels with class ids; that is not a trigger. A value that
    reaches a graph input through movement ops only (a raw pixel compared with a magic value) is not
    a selection.
    """
    todo, seen, found = [name], set[str](), False
    while todo and len(seen) < limit:
        v = todo.pop()
        if v in seen or v not in view.tainted:
            continue
        seen.add(v)
        ref = view.producer.get(v)
        if ref is None:
            return False  # reached a graph input (or a loop-body input) without a selection
        if ref.op in SELECTIONS:
            found = True
            continue
        if ref.op not in MOVEMENT:
            return False
        todo.extend(i for i in ref.node.input if i)
    return found
