"""hash-mixing: modular reduction, shifts, xor and rounding applied to input-derived values, and chains of them.

A checksum trigger (``sum(pixels) mod p == r``), a hash, or exact integer arithmetic in float limbs
(Floor-based carries: the arithmetic-only verifier) all reduce input values modulo something. An
honest classifier rounds nothing between its input and its scores (quantizers round inside their
own ops, which are not counted).
"""
from __future__ import annotations

from . import Finding, check
from ._common import BITWISE, INT_TYPES, ROUNDING, finding
from .graph import GraphView, NodeRef

MIXING = frozenset({"Mod"}) | BITWISE | ROUNDING


def _is_mixing(view: GraphView, r: NodeRef) -> bool:
    if r.op in MIXING:
        return True
    if r.op == "Cast" and r.node.input and r.node.input[0] in view.tainted:
        src = view.elem_type.get(r.node.input[0])
        to = next((a.i for a in r.node.attribute if a.name == "to"), None)
        return src is not None and src not in INT_TYPES and src != 9 and to in INT_TYPES  # float → int truncates
    return False


@check("hash-mixing")
def hash_mixing(view: GraphView, ctx) -> list[Finding]:
    """Mod/shift/xor/Floor/Round/Ceil/float→int casts on input-derived values; severity by count and chain depth."""
    depth: dict[str, int] = {}
    mixers: list[NodeRef] = []
    for r in view.nodes:
        hot = view.node_tainted(r)
        d = max((depth.get(i, 0) for i in r.node.input if i), default=0)
        if hot and _is_mixing(view, r):
            mixers.append(r)
            d += 1
        for o in r.node.output:
            if o:
                depth[o] = d
    if not mixers:
        return []
    chain = max(depth.values(), default=0)
    mods = [r for r in mixers if r.op == "Mod"]
    if chain >= 3 or len(mixers) >= 8:
        sev = "high"
    elif mods or chain >= 2:
        sev = "medium"
    else:
        sev = "low"
    kinds = ", ".join(sorted({r.op for r in mixers}))
    return [finding("hash-mixing", sev, mixers,
                    f"{len(mixers)} mixing op(s) ({kinds}) on input-derived values, longest chain {chain}")]
