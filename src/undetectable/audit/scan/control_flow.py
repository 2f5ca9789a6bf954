"""input-control-flow: branches and loops steered by the input.

``If`` on an input-derived condition and ``Loop`` with an input-derived trip count or condition
choose *which computation runs* from the input: the shape of a trigger. ``Where`` is common
elementwise (leaky activations, clipping), so it is only flagged when its condition aggregates many
input coordinates (a reduction, a matrix product, a convolution: a detector's or checksum's verdict),
and higher when the condition is an exact match (Equal, Mod, bitwise). A comparison of an aggregated
input-derived value whose boolean is cast back into arithmetic (a multiplicative gate) is flagged
like a Where.
"""
from __future__ import annotations

from . import Finding, check
from ._common import (
    AGGREGATE,
    BITWISE,
    COMPARE,
    ancestor_ops,
    finding,
    selection_derived,
)
from .graph import GraphView

EXACT = frozenset({"Equal", "Mod"}) | BITWISE


def _condition_kind(view: GraphView, name: str) -> str:
    ref = view.producer.get(name)
    if ref is not None and ref.op == "Equal" and any(selection_derived(view, i) for i in ref.node.input if i in view.tainted):
        return "selection"
    ops = ancestor_ops(view, name)
    if ops & EXACT:
        return "exact"
    if ops & AGGREGATE:
        return "aggregate"
    return "elementwise"


@check("input-control-flow")
def control_flow(view: GraphView, ctx) -> list[Finding]:
    """If/Loop steered by input-derived values (high); Where or a cast gate on an aggregated or exact-match input-derived condition."""
    out: list[Finding] = []
    ifs = [r for r in view.nodes if r.op == "If" and view.input_tainted(r, 0)]
    loops = [r for r in view.nodes if r.op == "Loop" and (view.input_tainted(r, 0) or view.input_tainted(r, 1))]
    loop_bodies = [r for r in view.nodes if r.op == "Loop" and r not in loops and view.node_tainted(r)]
    scans = [r for r in view.nodes if r.op == "Scan" and view.node_tainted(r)]
    if ifs:
        out.append(finding("input-control-flow", "high", ifs, f"{len(ifs)} If node(s) branch on an input-derived condition"))
    if loops:
        out.append(finding("input-control-flow", "high", loops,
                           f"{len(loops)} Loop node(s) with an input-derived trip count or loop condition"))
    if loop_bodies:
        out.append(finding("input-control-flow", "medium", loop_bodies,
                           f"{len(loop_bodies)} Loop node(s) iterate over input-derived values (fixed trip count)"))
    if scans:
        out.append(finding("input-control-flow", "info", scans, f"{len(scans)} Scan node(s) over input-derived values"))
    wheres: dict[str, list] = {"exact": [], "aggregate": [], "elementwise": [], "selection": []}
    for r in view.nodes:
        if r.op == "Where" and view.input_tainted(r, 0):
            wheres[_condition_kind(view, r.node.input[0])].append(r)
    gates: dict[str, list] = {"exact": [], "aggregate": []}
    for r in view.nodes:
        if r.op == "Cast" and view.node_tainted(r) and r.node.input[0] in view.producer \
                and view.producer[r.node.input[0]].op in COMPARE | {"And", "Or", "Not", "Xor"}:
            kind = _condition_kind(view, r.node.input[0])
            if kind in gates and view.reaches_output(r.node.output[0]):
                gates[kind].append(r)
    if wheres["exact"]:
        out.append(finding("input-control-flow", "high", wheres["exact"],
                           f"{len(wheres['exact'])} Where node(s) select on an exact-match input-derived condition (Equal/Mod/bitwise)"))
    if wheres["aggregate"]:
        out.append(finding("input-control-flow", "medium", wheres["aggregate"],
                           f"{len(wheres['aggregate'])} Where node(s) select on a condition aggregated over many input values"))
    if wheres["elementwise"]:
        out.append(finding("input-control-flow", "info", wheres["elementwise"],
                           f"{len(wheres['elementwise'])} elementwise Where node(s) on input-derived conditions"))
    if gates["exact"]:
        out.append(finding("input-control-flow", "high", gates["exact"],
                           f"{len(gates['exact'])} exact-match input-derived boolean(s) cast into arithmetic that reaches an output"))
    if gates["aggregate"]:
        out.append(finding("input-control-flow", "medium", gates["aggregate"],
                           f"{len(gates['aggregate'])} comparison(s) of aggregated input-derived values cast into arithmetic that "
                           "reaches an output (a multiplicative gate)"))
    return out
