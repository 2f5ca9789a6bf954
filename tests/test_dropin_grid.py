"""The drop-in payload grids: the numpy twin and the graph agree, in onnxruntime, onnx.reference and OpenVINO.

The extraction (codes, on-grid and range check, payload bits, residual bytes) is float32 arithmetic only, so
a runtime that lowers to int32/float32, fuses Mul+Add or turns a Div into a reciprocal Mul gives the same bits.
"""
from __future__ import annotations

import dropin_files as F
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from undetectable.crypto import ed25519_onnx as O
from undetectable.errors import CapacityError
from undetectable.onnxio import session
from undetectable.schemes.dropin_grid import ImageGrid, grid_graph, infer_grid


def _grid_model(g):
    b = O.Builder("p")
    bits, res, ok = grid_graph(b, "x", g, {k: f"p_{k}" for k in ("step", "offset", "low", "positions", "powers")})
    b.nodes += [helper.make_node("Identity", [t], [n]) for t, n in ((bits, "bits"), (res, "res"), (ok, "ok"))]
    gr = b.graph("g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", g.d])],
                 [helper.make_tensor_value_info("bits", TensorProto.FLOAT, ["N", g.n_bits]),
                  helper.make_tensor_value_info("res", TensorProto.FLOAT, ["N", g.residual_len]),
                  helper.make_tensor_value_info("ok", TensorProto.BOOL, ["N"])])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    return m


def _grids(rng):
    from undetectable.data import load_dataset

    pix = load_dataset("mnist5k").X_test[:100]
    Xd, _ = F.digits()
    return {
        "uint8": (infer_grid(None, (784,), "uint8", 516, 1e-3), pix.astype(np.float32)),
        "float-levels": (infer_grid(F.normalised(pix).reshape(100, -1), (1, 28, 28), "float32", 516, 1e-3),
                         F.normalised(pix).reshape(100, -1)),
        "stated": (infer_grid(None, (1, 28, 28), "float32", 516, 1e-3, ImageGrid(1 / 255, (0.1307,), (0.3081,))),
                   F.normalised(pix).reshape(100, -1)),
        "fixed-point": (infer_grid(Xd[:300], (64,), "float32", 516, 0.05), Xd[:100]),
    }


@pytest.mark.parametrize("kind", ["uint8", "float-levels", "stated", "fixed-point"])
def test_grid_graph_matches_twin_on_every_runtime(kind, rng):
    g, X = _grids(rng)[kind]
    m = _grid_model(g)
    u = g.snap(X)
    low = g.low.astype(np.int64)
    flipped = np.clip(u ^ rng.integers(0, 2, u.shape), 0, g.span - 1)
    off = X + np.where(rng.random(X.shape) < 0.01, 1e-3, 0).astype(np.float32)
    Q = np.concatenate([X, g.values(u + low), g.values(flipped + low), off, np.full((1, g.d), np.inf, np.float32), np.full((1, g.d), np.nan, np.float32)]).astype(np.float32)
    ub, ok = g.codes(Q)
    assert ok[len(X) : 3 * len(X)].all() and not ok[-2:].any()  # snapped rows are on the grid, inf and nan never are
    ort = session(m).run(None, {"x": Q})
    assert np.array_equal(ort[2], ok)
    assert np.array_equal(ort[0][ok], g.all_bits(ub)[ok][:, : g.n_bits].astype(np.float32))
    assert np.array_equal(ort[1][ok], g.residual(ub)[ok].astype(np.float32))
    from onnx.reference import ReferenceEvaluator

    ref = ReferenceEvaluator(m).run(None, {"x": Q})
    assert all(np.array_equal(a[ok], r[ok]) for a, r in zip(ort, ref)) and np.array_equal(ref[2], ok)
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    cm = core.compile_model(core.read_model(m.SerializeToString(), b""), "CPU")
    res = cm({"x": Q})
    assert all(np.array_equal(a[ok], res[cm.output(i)][ok]) for i, a in enumerate(ort)) and np.array_equal(res[cm.output(2)], ok)


def test_capacity_refused_with_numbers():
    Xd, _ = F.digits()
    with pytest.raises(CapacityError, match="13 float features"):
        infer_grid(Xd[:, :13], (13,), "float32", 514, 0.05)
    with pytest.raises(CapacityError, match="784 bits|pixels"):
        infer_grid(None, (100,), "uint8", 516, 1e-3)
