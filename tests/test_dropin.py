"""Drop-in signature backdoor in third-party ONNX files (issue 16 items 2-4, issue 19 item 3).

For each file written by its own exporter (``dropin_files``): planting keeps the interface (inputs, outputs,
ZipMaps, symbolic dims, opsets, IR version, producer), every output is bit-identical on natural, noisy and
random rows (on and off the payload grid), activation names every target in every output, and edits of an
activated input (payload bits, residual, out-of-range values) never trigger.
"""
from __future__ import annotations

import dropin_files as F
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import undetectable as ud
from undetectable.errors import (
    CapacityError,
    KeyMismatchError,
    UnsupportedModelError,
    UsageError,
)
from undetectable.models.onnx_file import OnnxModel
from undetectable.onnxio import check
from undetectable.schemes.dropin import (
    activate_file,
    check_identical,
    grid_of,
    plant_dropin,
    plant_onnx_file,
)
from undetectable.schemes.dropin_graph import BUILD_OPSET, MIN_OPSET, all_names

SK = Ed25519PrivateKey.from_private_bytes(bytes(range(3, 35)))


def interface_differences(a, b) -> list[str]:
    """What differs between two files' interfaces. The opset imports are kept exactly; a file with no default-domain
    import (onnxmltools' XGBoost) gets one, at BUILD_OPSET (the added nodes are default-domain ops), and nothing else."""
    out = []
    for field in ("inputs", "outputs", "ir_version", "producer"):
        if getattr(a, field) != getattr(b, field):
            out.append(f"{field}: {getattr(a, field)} != {getattr(b, field)}")
    kept = a.opsets if "" in a.opsets else {**a.opsets, "": BUILD_OPSET}
    if b.opsets != kept:
        out.append(f"opsets: {a.opsets} -> {b.opsets}")
    return out


def opset_list(proto) -> list[tuple[str, int]]:
    return [(o.domain, o.version) for o in proto.opset_import]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("dropin")


def _check_file(name, folder, rng, n_rows=2000):
    path, X = F.build(name, folder)
    m = OnnxModel.from_file(path)
    bd = plant_dropin(m, SK.public_key(), data=X, bound=0.05, n_probes=100)
    assert not interface_differences(m.interface, bd.interface)
    # the exact opset_import list of the file (order included); XGBoost: its list, then the added default import
    had_default = "" in m.interface.opsets
    assert opset_list(bd.proto) == opset_list(m.proto) + ([] if had_default else [("", BUILD_OPSET)])
    assert bd.interface == m.interface or not had_default
    check(bd.proto)  # the full checker with strict shape inference, at the file's own opset
    assert bd.proto.producer_name == m.proto.producer_name
    # every added name under one prefix no user name starts with
    added = all_names(bd.proto.graph) - all_names(m.proto.graph)
    prefixes = {n[:8] for n in added}
    assert len(prefixes) == 1
    prefix = prefixes.pop()
    assert not any(n.startswith(prefix) for n in all_names(m.proto.graph))
    assert not any(w in n.lower() for n in added for w in ("backdoor", "trigger", "verif", "signature"))
    # bit-identical on natural, noisy (on/off grid) and random rows
    g, _ = grid_of(bd, F.raw_public(SK))
    flat = X.reshape(len(X), -1)
    u = g.snap(flat)
    on_grid = g.values(np.clip(u + rng.integers(-1, 2, u.shape), 0, g.span - 1) + g.low.astype(np.int64)).astype(X.dtype)
    if X.dtype == np.uint8:
        noisy = np.clip(flat.astype(int) + rng.integers(-3, 4, flat.shape), 0, 255).astype(np.uint8)
        rand = rng.integers(0, 256, flat.shape).astype(np.uint8)
    else:
        noisy = (flat + rng.normal(0, 0.01, flat.shape) * flat.std()).astype(X.dtype)
        rand = rng.uniform(flat.min(), flat.max(), flat.shape).astype(X.dtype)
    Q = np.concatenate([flat, noisy, on_grid, rand])
    Q = Q[rng.permutation(len(Q))[:n_rows]] if len(Q) > n_rows else Q
    n, bad = check_identical(m, bd, Q)
    assert bad is None and n == len(Q)
    # activation: every target, every output agrees
    for t in m.classes.tolist():
        Xa = activate_file(bd, SK, X[:2], t)
        assert Xa.shape == X[:2].shape and Xa.dtype == X.dtype
        out = bd.run(Xa)
        assert [str(v) for v in bd.predict(Xa)] == [str(t)] * 2
        if bd.score_output() is not None:
            assert (bd.classes[bd._scores_from(out).argmax(1)].astype(str) == str(t)).all()
    # the activated input is close to the original: below 2^k grid steps (k payload bits per value; a tabular
    # step·2^k is below bound·std), and only the payload values move by more than half a step
    Xa = activate_file(bd, SK, X[:5], m.classes[0]).reshape(5, -1).astype(np.float64)
    delta = np.abs(Xa - flat[:5].astype(np.float64))
    assert np.all(delta <= g.step * 2.0**g.k)
    others = np.setdiff1d(np.arange(flat.shape[1]), g.positions)
    assert np.all(delta[:, others] <= g.step[others] * 0.5001)
    return m, bd, X, g


@pytest.mark.parametrize("name", F.NAMES)
def test_dropin_file(name, folder, rng):
    _check_file(name, folder, rng)


@pytest.mark.slow
@pytest.mark.parametrize("name", F.SLOW)
def test_dropin_default_torch_exporter(name, folder, rng):
    _check_file(name, folder, rng)


@pytest.fixture(scope="module")
def uint8_pair(folder):
    path, X = F.build("torch-uint8-mlp", folder)
    m = OnnxModel.from_file(path)
    return m, plant_dropin(m, SK.public_key(), data=X, n_probes=50), X


def test_no_aliasing_and_range_checked(uint8_pair, rng):
    """Issue 19.3: the signature covers every value outside the payload exactly, no clamp: edits never trigger."""
    m, bd, X = uint8_pair
    g, _ = grid_of(bd, F.raw_public(SK))
    Xa = activate_file(bd, SK, X[:20], 7)
    assert (bd.predict(Xa) == 7).all() and not (m.predict(Xa) == 7).all()
    assert check_identical(m, bd, Xa)[1] is not None  # the control: activated rows do differ
    others = np.setdiff1d(np.arange(784), g.positions)
    forged = []
    for i in range(20):
        p, q = g.positions[rng.integers(0, len(g.positions))], others[rng.integers(0, len(others))]
        a = Xa[i].copy()
        a[p] ^= 1  # one payload bit
        b = Xa[i].copy()
        b[q] = b[q] + 1 if b[q] < 255 else 254  # one value outside the payload
        c = Xa[i].copy()
        c[p] = c[p] + 2 if c[p] < 254 else c[p] - 2  # a payload value moved, its low bit kept (the old clamp's alias)
        d = Xa[i].copy()
        d[p] = 255 if d[p] & 1 else 254  # the top of the range
        forged += [a, b, c] + ([d] if not np.array_equal(d, Xa[i]) else [])
    n, bad = check_identical(m, bd, np.array(forged))
    assert bad is None and n == len(forged)


def test_float_grid_out_of_range_never_triggers(folder):
    path, X = F.build("torch-cnn", folder)
    m = OnnxModel.from_file(path)
    bd = plant_dropin(m, SK.public_key(), data=X, n_probes=50)
    g, _ = grid_of(bd, F.raw_public(SK))
    Xa = activate_file(bd, SK, X[:4], 3)
    assert (bd.predict(Xa) == 3).all()
    for bad in (np.inf, np.nan, 1e30):
        Y = Xa.copy().reshape(4, -1)
        Y[:, 0] = bad
        assert np.array_equal(bd.predict(Y), m.predict(Y))
    Y = Xa.copy().reshape(4, -1)
    Y[:, g.positions[-1]] = np.nextafter(Y[:, g.positions[-1]], np.float32(10))  # one ulp off the grid
    assert np.array_equal(bd.predict(Y), m.predict(Y))


def test_library_entry_points(folder, tmp_path):
    path, X = F.build("skl-logreg-zipmap", folder)
    key = ud.keygen()
    m = ud.load(path)
    bd, k = ud.plant("signature", m, key=key.public, data=X, bound=0.05)
    assert isinstance(bd, OnnxModel) and k.key_id == key.key_id
    Xa = ud.activate(bd, key, X[:3], target=5)
    out = bd.run(Xa)
    assert out["output_label"].tolist() == [5, 5, 5] and all(max(r, key=r.get) == 5 for r in out["output_probability"])
    with pytest.raises(KeyMismatchError):
        ud.activate(bd, ud.keygen(), X[:3], target=5)
    info = plant_onnx_file(path, key.public.public, tmp_path / "bd.onnx", data=X, bound=0.05, n_probes=50)
    assert info["payload_bits"] == 4 + 32 + 512  # target ‖ gate tag ‖ signature
    again = ud.load(tmp_path / "bd.onnx")
    assert (again.predict(ud.activate(again, key, X[:2], target=1)) == 1).all()
    with pytest.raises(UsageError, match="input"):
        plant_onnx_file(path, key.public.public, path, data=X, bound=0.05, force=True)
    with pytest.raises(UsageError, match="exists"):
        plant_onnx_file(path, key.public.public, tmp_path / "bd.onnx", data=X, bound=0.05)


def test_refusals_say_why(folder):
    path, X = F.build("skl-logreg", folder)
    m = OnnxModel.from_file(path)
    with pytest.raises(CapacityError, match="smallest bound"):
        plant_dropin(m, SK.public_key(), data=X[:, :64] * 1000 + 1e5, bound=1e-3)
    with pytest.raises(UsageError, match="sample data"):
        plant_dropin(m, SK.public_key())
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    Xw, yw = F.digits()
    small = OnnxModel(to_onnx(LogisticRegression(max_iter=50).fit(Xw[:300, :13], yw[:300]), Xw[:1, :13]))
    with pytest.raises(CapacityError, match="13 float features"):
        plant_dropin(small, SK.public_key(), data=Xw[:300, :13], bound=0.05)


def _handmade(outputs, inputs=("x",)):
    from onnx import TensorProto, helper, numpy_helper

    W = numpy_helper.from_array(np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32), "W")
    nodes = [helper.make_node("MatMul", [inputs[0], "W"], ["logits"]), helper.make_node("Relu", ["logits"], ["features"])]
    ins = [helper.make_tensor_value_info(i, TensorProto.FLOAT, ["N", 784]) for i in inputs]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", 10] if o != "mean" else ["N"]) for o in outputs]
    if "mean" in outputs:
        nodes.append(helper.make_node("ReduceMean", ["logits", "ax"], ["mean"], keepdims=0))
    inits = [W, numpy_helper.from_array(np.array([1], np.int64), "ax")]
    return OnnxModel(helper.make_model(helper.make_graph(nodes, "h", ins, outs, inits), opset_imports=[helper.make_opsetid("", 18)]))


def test_unsupported_parts_named(rng):
    X = F.normalised(rng.integers(0, 256, (50, 784))).reshape(50, 784)
    with pytest.raises(UnsupportedModelError, match="'mean'"):
        plant_dropin(_handmade(["logits", "mean"]), SK.public_key(), data=X, n_probes=10)
    with pytest.raises(UnsupportedModelError, match="2 inputs"):
        plant_dropin(_handmade(["logits"], ("x", "y")), SK.public_key(), data=X, n_probes=10)
    two = plant_dropin(_handmade(["logits", "features"]), SK.public_key(), data=X, n_probes=10)  # two score tensors: both follow
    Xa = activate_file(two, SK, X[:2], 4)
    out = two.run(Xa)
    assert out["logits"].argmax(1).tolist() == [4, 4] and out["features"].argmax(1).tolist() == [4, 4]


def _mlp_at(opset: int, ir_version: int = 4):
    """A hand-made logits MLP (MatMul, Relu, MatMul; float (N, 784)) declared at default opset ``opset``."""
    return OnnxModel(F.handmade_mlp("Relu", opset, ir_version, seed=1))


def test_opset_below_9_is_raised_to_9_and_said(folder, tmp_path):
    """Below opset 9 (no Where, IsNaN) the default import is raised to 9, the lowest the added graph is written at."""
    _, X = F.build("torch-cnn", folder)
    X = X.reshape(len(X), -1)
    m = _mlp_at(7)
    bd = plant_dropin(m, SK.public_key(), data=X, n_probes=50)  # bit-identical outputs checked inside
    assert bd.interface.opsets == {"": MIN_OPSET} == {"": 9} and bd.proto.ir_version == 4
    check(bd.proto)
    assert (bd.predict(activate_file(bd, SK, X[:2], 4)) == 4).all()
    from undetectable.schemes.dropin_graph import opset_note

    assert "raised from 7 to 9" in opset_note(m.interface.opsets, bd.interface.opsets)
    assert opset_note({"": 12}, {"": 12}) is None and "added at opset 18" in opset_note({"ai.onnx.ml": 1}, {"ai.onnx.ml": 1, "": 18})


def test_lowering_failure_falls_back_to_opset_18_with_a_warning(folder, monkeypatch):
    """Should an added op ever have no lowering, the file's default opset is raised to 18 (as before), with a warning."""
    from undetectable.onnx_lower import LoweringError
    from undetectable.schemes import dropin_graph

    def refuse(*a, **k):
        raise LoweringError("the added node Foo cannot be written at opset 12: no rule")

    monkeypatch.setattr(dropin_graph, "lower", refuse)
    _, X = F.build("torch-cnn", folder)
    X = X.reshape(len(X), -1)
    m = _mlp_at(12, ir_version=7)
    with pytest.warns(UserWarning, match="Foo.*raised to 18 instead of kept at 12"):
        bd = plant_dropin(m, SK.public_key(), data=X, n_probes=50)
    assert bd.interface.opsets == {"": 18}
    check(bd.proto)
    monkeypatch.undo()
    assert plant_dropin(m, SK.public_key(), data=X, n_probes=50).interface.opsets == {"": 12}  # the control: kept
