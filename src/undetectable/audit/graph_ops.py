"""White-box positive control: the in-graph signature verifier is plainly visible in an ONNX file.

The signature backdoor is *black-box* undetectable only. Given the model file, an auditor sees an
integer/bitwise subgraph (SHA-512's ``BitShift``/``BitwiseXor`` rounds, ``Loop`` nodes, a 1.5 MB
table of curve points) that no honest classifier needs. ``graph_op_histogram`` counts op types
(loop bodies included); the ``integer-subgraph`` detector scores log(1 + number of bitwise /
integer-loop nodes), 0 for every honest graph this package exports.
"""
from __future__ import annotations

from collections import Counter

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
