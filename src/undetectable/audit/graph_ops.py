"""White-box positive control: the in-graph signature verifier is plainly visible in an ONNX file.

The signature backdoor is *black-box* undetectable only. Given the model file, an auditor sees an
integer/bitwise subgraph (SHA-512's ``BitShift``/``BitwiseXor`` rounds, ``Loop`` nodes, a 1.5 MB
table of curve points) that no honest classifier needs. ``graph_op_histogram`` counts op types
(loop bodies included); the ``integer-subgraph`` detector scores log(1 + number of bitwise /
integer-loop nodes), 0 for every honest graph this package exports.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import numpy as np

from .base import NotApplicable, detector

SUSPICIOUS_OPS = frozenset({"BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "Loop", "Scan", "Mod"})


def graph_op_histogram(model) -> Counter:
    """op type → count over an ``onnx.ModelProto``'s graph and all its subgraphs (loop bodies).

    Examples
    --------
    >>> from onnx import helper, TensorProto
    >>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    >>> dict(graph_op_histogram(helper.make_model(g)))
    {'Relu': 1}
    """
    import onnx

    hist: Counter = Counter()

    def walk(g):
        for node in g.node:
            hist[node.op_type] += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(model.graph)
    return hist


def integer_subgraph_score(model) -> float:
    """log(1 + number of bitwise / loop / modular nodes) of an ONNX model; 0 for a plain classifier."""
    hist = graph_op_histogram(model)
    return float(np.log1p(sum(v for k, v in hist.items() if k in SUSPICIOUS_OPS)))


def onnx_of(model):
    """The ONNX graph an auditor would receive for a bundle (NotApplicable when it has none)."""
    from ..errors import UsageError

    if getattr(model, "proto", None) is not None:  # a model file (OnnxModel): the file itself
        return model.proto
    try:
        if getattr(model, "family", None) == "signature":
            from ..schemes.signature_graph import signature_onnx

            return signature_onnx(model)
        from ..schemes.signature_graph import base_onnx

        return base_onnx(model)
    except UsageError as e:
        raise NotApplicable(str(e)) from e


@detector("integer-subgraph", schemes=("signature", "rff", "relu"))
def integer_subgraph(model, data=None, key=None, rng=None) -> float:
    """White-box: bitwise/integer loop subgraph in the model's ONNX file (flags the in-graph verifier)."""
    return integer_subgraph_score(onnx_of(model))


@dataclasses.dataclass(frozen=True)
class OnnxSummary:
    """What an auditor sees in an ONNX file without running it (``summarize_onnx``)."""

    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    opsets: dict[str, int]
    ir_version: int
    producer: str
    nodes: int
    initializers: int
    parameters: int
    bytes: int
    ops: dict[str, int]
    suspicious_ops: dict[str, int]
    integer_subgraph: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def summarize_onnx(model, size: int | None = None) -> OnnxSummary:
    """The I/O signature (symbolic dims kept), opsets, op histogram (subgraphs included), node, initializer and
    parameter counts, size in bytes and the ``integer-subgraph`` score of an ONNX model (an ``onnx.ModelProto`` or
    an ``OnnxModel``).

    Examples
    --------
    >>> from onnx import helper, TensorProto
    >>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    >>> s = summarize_onnx(helper.make_model(g))
    >>> s.inputs[0]["shape"], s.ops, s.nodes
    (['n', 3], {'Relu': 1}, 1)
    """
    from ..models.onnx_file import interface_of

    proto = getattr(model, "proto", model)
    itf = interface_of(proto)
    hist = graph_op_histogram(proto)
    params = sum(int(np.prod(t.dims)) if len(t.dims) else 1 for t in proto.graph.initializer)

    def io(s) -> dict[str, Any]:
        return {"name": s.name, "type": s.elem_type if s.kind == "tensor" else s.kind,
                "shape": None if s.shape is None else list(s.shape)}

    return OnnxSummary([io(s) for s in itf.inputs], [io(s) for s in itf.outputs], dict(itf.opsets), itf.ir_version, itf.producer,
                       sum(hist.values()), len(proto.graph.initializer), params, int(size if size is not None else proto.ByteSize()),
                       dict(hist.most_common()), {k: v for k, v in hist.most_common() if k in SUSPICIOUS_OPS},
                       integer_subgraph_score(proto))
