"""``onnx_lower``: nodes built at opset 18 rewritten for opsets 9..17 (Loop bodies and If branches included).

For a graph that uses every rule of the table (axes inputs, negative axes, Slice inputs, CastLike, float Equal
with NaN, GreaterOrEqual, Split num_outputs, a Loop body and If branches with the same ops): at every target
opset the lowered graph passes the full checker with shape inference and gives, in onnxruntime and in
``onnx.reference``, exactly the opset-18 graph's outputs on rows with NaN, infinities and ties. The control: the
unlowered nodes declared at opset 9 fail the checker. Refusals name the op and the reason.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from undetectable import onnxio
from undetectable.crypto.ed25519_onnx import Builder
from undetectable.errors import UnsupportedModelError
from undetectable.onnx_lower import BUILD_OPSET, LOWEST_OPSET, LoweringError, lower, ops_used

F = TensorProto.FLOAT
KNOWN = {"x": (F, 2), "y": (F, 2)}


def _i64(name, v):
    return numpy_helper.from_array(np.asarray(v, np.int64), name)


def _graph():
    """(nodes, initializers, outputs) at opset 18: every rule of the lowering table, also inside Loop and If."""
    N = helper.make_node
    inits = [_i64("ax_m1", [-1]), _i64("ax_1", [1]), _i64("s1", [1]), _i64("e3", [3]), _i64("one", [1]),
             _i64("trip", 3), numpy_helper.from_array(np.array(True), "true"), numpy_helper.from_array(np.float32(0), "zero")]
    body = helper.make_graph(
        [N("ReduceSum", ["acc", "ax_m1"], ["b_s"], keepdims=0), N("Unsqueeze", ["b_s", "ax_m1"], ["b_u"]),
         N("Equal", ["acc", "y"], ["b_e"]), N("CastLike", ["b_e", "acc"], ["b_f"]), N("Add", ["acc", "b_u"], ["b_a"]),
         N("Add", ["b_a", "b_f"], ["acc_out"]), N("Identity", ["c"], ["c_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("acc", F, None)],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_tensor_value_info("acc_out", F, None)])
    then = helper.make_graph([N("ReduceMin", ["x", "ax_m1"], ["t_o"], keepdims=0)], "then", [], [helper.make_tensor_value_info("t_o", F, None)])
    other = helper.make_graph([N("ReduceMax", ["x", "ax_m1"], ["e_o"], keepdims=0)], "else", [], [helper.make_tensor_value_info("e_o", F, None)])
    nodes = [
        N("ReduceMax", ["x", "ax_m1"], ["o1"], keepdims=0),
        N("ReduceSum", ["x", "ax_1"], ["o2"], keepdims=1),
        N("Unsqueeze", ["o1", "ax_m1"], ["u"]), N("Squeeze", ["u", "ax_m1"], ["o3"]),
        N("Slice", ["x", "s1", "e3", "ax_m1", "one"], ["o4"]),
        N("Concat", ["o4", "x"], ["o5"], axis=-1),
        N("Equal", ["x", "y"], ["eq"]), N("CastLike", ["eq", "x"], ["o6"]),
        N("GreaterOrEqual", ["x", "y"], ["o7"]),
        N("Split", ["x"], ["h1", "h2"], axis=-1, num_outputs=2), N("Sub", ["h1", "h2"], ["o8"]),
        N("Loop", ["trip", "true", "x"], ["o9"], body=body),
        N("ReduceSum", ["x"], ["total"], keepdims=0), N("Greater", ["total", "zero"], ["cond"]),
        N("If", ["cond"], ["o10"], then_branch=then, else_branch=other),
    ]
    outs = [("o1", F, 1), ("o2", F, 2), ("o3", F, 1), ("o4", F, 2), ("o5", F, 2), ("o6", F, 2), ("o7", TensorProto.BOOL, 2),
            ("o8", F, 2), ("o9", F, 2), ("o10", F, 1)]
    return nodes, inits, [helper.make_tensor_value_info(n, t, [None] * r) for n, t, r in outs]


def _model(nodes, inits, outs, opset):
    ins = [helper.make_tensor_value_info(v, F, [3, 4]) for v in ("x", "y")]
    return onnxio.assemble(helper.make_graph(nodes, "g", ins, outs, inits), {"": opset})


def _rows():
    x = np.array([[1, 2, np.nan, 4], [-np.inf, 0, 5, 5], [3, -2, 7, np.inf]], np.float32)
    y = np.array([[1, 3, np.nan, 3], [-np.inf, -0.0, 6, 5], [2, -2, np.nan, np.inf]], np.float32)
    return [{"x": x, "y": y}, {"x": -x[::-1].copy(), "y": y}]


def _same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("target", [9, 10, 11, 12, 13, 15, 17])
def test_lowered_graph_is_valid_and_exact(target):
    from onnx.reference import ReferenceEvaluator

    nodes, inits, outs = _graph()
    m18 = _model(nodes, inits, outs, BUILD_OPSET)
    b = Builder("p")
    low = lower(nodes, target, b, constants={i.name: i for i in inits}, known=KNOWN)
    m = _model(low, inits + b.root.inits, outs, target)
    onnxio.check(m)  # the full checker, strict shape inference, at the target opset
    # each runtime against itself at opset 18 (they differ from each other on ReduceMax of a NaN row)
    for run in (lambda mm: onnxio.session(mm).run, lambda mm: ReferenceEvaluator(mm).run):
        for r in _rows():
            got, want = run(m)(None, r), run(m18)(None, r)
            assert all(_same(np.asarray(g), np.asarray(v)) for g, v in zip(got, want)), target
    assert [n.op_type for n in nodes][-1] == "If" and nodes[3].input[1] == "ax_m1"  # the input nodes are untouched
    if target < 11:
        assert {"IsNaN", "Not"} <= ops_used(low)  # float Equal became comparisons, NaN kept unequal
    if target < 13:
        loop = next(n for n in low if n.op_type == "Loop")
        body = helper.get_attribute_value(loop.attribute[0])
        assert all(len(n.input) == 1 for n in body.node if n.op_type in ("ReduceSum", "Unsqueeze"))  # axes → attributes


def test_control_unlowered_nodes_fail_at_opset_9():
    nodes, inits, outs = _graph()
    with pytest.raises(UnsupportedModelError, match="checker"):
        onnxio.check(_model(nodes, inits, outs, 9))


def test_refusals_name_the_op_and_why():
    N = helper.make_node
    consts = {"ax": _i64("ax", [-1])}
    with pytest.raises(LoweringError, match="ReduceMax.*not a constant"):
        lower([N("ReduceMax", ["x", "dyn"], ["m"])], 12, Builder("p"), constants=consts, known=KNOWN)
    with pytest.raises(LoweringError, match="Concat.*rank"):
        lower([N("Concat", ["a", "b"], ["c"], axis=-1)], 10, Builder("p"), constants=consts, known={})
    with pytest.raises(LoweringError, match="Slice.*steps"):
        lower([N("Slice", ["x", "s", "e", "ax", "st"], ["o"])], 9, Builder("p"),
              constants={**consts, "s": _i64("s", [0]), "e": _i64("e", [4]), "st": _i64("st", [2])}, known=KNOWN)
    with pytest.raises(LoweringError, match="Shape.*attribute"):
        lower([N("Shape", ["x"], ["s"], start=1)], 13, Builder("p"), constants={}, known=KNOWN)
    then = helper.make_graph([N("ReduceMax", ["x", "ax"], ["t"], keepdims=0)], "then", [], [helper.make_tensor_value_info("t", F, None)])
    other = helper.make_graph([N("Identity", ["zero"], ["e"])], "else", [], [helper.make_tensor_value_info("e", F, None)])
    node = N("If", ["c"], ["o"], then_branch=then, else_branch=other)
    scalar = {**consts, "zero": numpy_helper.from_array(np.float32(0), "zero")}
    with pytest.raises(LoweringError, match="If.*rank 1 in then_branch and 0 in else_branch"):
        lower([node], 10, Builder("p"), constants=scalar, known=KNOWN)
    assert [n.op_type for n in lower([node], 11, Builder("p"), constants=scalar, known=KNOWN)] == ["If"]  # If-11 allows it
    with pytest.raises(LoweringError, match=f"lowest opset.*{LOWEST_OPSET}"):
        lower([], LOWEST_OPSET - 1, Builder("p"), constants={})
    assert isinstance(LoweringError("x"), UnsupportedModelError)


def test_at_or_above_build_opset_nodes_are_copies():
    n = helper.make_node("ReduceMax", ["x", "ax"], ["m"])
    out = lower([n], 21, Builder("p"), constants={})
    assert out == [n] and out[0] is not n
    assert onnx.helper.printable_node(out[0]) == onnx.helper.printable_node(n)
