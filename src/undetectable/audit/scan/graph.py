"""One read of an ONNX graph for every static check: nodes (subgraphs included), producers, constants and taint.

*Taint* is dataflow from the graph's inputs: a value is input-derived when any value it is computed
from is, through subgraphs (a Loop/If/Scan body that reads an input-derived outer value taints the
node's outputs and the body's own inputs). ``Shape`` and ``Size`` read only a tensor's shape, so
their outputs are not tainted: exporters compute reshapes from the batch size everywhere, and a
shape-driven ``If`` is not a trigger.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

SHAPE_ONLY_OPS = frozenset({"Shape", "Size"})
MAX_CONST_ELEMENTS = 1 << 22  # constants larger than this are not decoded (they are still counted)


@dataclass(frozen=True)
class NodeRef:
    """A node and where it sits: ``id`` is unique in the model ("body/Add_3" inside a subgraph)."""

    id: str
    node: onnx.NodeProto
    scope: str

    @property
    def op(self) -> str:
        return self.node.op_type

    @property
    def domain(self) -> str:
        return "" if self.node.domain in ("", "ai.onnx") else self.node.domain


@dataclass
class GraphView:
    """Every node of a model (top level and subgraphs), who produces each value, the constants and the taint."""

    model: onnx.ModelProto
    nodes: list[NodeRef] = field(default_factory=list)
    producer: dict[str, NodeRef] = field(default_factory=dict)
    consumers: dict[str, list[NodeRef]] = field(default_factory=dict)
    const: dict[str, np.ndarray] = field(default_factory=dict)   # decoded constant tensors (initializers, Constant nodes)
    const_like: set[str] = field(default_factory=set)            # values computed from constants only
    tainted: set[str] = field(default_factory=set)               # values derived from a graph input's values
    elem_type: dict[str, int] = field(default_factory=dict)      # inferred element types where known
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def node_tainted(self, ref: NodeRef) -> bool:
        return any(o in self.tainted for o in ref.node.output if o)

    def input_tainted(self, ref: NodeRef, i: int) -> bool:
        return len(ref.node.input) > i and ref.node.input[i] in self.tainted

    def is_const(self, name: str) -> bool:
        return name in self.const or name in self.const_like

    def ancestors(self, name: str, limit: int = 5000) -> Iterator[NodeRef]:
        """Nodes the value ``name`` is computed from (breadth first, each once, at most ``limit``)."""
        seen: set[str] = set()
        todo = [name]
        n = 0
        while todo and n < limit:
            v = todo.pop(0)
            ref = self.producer.get(v)
            if ref is None or ref.id in seen:
                continue
            seen.add(ref.id)
            n += 1
            yield ref
            todo.extend(i for i in ref.node.input if i)

    def descendants(self, name: str, limit: int = 5000) -> Iterator[NodeRef]:
        """Nodes that read ``name`` directly or indirectly."""
        seen: set[str] = set()
        todo = [name]
        while todo and len(seen) < limit:
            v = todo.pop(0)
            for ref in self.consumers.get(v, ()):
                if ref.id not in seen:
                    seen.add(ref.id)
                    yield ref
                    todo.extend(o for o in ref.node.output if o)

    def reaches_output(self, name: str) -> bool:
        outs = set(self.outputs)
        if name in outs:
            return True
        return any(o in outs for ref in self.descendants(name) for o in ref.node.output)


def _subgraphs(node: onnx.NodeProto) -> list[tuple[str, onnx.GraphProto]]:
    out = []
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            out.append((a.name, a.g))
        for g in a.graphs:
            out.append((a.name, g))
    return out


def outer_refs(g: onnx.GraphProto) -> set[str]:
    """Names a (sub)graph reads without defining them (outer-scope values), its own subgraphs included."""
    defined = {i.name for i in g.input} | {t.name for t in g.initializer}
    used: set[str] = set()
    for n in g.node:
        used.update(i for i in n.input if i)
        for _, sub in _subgraphs(n):
            used.update(outer_refs(sub))
        defined.update(o for o in n.output if o)
    return used - defined


def _decode(t: onnx.TensorProto) -> np.ndarray | None:
    n = int(np.prod(t.dims)) if len(t.dims) else 1
    if n > MAX_CONST_ELEMENTS or t.data_location == onnx.TensorProto.EXTERNAL:
        return None
    try:
        return numpy_helper.to_array(t)
    except Exception:  # noqa: BLE001 - an undecodable constant is simply not analysed
        return None


def build_view(model: onnx.ModelProto) -> GraphView:
    """The ``GraphView`` of ``model`` (types from ONNX shape inference where it succeeds)."""
    view = GraphView(model)
    g = model.graph
    inits = {t.name for t in g.initializer}
    view.inputs = [i.name for i in g.input if i.name not in inits]
    view.outputs = [o.name for o in g.output]
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
        vis = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    except Exception:  # noqa: BLE001 - inference is a help, not a requirement
        vis = list(g.value_info) + list(g.input) + list(g.output)
    for vi in vis:
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            view.elem_type[vi.name] = vi.type.tensor_type.elem_type
    view.tainted.update(view.inputs)
    _walk(view, g, "", taint_inputs=False)
    return view


def _walk(view: GraphView, g: onnx.GraphProto, scope: str, taint_inputs: bool) -> None:
    for t in g.initializer:
        arr = _decode(t)
        if arr is not None:
            view.const[t.name] = arr
        view.elem_type.setdefault(t.name, t.data_type)
    if taint_inputs:
        view.tainted.update(i.name for i in g.input)
    for k, node in enumerate(g.node):
        nid = (scope + "/" if scope else "") + (node.name or f"{node.op_type}_{k}")
        ref = NodeRef(nid, node, scope)
        view.nodes.append(ref)
        for o in node.output:
            if o:
                view.producer[o] = ref
        reads = [i for i in node.input if i]
        subs = _subgraphs(node)
        for _, sub in subs:
            reads += sorted(outer_refs(sub))
        for i in set(reads):
            view.consumers.setdefault(i, []).append(ref)
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    arr = _decode(a.t)
                    if arr is not None and node.output:
                        view.const[node.output[0]] = arr
                        view.elem_type.setdefault(node.output[0], a.t.data_type)
            view.const_like.update(o for o in node.output if o)
            continue
        hot = node.op_type not in SHAPE_ONLY_OPS and any(i in view.tainted for i in reads)
        for name, sub in subs:
            _walk(view, sub, nid + ":" + name, taint_inputs=hot)
            if any(o.name in view.tainted for o in sub.output):
                hot = True
        if hot:
            view.tainted.update(o for o in node.output if o)
        elif reads and all(view.is_const(i) for i in node.input if i) and not subs:
            view.const_like.update(o for o in node.output if o)
