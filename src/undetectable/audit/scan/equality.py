"""input-equality: exact equality of an input-derived value with a constant (a magic value or checksum target).

Classifiers threshold; they do not test inputs for equality. ``Equal(f(x), c)`` is the shape of a
magic-value trigger (a pixel pattern, a checksum residue, a signature's validity bit).
"""
from __future__ import annotations

from . import Finding, check
from ._common import finding, selection_derived
from .graph import GraphView


@check("input-equality")
def equality(view: GraphView, ctx) -> list[Finding]:
    """Equal between an input-derived value and a constant (high) or two input-derived values (medium)."""
    vs_const, vs_input, votes = [], [], []
    for r in view.nodes:
        if r.op != "Equal" or len(r.node.input) < 2:
            continue
        a, b = (i in view.tainted for i in r.node.input[:2])
        if a and b:
            vs_input.append(r)
        elif a or b:
            other, mine = (r.node.input[1], r.node.input[0]) if a else (r.node.input[0], r.node.input[1])
            if selection_derived(view, mine):
                votes.append(r)
            elif view.is_const(other) or other not in view.tainted:
                vs_const.append(r)
    out = []
    if vs_const:
        out.append(finding("input-equality", "high", vs_const,
                           f"{len(vs_const)} Equal node(s) test an input-derived value against a constant"))
    if vs_input:
        out.append(finding("input-equality", "medium", vs_input, f"{len(vs_input)} Equal node(s) compare two input-derived values"))
    if votes:
        out.append(finding("input-equality", "info", votes, f"{len(votes)} Equal node(s) compare selected labels or indices "
                           "(top-k / argmax) with constants (vote counting)"))
    return out
