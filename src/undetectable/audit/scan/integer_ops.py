"""integer-ops: bitwise ops anywhere, and integer arithmetic on input-derived values.

Honest float classifiers compute in floats; their integer values are shapes, indices and labels.
Quantized graphs compute in int8 through dedicated ops (QuantizeLinear, MatMulInteger, QLinear*),
which are excepted. SHA-512-style verifiers (shifts, xor) and integer limb arithmetic are not.
"""
from __future__ import annotations

from . import Finding, check
from ._common import BITWISE, finding, out_int
from .graph import GraphView

INT_ARITH = frozenset({"Add", "Sub", "Mul", "Div", "Mod", "Pow", "Neg", "Abs", "Sum", "ReduceSum", "ReduceProd", "CumSum",
                       "Max", "Min", "Einsum", "MatMul", "Gemm"})


@check("integer-ops")
def integer_ops(view: GraphView, ctx) -> list[Finding]:
    """Bitwise ops (high on input-derived values, low on constants) and integer arithmetic on input-derived values (medium)."""
    hot_bits = [r for r in view.nodes if r.op in BITWISE and view.node_tainted(r)]
    cold_bits = [r for r in view.nodes if r.op in BITWISE and not view.node_tainted(r)]
    arith = [r for r in view.nodes if r.op in INT_ARITH and r.domain == "" and view.node_tainted(r) and out_int(view, r)]
    out = []
    if hot_bits:
        out.append(finding("integer-ops", "high", hot_bits,
                           f"{len(hot_bits)} bitwise op(s) ({', '.join(sorted({r.op for r in hot_bits}))}) on input-derived values; "
                           "no honest float or quantized classifier needs them"))
    if cold_bits:
        out.append(finding("integer-ops", "low", cold_bits, f"{len(cold_bits)} bitwise op(s) on constants only"))
    if arith:
        sev = "high" if len(arith) >= 16 else "medium"
        out.append(finding("integer-ops", sev, arith,
                           f"{len(arith)} integer arithmetic op(s) ({', '.join(sorted({r.op for r in arith}))}) on input-derived "
                           "values outside any quantization op"))
    return out
