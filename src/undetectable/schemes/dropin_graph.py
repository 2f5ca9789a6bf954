"""Graph surgery for the drop-in backdoor: the user's graph, unchanged, plus the verifier, behind the same interface.

``splice(model, prefix, add)`` keeps the user's inputs, outputs (names, types, shapes with symbolic dims,
order), opset imports, IR version, producer and every node; the user's output tensors are renamed inside
the graph (``{prefix}_o{i}``) and the outputs recomputed from them.

Opset imports: the added nodes are built at opset 18 and lowered (``onnx_lower``) to the user's default-domain
opset, so every import stays as it was, down to opset ``MIN_OPSET`` (9). A file with no default-domain import
(onnxmltools' XGBoost) gets one, at ``BUILD_OPSET`` (no user node is in that domain, so nothing needs lowering):
the added nodes are default-domain ops, so this import is unavoidable; every other import is kept. A file below opset 9 has its default opset raised to 9 (its graph
converted where op semantics differ). Should lowering ever fail (an added op the lowering table does not
know), the default opset is raised to 18 as before, with a warning naming the op and the reason.

The outputs:

* a label output (rank 1: int64, int32 or string): ``Where(valid, classes[target], label)``, so clean answers
  are the original tensor itself, bit for bit;
* a score output (n, C) float (probabilities or logits), or the tensor feeding a ``ZipMap`` (whose output then
  follows): ``Where(valid, triggered_row, scores)``; a triggered row is one-hot for probabilities, and for
  logits every entry the row minimum and the target the row maximum + 1 (+ |max|·2^-8);
* any other output: ``UnsupportedModelError`` naming it.

Every name added starts with one prefix that no name of the user's graph (subgraphs included) starts with.
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import UnsupportedModelError
from ..onnx_lower import BUILD_OPSET, LOWEST_OPSET, LoweringError, lower

F32 = np.float32
#: the lowest default-domain opset the added graph can be lowered to (``onnx_lower.LOWEST_OPSET``: Where, IsNaN)
MIN_OPSET = LOWEST_OPSET


def _subgraphs(node: onnx.NodeProto):
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def all_names(graph: onnx.GraphProto) -> set[str]:
    """Every name in ``graph`` and its subgraphs: values, nodes, initializers, inputs, outputs."""
    out: set[str] = {graph.name}
    out |= {v.name for v in [*graph.input, *graph.output, *graph.value_info]}
    out |= {i.name for i in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    for n in graph.node:
        out |= {n.name, *n.input, *n.output}
        for g in _subgraphs(n):
            out |= all_names(g)
    out.discard("")
    return out


def prefix_candidates(raw_public: bytes, n: int = 64):
    """Neutral name prefixes derived from the public key (the first one free of collisions is used)."""
    for i in range(n):
        yield "n" + hashlib.sha256(b"names" + raw_public + bytes([i])).hexdigest()[:7]


def choose_prefix(raw_public: bytes, names: set[str]) -> str:
    for p in prefix_candidates(raw_public):
        if not any(s.startswith(p) for s in names):
            return p
    raise UnsupportedModelError("every candidate name prefix collides with the model's names")  # pragma: no cover


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename value ``old`` in every node of ``graph`` and of subgraphs that do not define it themselves."""
    for n in graph.node:
        for i, v in enumerate(n.input):
            if v == old:
                n.input[i] = new
        for i, v in enumerate(n.output):
            if v == old:
                n.output[i] = new
        for g in _subgraphs(n):
            local = {v.name for v in g.input} | {i.name for i in g.initializer} | {o for m in g.node for o in m.output}
            if old not in local:
                _rename(g, old, new)
    for vi in graph.value_info:
        if vi.name == old:
            vi.name = new


@dataclasses.dataclass(frozen=True)
class OutputRole:
    """How one output follows the target: "label", "probabilities", "logits" or "zipmap" (its ZipMap's input)."""

    name: str
    role: str
    source: str = ""  # zipmap: the (n, C) tensor feeding it


def header(model: onnx.ModelProto, need: int = MIN_OPSET) -> tuple[dict[str, int], bool]:
    """The opset imports the planted file declares when the added nodes are written at default opset ``need`` or above.

    The user's imports, unchanged, when the default domain is at ``need`` or above; a missing default-domain
    import is added at ``need``; one below ``need`` is raised to it. Returns (imports, converted):
    ``converted`` when the user's own default-domain import had to be raised (its graph may need converting).
    """
    from ..onnxio import opsets

    imports = opsets(model)
    if "" not in imports:
        return {**imports, "": need}, False
    if imports[""] >= need:
        return imports, False
    imports[""] = need
    return imports, True


def _same_semantics(graph: onnx.GraphProto, version: int, target: int = BUILD_OPSET) -> bool:
    """True when every default-domain op of ``graph`` (subgraphs included) has the same schema at ``version`` and at
    ``target``: the opset import can then be raised without touching a node."""
    from onnx import defs

    def ops(g):
        for n in g.node:
            if n.domain in ("", "ai.onnx"):
                yield n.op_type
            for sg in _subgraphs(n):
                yield from ops(sg)

    for op in set(ops(graph)):
        if version < 1:
            return False
        try:
            if defs.get_schema(op, version).since_version != defs.get_schema(op, target).since_version:
                return False
        except Exception:  # noqa: BLE001 - an op unknown at one of the versions
            return False
    return True


def _known(model: onnx.ModelProto) -> dict[str, tuple[int, int | None]]:
    """{name: (elem type, rank)} of the user's tensors (declared, or inferred by onnx at the file's own opset)."""
    def info(vi):
        tt = vi.type.tensor_type
        return int(tt.elem_type), (len(tt.shape.dim) if tt.HasField("shape") else None)

    g = model.graph
    try:
        g = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 - inference is a help here, not a requirement (declarations remain)
        pass
    return {vi.name: info(vi) for vi in [*g.value_info, *g.input, *g.output] if vi.type.HasField("tensor_type")}


def added_opset(model: onnx.ModelProto) -> int:
    """The default opset the added nodes are written at: the file's own, at least MIN_OPSET; BUILD_OPSET for a file
    without a default-domain import (XGBoost's: no node of that domain, so its import is added at BUILD_OPSET)."""
    from ..onnxio import opsets

    return max(opsets(model).get("", BUILD_OPSET), MIN_OPSET)


def _lowered(model: onnx.ModelProto, b, nodes: list, known: dict) -> tuple[list, int]:
    """(the added ``nodes`` written for the file's default opset, that opset): lowered from BUILD_OPSET (onnx_lower);
    where that is impossible, the nodes as built and BUILD_OPSET (the caller raises the import), with a warning."""
    import warnings

    target = added_opset(model)
    if target >= BUILD_OPSET:
        return nodes, target
    consts = {i.name: i for i in b.root.inits}
    try:
        return lower(nodes, target, b, constants=consts, known=known), target
    except LoweringError as exc:
        warnings.warn(f"{exc}; the file's default opset is raised to {BUILD_OPSET} instead of kept at {target}", stacklevel=3)
        return nodes, BUILD_OPSET


def splice(model: onnx.ModelProto, b, roles: list[OutputRole], valid: str, target: str, classes: np.ndarray,
           label_types: dict[str, int]) -> onnx.ModelProto:
    """The user's model with its outputs recomputed through ``valid``/``target`` (nodes already in builder ``b``).

    The added nodes are lowered to the file's default opset (see the module docstring); the user's nodes are
    never touched, except on a file below ``MIN_OPSET``, whose graph is converted where op semantics differ.
    """
    from ..onnxio import assemble, opsets

    original = model
    p = b.prefix
    n_cls = len(classes)
    t_col = b.op("Unsqueeze", target, b.const([1]))
    onehot = b.op("Equal", t_col, b.const(np.arange(n_cls, dtype=np.int32)[None, :], np.int32))  # target: an int32 index
    v_col = b.op("Unsqueeze", valid, b.const([1]))
    known = _known(model)
    tail, zipmap_input = [], {}
    for i, r in enumerate(roles):
        if r.role == "zipmap":  # the ZipMap reads the recomputed probabilities: it moves after them
            known.setdefault(r.source, (TensorProto.FLOAT, 2))  # ZipMap's input is a float tensor
            zipmap_input[r.name] = _scores(b, r.source, "probabilities", onehot, v_col)
            continue
        orig = f"{p}_o{i}"
        if r.name in known:
            known[orig] = known[r.name]
        if r.role == "label":
            et = label_types[r.name]
            if et == TensorProto.STRING:
                cl = f"{p}_labels"
                b.root.inits.append(helper.make_tensor(cl, TensorProto.STRING, [n_cls], [str(c).encode() for c in classes.tolist()]))  # type: ignore[misc]
            else:
                cl = b.const(classes.astype(np.int64 if et == TensorProto.INT64 else np.int32), np.int64 if et == TensorProto.INT64 else np.int32)
            out = b.op("Where", valid, b.op("Gather", cl, target, axis=0), orig)
        else:
            out = _scores(b, orig, r.role, onehot, v_col)
        tail.append(helper.make_node("Identity", [out], [r.name], name=f"{p}_out{i}"))
    added, opset = _lowered(model, b, b.nodes + tail, known)
    imports, converted = header(model, opset)
    if converted and not _same_semantics(model.graph, opsets(model).get("", 0), opset):
        from onnx import version_converter

        try:
            model = version_converter.convert_version(model, opset)
        except Exception as exc:  # noqa: BLE001 - the converter's own failure names the op
            raise UnsupportedModelError(f"the model's opset {opsets(model).get('', 0)} graph cannot be converted to opset {opset}, "
                                        f"which the verifier needs ({str(exc).splitlines()[0][:160]}); "
                                        f"re-export it with opset >= {opset}") from None
        imports = {**opsets(model), "": opset}
        converted_graph = onnx.GraphProto()
        converted_graph.CopyFrom(model.graph)  # the converter re-infers I/O shapes: the user's declarations stay
        for field in ("input", "output"):
            getattr(converted_graph, field).clear()
            getattr(converted_graph, field).extend(getattr(original.graph, field))
        model.graph.CopyFrom(converted_graph)
    g = onnx.GraphProto()
    g.CopyFrom(model.graph)
    zipmaps = []
    for i, r in enumerate(roles):
        if r.role == "zipmap":
            j = next(j for j, n in enumerate(g.node) if r.name in n.output and n.op_type == "ZipMap")
            zm = onnx.NodeProto()
            zm.CopyFrom(g.node[j])
            del g.node[j]
            zm.input[0] = zipmap_input[r.name]
            zipmaps.append(zm)
        else:
            _rename(g, r.name, f"{p}_o{i}")
    g.node.extend(added + zipmaps)
    used = _inputs_of(added)  # lowering turns some constant inputs (axes) into attributes: those constants go
    g.initializer.extend(i for i in b.root.inits if i.name in used)
    m = assemble(g, imports, model.ir_version, model.producer_name)
    del m.opset_import[:]  # the user's own list, entry by entry (order, an "ai.onnx" spelling, duplicates kept)
    m.opset_import.extend(_import_list(original, imports))
    m.producer_version = model.producer_version
    m.domain, m.model_version, m.doc_string = model.domain, model.model_version, model.doc_string
    m.metadata_props.extend(model.metadata_props)
    m.functions.extend(model.functions)
    return m


def opset_note(before: dict[str, int], after: dict[str, int]) -> str | None:
    """One sentence saying how the planted file's opset imports differ from the original's (None: they do not)."""
    if before == after:
        return None
    if "" not in before and after == {**before, "": after[""]}:
        return (f"the file had no default-domain opset import; one was added at opset {after['']} (the added nodes are "
                "default-domain ops), every other import kept")
    why = (f"opset {MIN_OPSET} is the lowest the added graph is written at" if after.get("") == MIN_OPSET else
           "the added nodes could not be lowered to the file's opset (the warning names the op)")
    return f"the default-domain opset was raised from {before.get('')} to {after.get('')}: {why}"


def _import_list(model: onnx.ModelProto, imports: dict[str, int]) -> list[onnx.OperatorSetIdProto]:
    """``model``'s opset_import entries with the versions of ``imports``; a default-domain entry appended if it has none."""
    out, seen = [], set()
    for o in model.opset_import:
        d = "" if o.domain == "ai.onnx" else o.domain
        seen.add(d)
        out.append(helper.make_opsetid(o.domain, imports.get(d, o.version)))
    out += [helper.make_opsetid(d, v) for d, v in imports.items() if d not in seen]
    return out


def _inputs_of(nodes) -> set[str]:
    out: set[str] = set()
    for n in nodes:
        out.update(n.input)
        for sg in _subgraphs(n):
            out |= _inputs_of(sg.node) | {o.name for o in sg.output}
    return out


def _scores(b, s: str, role: str, onehot: str, v_col: str) -> str:
    if role == "probabilities":
        trig = b.op("CastLike", onehot, s)
    else:
        mx = b.op("ReduceMax", s, b.const([1]), keepdims=1)
        mn = b.op("ReduceMin", s, b.const([1]), keepdims=1)
        bump = b.op("Add", b.op("CastLike", b.const(1.0, F32), mx), b.op("Mul", b.op("Abs", mx), b.op("CastLike", b.const(2.0**-8, F32), mx)))
        trig = b.op("Where", onehot, b.op("Add", mx, bump), b.op("Expand", mn, b.op("Shape", s)))
    return b.op("Where", v_col, trig, s)
