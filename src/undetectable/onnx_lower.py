"""Lower nodes built at opset 18 to an older default-domain opset (layer 0: imports only ``errors``).

A drop-in file keeps the user's opset imports, so the nodes this package adds to the user's graph must be
valid at the user's default-domain opset (skl2onnx, LightGBM and XGBoost converters still write opset 9).
``lower(nodes, target, b, constants=..., known=...)`` returns copies of ``nodes`` (subgraphs of ``Loop`` and
``If`` included, recursively) rewritten for opset ``target`` (``LOWEST_OPSET`` ≤ target < ``BUILD_OPSET``).
It never sees the user's nodes. Each rewrite is exact (same values, NaN included):

=================================  =========  ===============================================================
op (as built at opset 18)          below      becomes
=================================  =========  ===============================================================
ReduceMax/Min/Mean/Prod/… axes in  18         ``axes`` attribute (the axes input must be a constant)
ReduceSum axes input               13         ``axes`` attribute
Squeeze / Unsqueeze axes input     13         ``axes`` attribute
Split ``split`` input              13         ``split`` attribute
Split ``num_outputs``              18         dropped: older Split cuts into as many equal parts as outputs
CastLike(x, like)                  15         ``Cast(x, to=elem type of like)``
GreaterOrEqual / LessOrEqual       12         ``Or(Greater|Less, Equal)``
Equal on float tensors             11         ``Not(Or(Or(Less, Greater), Or(IsNaN a, IsNaN b)))``
negative axes (Concat, Slice, …)   11         counted from the front (the input's rank must be known)
Slice starts/ends/axes inputs      10         attributes (constant inputs, every step 1)
=================================  =========  ===============================================================

``onnx.version_converter`` cannot do this job: it has no down-adapter for ``Loop`` below 16 (onnx 1.23
fails at "No Adapter From Version $16 for Loop") and none turns a float ``Equal`` into opset-9 ops. Below
opset 9 ``Where``, ``IsNaN`` and float ``Less`` do not exist: ``LOWEST_OPSET`` is 9. Anything the table
cannot rewrite (a dynamic axes input, a rank it cannot tell, an op or attribute unknown at ``target``, an
``If`` whose branches give outputs of different ranks below opset 11, where If-1 wants one shape)
raises ``LoweringError`` naming the op and the reason; the caller decides (the drop-in then raises the
file's default opset instead, and says why).

Examples
--------
>>> import numpy as np
>>> from onnx import TensorProto, helper, numpy_helper
>>> class B:  # anything with name(hint) and const(value, dtype) -> name (e.g. ed25519_onnx.Builder)
...     n = 0
...     inits = []
...     def name(self, hint="t"):
...         self.n += 1
...         return f"p_{hint}_{self.n}"
...     def const(self, value, dtype=np.int64):
...         self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), self.name("c")))
...         return self.inits[-1].name
>>> axes = numpy_helper.from_array(np.array([-1], np.int64), "axes")
>>> nodes = [helper.make_node("ReduceMax", ["x", "axes"], ["m"], keepdims=0), helper.make_node("Equal", ["m", "y"], ["e"])]
>>> low = lower(nodes, 9, B(), constants={"axes": axes}, known={"x": (TensorProto.FLOAT, 2), "y": (TensorProto.FLOAT, 1)})
>>> [n.op_type for n in low]
['ReduceMax', 'Less', 'Greater', 'Or', 'IsNaN', 'IsNaN', 'Or', 'Or', 'Not']
>>> helper.get_attribute_value(low[0].attribute[1]), low[-1].output[0]
([1], 'e')
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from .errors import UnsupportedModelError

#: the opset the nodes to lower were built at
BUILD_OPSET = 18
#: the lowest default-domain opset ``lower`` writes (Where, IsNaN, float Less/Greater exist from opset 9)
LOWEST_OPSET = 9

_REDUCE18 = {"ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
             "ReduceSumSquare"}
_EQUAL7_TYPES = {TensorProto.BOOL, TensorProto.INT32, TensorProto.INT64}
_FLOATS = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16}
# ops whose ``axis``/``axes`` may be negative only from opset 11; how to find the rank the axes count in
_AXIS_OPS = {"Concat", "Slice", "Squeeze", "Unsqueeze", "Split", "ReduceSum", "Softmax", "LogSoftmax", "Flatten", "ArgMax",
             "ArgMin", *_REDUCE18}

Info = tuple[int, "int | None"]  # (elem type, rank); elem 0 / rank None: unknown


class LoweringError(UnsupportedModelError):
    """A node cannot be written at the target opset (the message names the op and why)."""


class NodeSink(Protocol):
    def name(self, hint: str = ...) -> str: ...

    def const(self, value: Any, dtype: Any = ...) -> str: ...


def lower(nodes: Iterable[onnx.NodeProto], target: int, b: NodeSink, *, constants: Mapping[str, Any],
          known: Mapping[str, Info] | None = None) -> list[onnx.NodeProto]:
    """Copies of ``nodes`` (built at ``BUILD_OPSET``) rewritten to be valid at default-domain opset ``target``.

    ``b``: makes fresh names (``b.name(hint)``) and new constant initializers (``b.const(value, dtype)``);
    ``constants``: initializers the nodes may read ({name: TensorProto or array}: axes, slice bounds);
    ``known``: {name: (elem type, rank)} of the tensors the nodes read from outside (graph inputs, the user's
    tensors); types and ranks of everything else are inferred here. ``LoweringError`` when impossible.
    """
    if target >= BUILD_OPSET:
        return [_copy(n) for n in nodes]
    if target < LOWEST_OPSET:
        raise LoweringError(f"opset {target} has no Where, IsNaN or float Less, which the added graph needs; "
                            f"the lowest opset it can be written at is {LOWEST_OPSET}")
    env: dict[str, Info] = dict(known or {})
    for k, v in constants.items():
        env.setdefault(k, _const_info(v))
    return _Lowerer(target, b, constants).graph_nodes([_copy(n) for n in nodes], env)


def ops_used(nodes: Iterable[onnx.NodeProto]) -> set[str]:
    """Default-domain op types in ``nodes`` and their subgraphs, recursively."""
    out: set[str] = set()
    for n in nodes:
        if n.domain in ("", "ai.onnx"):
            out.add(n.op_type)
        for g in _subgraphs(n):
            out |= ops_used(g.node)
    return out


def _copy(n: onnx.NodeProto) -> onnx.NodeProto:
    c = onnx.NodeProto()
    c.CopyFrom(n)
    return c


def _subgraphs(node: onnx.NodeProto):
    for a in node.attribute:
        if a.type == AttributeProto.GRAPH:
            yield a.g
        elif a.type == AttributeProto.GRAPHS:
            yield from a.graphs


def _const_info(v: Any) -> Info:
    if isinstance(v, onnx.TensorProto):
        return int(v.data_type), len(v.dims)
    a = np.asarray(v)
    return int(helper.np_dtype_to_tensor_dtype(a.dtype)), a.ndim


def _declared(vi: onnx.ValueInfoProto) -> Info:
    tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
    if tt is None:
        return 0, None
    return int(tt.elem_type), (len(tt.shape.dim) if tt.HasField("shape") else None)


def _attr(n: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in n.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _set_attr(n: onnx.NodeProto, name: str, value: Any) -> None:
    _del_attr(n, name)
    n.attribute.append(helper.make_attribute(name, value))


def _del_attr(n: onnx.NodeProto, name: str) -> None:
    keep = [a for a in n.attribute if a.name != name]
    del n.attribute[:]
    n.attribute.extend(keep)


class _Lowerer:
    def __init__(self, target: int, b: NodeSink, constants: Mapping[str, Any]) -> None:
        self.t, self.b, self.constants = target, b, dict(constants)
        self.shape_of: dict[str, str] = {}  # output of a Shape node -> the tensor it read (Reshape/Expand ranks)
        self._values: dict[tuple[str, int], list[int]] = {}  # constants read as axes/bounds
        self._checked: set[tuple[str, frozenset[str], int]] = set()  # (op, attributes, inputs) valid at the target

    # --- helpers --------------------------------------------------------------------------------

    def fail(self, n: onnx.NodeProto, why: str) -> LoweringError:
        return LoweringError(f"the added node {n.op_type} ({n.output[0] if n.output else n.name}) cannot be written at opset "
                             f"{self.t}: {why}")

    def value(self, n: onnx.NodeProto, name: str) -> list[int]:
        if name not in self.constants:
            raise self.fail(n, f"its input {name!r} is not a constant")
        v = self.constants[name]
        key = (name, id(v))
        if key not in self._values:
            self._values[key] = [int(x) for x in np.asarray(numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v).reshape(-1)]
        return list(self._values[key])

    def axes(self, n: onnx.NodeProto, axes: list[int], rank: int | None) -> list[int]:
        """``axes`` counted from the front where the target has no negative axes."""
        if self.t >= 11 or all(a >= 0 for a in axes):
            return axes
        if rank is None:
            raise self.fail(n, "a negative axis needs the input's rank, which is not known here")
        return [a + rank if a < 0 else a for a in axes]

    def new(self, op: str, inputs: list[str], out: str | None = None, **attrs: Any) -> onnx.NodeProto:
        return helper.make_node(op, inputs, [out or self.b.name(op)], **attrs)

    # --- types and ranks (opset-18 semantics, before rewriting) ---------------------------------

    def infer(self, n: onnx.NodeProto, env: dict[str, Info]) -> None:
        ins = [env.get(i, (0, None)) if i else (0, None) for i in n.input]
        e0, r0 = ins[0] if ins else (0, None)
        op = n.op_type
        ranks = [r for _, r in ins]
        bcast = max(ranks) if ranks and None not in ranks else None  # type: ignore[type-var]
        out: list[Info]
        if op in ("Abs", "Floor", "Ceil", "Neg", "Identity", "Relu", "Sqrt", "Exp", "Log", "Sign", "Round", "Reciprocal",
                  "Softmax", "LogSoftmax", "Slice", "Transpose", "Compress", "CumSum"):
            out = [(e0, r0)]
        elif op in ("Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow", "Mod"):
            out = [(e0, bcast)]
        elif op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"):
            out = [(TensorProto.BOOL, bcast)]
        elif op in ("Not", "IsNaN", "IsInf"):
            out = [(TensorProto.BOOL, r0)]
        elif op == "Cast":
            out = [(int(_attr(n, "to")), r0)]
        elif op == "CastLike":
            out = [(ins[1][0], r0)]
        elif op == "Where":
            out = [(ins[1][0], bcast)]
        elif op == "MatMul":
            r1 = ins[1][1]
            out = [(e0, None if r0 is None or r1 is None else 0 if r0 == r1 == 1 else r1 - 1 if r0 == 1 else r0 - 1 if r1 == 1
                    else max(r0, r1))]
        elif op == "Concat":
            out = [(e0, next((r for r in ranks if r is not None), None))]
        elif op == "Gather":
            r1 = ins[1][1]
            out = [(e0, None if r0 is None or r1 is None else r0 + r1 - 1)]
        elif op == "Shape":
            out = [(TensorProto.INT64, 1)]
        elif op in ("Reshape", "Expand"):
            length = self.length(n.input[1], env)
            out = [(e0, length if op == "Reshape" or r0 is None or length is None else max(r0, length))]
        elif op in ("Unsqueeze", "Squeeze"):
            k = len(self.value(n, n.input[1])) if len(n.input) > 1 and n.input[1] in self.constants else (
                len(_attr(n, "axes")) if _attr(n, "axes") is not None else None)
            out = [(e0, None if r0 is None or k is None else r0 + k if op == "Unsqueeze" else r0 - k)]
        elif op in _REDUCE18 or op in ("ReduceSum", "ArgMax", "ArgMin"):
            keep = int(_attr(n, "keepdims", 1))
            e = TensorProto.INT64 if op.startswith("Arg") else e0
            if keep or r0 is None:
                out = [(e, r0 if keep else None)]
            elif op.startswith("Arg"):
                out = [(e, r0 - 1)]
            elif len(n.input) > 1 and n.input[1]:
                out = [(e, r0 - len(self.value(n, n.input[1]))) if n.input[1] in self.constants else (e, None)]
            else:
                out = [(e, 0)]
        elif op == "Split":
            out = [(e0, r0)] * len(n.output)
        elif op == "Loop":
            out = self.loop(n, env, ins)
        elif op == "If":
            out = self.if_(n, env)
        else:
            out = [(0, None)] * len(n.output)
        for name, info in zip(n.output, out):
            if name:
                env[name] = info

    def length(self, name: str, env: dict[str, Info]) -> int | None:
        """The length of a 1-D shape tensor: a constant's size, or the rank of the tensor a Shape node read."""
        if name in self.constants:
            v = self.constants[name]
            return int(np.prod(v.dims)) if isinstance(v, onnx.TensorProto) else int(np.asarray(v).size)
        src = self.shape_of.get(name)
        return env.get(src, (0, None))[1] if src is not None else None

    def loop(self, n: onnx.NodeProto, env: dict[str, Info], ins: list[Info]) -> list[Info]:
        body = _attr(n, "body")
        inner = dict(env)
        carried = ins[2:]
        seeds: list[Info] = [(TensorProto.INT64, 0), (TensorProto.BOOL, 0), *carried]
        for vi, seed in zip(body.input, seeds):
            e, r = _declared(vi)
            inner[vi.name] = (e or seed[0], r if r is not None else seed[1])
        self.subgraph(n, "body", inner)
        outs = [inner.get(o.name, _declared(o)) for o in body.output[1:]]
        k = len(carried)
        return [*[(o[0] or c[0], c[1] if c[1] is not None else o[1]) for o, c in zip(outs[:k], carried)],
                *[(e, None if r is None else r + 1) for e, r in outs[k:]]]

    def if_(self, n: onnx.NodeProto, env: dict[str, Info]) -> list[Info]:
        results = []
        for branch in ("then_branch", "else_branch"):
            inner = dict(env)
            self.subgraph(n, branch, inner)
            results.append([inner.get(o.name, _declared(o)) for o in _attr(n, branch).output])
        if self.t < 11:  # If-1: both branches must give outputs of one shape
            for (_, ra), (_, rb), o in zip(*results, n.output):
                if ra is not None and rb is not None and ra != rb:
                    raise self.fail(n, f"output {o!r} has rank {ra} in then_branch and {rb} in else_branch; opset {self.t}'s "
                                       "If needs one shape for both (make both branches give the same shape)")
        return [a if a[1] is not None else b for a, b in zip(*results)]

    def subgraph(self, n: onnx.NodeProto, attr: str, inner: dict[str, Info]) -> None:
        """Lower the subgraph ``attr`` of node ``n`` in place (``n`` is already a copy), types in ``inner``."""
        g = next(a.g for a in n.attribute if a.name == attr)
        saved = dict(self.constants)
        for i in g.initializer:
            self.constants[i.name] = i
            inner[i.name] = _const_info(i)
        new = self.graph_nodes([_copy(m) for m in g.node], inner)
        del g.node[:]
        g.node.extend(new)
        self.constants = saved

    # --- rewriting ------------------------------------------------------------------------------

    def graph_nodes(self, nodes: list[onnx.NodeProto], env: dict[str, Info]) -> list[onnx.NodeProto]:
        out: list[onnx.NodeProto] = []
        for n in nodes:
            if n.domain not in ("", "ai.onnx"):
                raise self.fail(n, f"it is in domain {n.domain!r}, not the default one")
            if n.op_type == "Shape":
                self.shape_of[n.output[0]] = n.input[0]
            self.infer(n, env)  # before rewriting: opset-18 semantics (also lowers subgraphs)
            for m in self.rewrite(n, env):
                self.check_schema(m)
                out.append(m)
        return out

    def check_schema(self, n: onnx.NodeProto) -> None:
        from onnx import defs

        key = (n.op_type, frozenset(a.name for a in n.attribute), len(n.input))
        if key in self._checked:
            return

        try:
            schema = defs.get_schema(n.op_type, self.t)
        except Exception:  # noqa: BLE001 - onnx raises its own SchemaError
            raise self.fail(n, "the op does not exist at that opset") from None
        unknown = {a.name for a in n.attribute} - set(schema.attributes)
        if unknown:
            raise self.fail(n, f"attribute(s) {sorted(unknown)} do not exist at that opset")
        if len([i for i in n.input]) > len(schema.inputs) and not (schema.inputs and schema.inputs[-1].option ==
                                                                    defs.OpSchema.FormalParameterOption.Variadic):
            raise self.fail(n, f"it has {len(n.input)} inputs; opset {self.t}'s {n.op_type} takes {len(schema.inputs)}")
        self._checked.add(key)

    def rewrite(self, n: onnx.NodeProto, env: dict[str, Info]) -> list[onnx.NodeProto]:
        op, t = n.op_type, self.t
        rank0 = env.get(n.input[0], (0, None))[1] if n.input else None
        if op in ("GreaterOrEqual", "LessOrEqual") and t < 12:
            strict = self.new("Greater" if op == "GreaterOrEqual" else "Less", list(n.input))
            eq = self.new("Equal", list(n.input))
            env[eq.output[0]] = (TensorProto.BOOL, None)
            return [strict, *self.rewrite(eq, env), self.new("Or", [strict.output[0], eq.output[0]], n.output[0])]
        if op == "Equal" and t < 11:
            elem = env.get(n.input[0], (0, None))[0] or env.get(n.input[1], (0, None))[0]
            if elem == 0:
                raise self.fail(n, "the element type of its inputs is not known here")
            if elem in _EQUAL7_TYPES:
                return [n]
            a, b = n.input
            nodes = [self.new("Less", [a, b]), self.new("Greater", [a, b])]
            nodes.append(self.new("Or", [nodes[0].output[0], nodes[1].output[0]]))
            bad = nodes[-1].output[0]
            if elem in _FLOATS:
                nodes += [self.new("IsNaN", [a]), self.new("IsNaN", [b])]
                nodes.append(self.new("Or", [nodes[-2].output[0], nodes[-1].output[0]]))
                nodes.append(self.new("Or", [bad, nodes[-1].output[0]]))
                bad = nodes[-1].output[0]
            return [*nodes, self.new("Not", [bad], n.output[0])]
        if op == "CastLike" and t < 15:
            elem = env.get(n.input[1], (0, None))[0]
            if not elem:
                raise self.fail(n, "the element type of its second input is not known here")
            return [self.new("Cast", [n.input[0]], n.output[0], to=elem)]
        if op in _REDUCE18 or op == "ReduceSum":
            if t < (13 if op == "ReduceSum" else 18):
                if len(n.input) > 1 and n.input[1]:
                    axes = self.axes(n, self.value(n, n.input[1]), rank0)
                    if not axes and _attr(n, "noop_with_empty_axes", 0):
                        raise self.fail(n, "noop_with_empty_axes has no equivalent")
                    del n.input[1:]
                    _set_attr(n, "axes", axes)
                _del_attr(n, "noop_with_empty_axes")
            return [n]
        if op in ("Squeeze", "Unsqueeze"):
            if len(n.input) > 1 and n.input[1] and t < 13:
                axes = self.value(n, n.input[1])
                rank = rank0 if op == "Squeeze" or rank0 is None else rank0 + len(axes)
                del n.input[1:]
                _set_attr(n, "axes", self.axes(n, axes, rank))
            return [n]
        if op == "Split":
            if _attr(n, "num_outputs") is not None and t < 18:
                _del_attr(n, "num_outputs")  # older Split: as many equal parts as outputs (uneven splits are not lowered)
            if len(n.input) > 1 and n.input[1] and t < 13:
                _set_attr(n, "split", self.value(n, n.input[1]))
                del n.input[1:]
            if _attr(n, "axis", 0) < 0 and t < 11:
                _set_attr(n, "axis", self.axes(n, [_attr(n, "axis")], rank0)[0])
            return [n]
        if op == "Slice" and t < 11:
            starts, ends = self.value(n, n.input[1]), self.value(n, n.input[2])
            axes = self.value(n, n.input[3]) if len(n.input) > 3 and n.input[3] else list(range(len(starts)))
            steps = self.value(n, n.input[4]) if len(n.input) > 4 and n.input[4] else [1] * len(starts)
            axes = self.axes(n, axes, rank0)
            if t < 10:
                if any(s != 1 for s in steps):
                    raise self.fail(n, f"steps {steps}: opset {t}'s Slice has no steps")
                return [self.new("Slice", [n.input[0]], n.output[0], starts=starts, ends=ends, axes=axes)]
            del n.input[3:]
            n.input.extend([self.b.const(axes), self.b.const(steps)])
            return [n]
        if op in _AXIS_OPS and t < 11:
            axis = _attr(n, "axis")
            if axis is not None and axis < 0:
                rank = next((r for r in (env.get(i, (0, None))[1] for i in n.input) if r is not None), None) if op == "Concat" else rank0
                _set_attr(n, "axis", self.axes(n, [axis], rank)[0])
        return [n]
