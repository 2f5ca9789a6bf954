"""What the scanner cannot analyse: ops outside the ONNX standard and the known runtime contrib set.

A custom op or an unknown domain could compute anything (a planter's verifier in a native kernel),
so a file holding one is ``inconclusive``, naming the ops, never ``clean``.
"""
from __future__ import annotations

import onnx

from .graph import GraphView

#: onnxruntime contrib ops (com.microsoft) whose semantics are fixed arithmetic (fusions, quantized kernels).
KNOWN_CONTRIB = frozenset({
    "FusedMatMul", "FusedConv", "FusedGemm", "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "LayerNormalization",
    "SkipLayerNormalization", "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization", "BiasAdd",
    "Attention", "MultiHeadAttention", "GroupQueryAttention", "RotaryEmbedding", "BiasSoftmax", "EmbedLayerNormalization",
    "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulNBits", "QGemm", "QLinearAdd", "QLinearMul", "QLinearConv",
    "QLinearMatMul", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearAveragePool", "QLinearGlobalAveragePool",
    "QLinearConcat", "QLinearSoftmax", "QLinearReduceMean", "QuantizeLinear", "DequantizeLinear", "NhwcMaxPool",
    "QAttention", "DynamicQuantizeLSTM", "Inverse", "TransposeMatMul", "NhwcConv", "BeamSearch",
})
KNOWN_DOMAINS = {"": None, "ai.onnx.ml": None, "com.microsoft": KNOWN_CONTRIB}


def known(op: str, domain: str) -> bool:
    """Whether ``op`` in ``domain`` has a known, fixed meaning."""
    if domain == "com.microsoft":
        return op in KNOWN_CONTRIB and op != "BeamSearch"
    if domain in ("", "ai.onnx.ml"):
        return onnx.defs.has(op, domain)
    return False


def unanalysable(view: GraphView) -> list[str]:
    """One line per (domain, op) the scanner cannot analyse, naming the nodes (at most 5 each)."""
    bad: dict[tuple[str, str], list[str]] = {}
    for ref in view.nodes:
        if not known(ref.op, ref.domain):
            bad.setdefault((ref.domain, ref.op), []).append(ref.id)
    out = []
    for (dom, op), ids in sorted(bad.items()):
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        out.append(f"op {op!r} in domain {dom or 'ai.onnx'!r} is not a standard or known runtime op "
                   f"(nodes {', '.join(ids[:5])}{more}): its computation cannot be analysed")
    return out
