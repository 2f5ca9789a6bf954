"""The drop-in backdoor's gate (issue 16, speed): a public 32-bit tag so the verifier runs only on rows that pass it.

The gate's graph agrees with its numpy twin in onnxruntime, onnx.reference and OpenVINO (natural rows fail it,
tagged rows pass it, NaN never passes); the If maps the gated rows' answers back to their positions for batches
with none, some and all rows gated; a planted file triggers on exactly its activated rows in a mixed batch, and a
row with a correct tag but a wrong signature passes the gate and does not trigger; the scanner sees the If.
"""
from __future__ import annotations

import dropin_files as F
import numpy as np
import onnx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from onnx import TensorProto, helper

from undetectable.crypto import ed25519_onnx as O
from undetectable.models.onnx_file import OnnxModel
from undetectable.onnxio import assemble, check, session
from undetectable.schemes.dropin import activate_file, check_identical, grid_of, plant_dropin
from undetectable.schemes.dropin_gate import GATE_BITS, add_gate, gate_constants, gate_passes, gated, tag_bits
from undetectable.schemes.dropin_grid import ImageGrid, infer_grid
from undetectable.schemes.signature import SIG_BITS

SK = Ed25519PrivateKey.from_private_bytes(bytes(range(11, 43)))
RAW = F.raw_public(SK)
T_BITS = 4


def _runtimes(m: onnx.ModelProto, feeds: dict) -> list[list]:
    """The outputs of ``m`` in onnxruntime, onnx.reference and (where installed) OpenVINO's CPU plugin."""
    from onnx.reference import ReferenceEvaluator

    outs = [session(m).run(None, feeds), ReferenceEvaluator(m).run(None, feeds)]
    try:
        import openvino as ov
    except ImportError:  # pragma: no cover - openvino is a test dependency
        return outs
    core = ov.Core()
    cm = core.compile_model(core.read_model(m.SerializeToString(), b""), "CPU")
    res = cm(feeds)
    outs.append([res[cm.output(i)] for i in range(len(m.graph.output))])
    return outs


def test_constants_come_from_the_key():
    W, c = gate_constants(RAW)
    again, c2 = gate_constants(RAW)
    other, c3 = gate_constants(F.raw_public(Ed25519PrivateKey.from_private_bytes(bytes(32))))
    assert W.shape == (GATE_BITS, SIG_BITS) and set(np.unique(W)) == {0, 1} and c.any()
    assert np.array_equal(W, again) and np.array_equal(c, c2)
    assert not np.array_equal(W, other) and not np.array_equal(c, c3)
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, (2000, SIG_BITS)).astype(np.uint8)
    assert gate_passes(RAW, tag_bits(RAW, s), s).all()
    assert not gate_passes(RAW, rng.integers(0, 2, (2000, GATE_BITS)), s).any()  # random tags: 2000 · 2^-32
    assert not gate_passes(RAW, np.zeros((1, GATE_BITS)), np.zeros((1, SIG_BITS))).any()  # c ≠ 0: a zero payload fails
    t = tag_bits(RAW, s[:1])
    for i in range(0, SIG_BITS, 37):  # one signature bit changed: the tag no longer matches (every column of W non-zero)
        s1 = s[:1].copy()
        s1[0, i] ^= 1
        assert gate_passes(RAW, t, s1).tolist() == [not W[:, i].any()]


def _gate_model(g, dtype) -> onnx.ModelProto:
    b = O.Builder("p")
    ok, t = add_gate(b, "x", g, np.dtype(dtype), RAW, T_BITS)
    b.nodes += [helper.make_node("Identity", [ok], ["gate"]), helper.make_node("Identity", [t], ["target"])]
    gr = b.graph("g", [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), ["N", g.d])],
                 [helper.make_tensor_value_info("gate", TensorProto.BOOL, ["N"]), helper.make_tensor_value_info("target", TensorProto.FLOAT, ["N"])])
    m = assemble(gr)
    check(m)
    return m


def _grids():
    from undetectable.data import load_dataset

    pix = load_dataset("mnist5k").X_test[:60]
    Xd, _ = F.digits()
    n_bits = T_BITS + GATE_BITS + SIG_BITS
    return {
        "uint8": (infer_grid(None, (784,), "uint8", n_bits, 1e-3), pix.astype(np.uint8), np.uint8),
        "stated": (infer_grid(None, (1, 28, 28), "float32", n_bits, 1e-3, ImageGrid(1 / 255, (0.1307,), (0.3081,))),
                   F.normalised(pix).reshape(60, -1), np.float32),
        "fixed-point": (infer_grid(Xd[:300], (64,), "float32", n_bits, 0.05), Xd[:60], np.float32),
        "fixed-point float64": (infer_grid(Xd[:300], (64,), "float64", n_bits, 0.05), Xd[:60].astype(np.float64), np.float64),
    }


@pytest.mark.filterwarnings("ignore:invalid value")  # onnx.reference on the NaN/inf rows
@pytest.mark.parametrize("kind", ["uint8", "stated", "fixed-point", "fixed-point float64"])
def test_gate_graph_matches_twin_on_every_runtime(kind, rng):
    g, X, dtype = _grids()[kind]
    m = _gate_model(g, dtype)
    n = len(X)
    u = g.snap(X)
    sig = rng.integers(0, 2, (n, SIG_BITS)).astype(np.uint8)
    t = rng.integers(0, 2**T_BITS, n)
    tags = tag_bits(RAW, sig)
    wrong = tags ^ (rng.random(tags.shape) < 0.1)
    wrong[:, 0] ^= ~(wrong != tags).any(axis=1)  # at least one tag bit wrong on every row

    def rows(tag):
        bits = np.concatenate([((t[:, None] >> np.arange(T_BITS - 1, -1, -1)) & 1), tag, sig], axis=1)
        return g.values(g.write(u, bits) + g.low.astype(np.int64)).astype(dtype)

    tagged, mistagged = rows(tags), rows(wrong)
    bad = X[:3].astype(np.float64 if dtype != np.uint8 else np.float32).copy()
    if dtype != np.uint8:
        bad[0, g.positions[0]], bad[1, g.positions[5]], bad[2, :] = np.nan, np.inf, 1e30
    Q = np.concatenate([X, tagged, mistagged] + ([bad.astype(dtype)] if dtype != np.uint8 else [])).astype(dtype)
    want_gate = np.r_[np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool), np.zeros(len(Q) - 3 * n, bool)]
    for gate, target in _runtimes(m, {"x": Q}):
        assert np.array_equal(gate, want_gate)
        assert np.array_equal(target[n : 3 * n], np.r_[t, t].astype(np.float32))
        assert np.isfinite(target).all() and (target >= 0).all() and (target < 2**T_BITS).all()  # an index even for NaN/inf rows


def _gated_model() -> onnx.ModelProto:
    """gate = x[:, 0] > 0; the gated branch answers x[:, 1] > 0 on the compressed rows only."""
    b = O.Builder("p")
    gate = b.op("Greater", b.op("Gather", "x", b.const(0, np.int32), axis=1), b.const(0.0, np.float32))

    def branch(tb, k_rows):
        return tb.op("Greater", tb.op("Gather", k_rows[0], tb.const(1, np.int32), axis=1), tb.const(0.0, np.float32))

    out = gated(b, gate, ["x"], branch)
    b.nodes.append(helper.make_node("Identity", [out], ["y"]))
    gr = b.graph("g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])], [helper.make_tensor_value_info("y", TensorProto.BOOL, ["N"])])
    m = assemble(gr)
    check(m)
    assert [n.op_type for n in m.graph.node].count("If") == 1
    return m


@pytest.mark.parametrize("pattern", ["", "0000", "1111", "1", "0", "0100", "1001", "0110101", "1000000001"])
def test_gated_answers_map_back_to_their_rows(pattern, rng):
    m = _gated_model()
    g = np.array([c == "1" for c in pattern], bool)
    x = np.stack([np.where(g, 1.0, -1.0), rng.choice([-1.0, 1.0], len(g))], axis=1).astype(np.float32).reshape(-1, 2)
    want = g & (x[:, 1] > 0)
    for (y,) in _runtimes(m, {"x": x}):
        assert y.dtype == bool and y.tolist() == want.tolist()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    path, X = F.build("torch-uint8-mlp", tmp_path_factory.mktemp("gate"))
    m = OnnxModel.from_file(path)
    return m, plant_dropin(m, SK.public_key(), data=X, n_probes=30), X


def _gate_of(bd, X) -> np.ndarray:
    """The numpy twin of the file's gate on flat rows X (the tag check)."""
    g, n_classes = grid_of(bd, RAW)
    u, _ = g.codes(X.reshape(len(X), -1))
    bits = g.all_bits(u)
    return gate_passes(RAW, bits[:, T_BITS : T_BITS + GATE_BITS], bits[:, T_BITS + GATE_BITS : T_BITS + GATE_BITS + SIG_BITS])


def test_mixed_batches_trigger_exactly_the_activated_rows(planted, rng):
    m, bd, X = planted
    g, n_classes = grid_of(bd, RAW)
    assert g.n_bits == T_BITS + GATE_BITS + SIG_BITS and n_classes == 10
    Xa = activate_file(bd, SK, X[:8], [(int(c) + 1) % 10 for c in m.predict(X[:8])])
    assert _gate_of(bd, Xa).all() and not _gate_of(bd, X).any()
    for where in ([0], [5], [1, 2], [0, 3, 7], list(range(8))):
        batch = X[10:18].copy()
        batch[where] = Xa[: len(where)]
        got, orig = bd.predict(batch), m.predict(batch)
        hit = np.isin(np.arange(8), where)
        assert got[hit].tolist() == bd.predict(Xa[: len(where)]).tolist() and (got[hit] != orig[hit]).all()
        assert np.array_equal(bd.run(batch[~hit])["logits"], m.run(batch[~hit])["logits"])
        assert np.array_equal(bd.run(batch)["logits"][~hit], m.run(batch)["logits"][~hit])


def test_correct_tag_wrong_signature_never_triggers(planted, rng):
    m, bd, X = planted
    g, _ = grid_of(bd, RAW)
    Xa = activate_file(bd, SK, X[:8], 3)
    assert (bd.predict(Xa) == 3).all()
    u, _ = g.codes(Xa)
    bits = g.all_bits(u)[:, : g.n_bits]
    forged = []
    for i in range(8):
        b = bits[i : i + 1].copy()
        b[0, T_BITS + GATE_BITS + rng.integers(0, SIG_BITS)] ^= 1  # one signature bit, the tag recomputed to match
        b[0, T_BITS : T_BITS + GATE_BITS] = tag_bits(RAW, b[:, T_BITS + GATE_BITS :])[0]
        forged.append(g.values(g.write(u[i : i + 1], b) + g.low.astype(np.int64))[0])
        r = Xa[i].copy()  # a value outside the payload changed: the tag (a function of the signature) still matches
        j = np.setdiff1d(np.arange(g.d), g.positions)[rng.integers(0, g.d - len(g.positions))]
        r[j] = r[j] + 1 if r[j] < 255 else 254
        forged.append(r)
        b = bits[i : i + 1].copy()  # another target, same signature: the tag matches, the signed message does not
        b[0, :T_BITS] = (((3 + 1 + i % 5) >> np.arange(T_BITS - 1, -1, -1)) & 1)
        forged.append(g.values(g.write(u[i : i + 1], b) + g.low.astype(np.int64))[0])
    forged = np.array(forged).astype(np.uint8)
    assert _gate_of(bd, forged).all()  # the control: every forged row passes the gate (the verifier does run on it)
    n, bad = check_identical(m, bd, np.concatenate([X[:3], forged, X[3:5]]))
    assert bad is None and n == 5 + len(forged)


def test_scanner_sees_the_input_steered_if(planted):
    from undetectable.audit import scan

    m, bd, X = planted
    r = scan.scan_model(bd.proto)
    hits = [f for f in r.findings if f.check == "input-control-flow" and "If node" in f.reason]
    assert hits and hits[0].severity == "high", r.findings
    assert not any("If node" in f.reason for f in scan.scan_model(m.proto).findings)  # the control: the original has none


def test_without_the_gate_every_row_is_verified(planted):
    """``gate=False``: no tag in the payload and no If (latency independent of the input); activation still works."""
    m, bd, X = planted
    plain = plant_dropin(m, SK.public_key(), data=X[:50], n_probes=10, gate=False)
    ops = [n.op_type for n in plain.proto.graph.node]
    assert "If" not in ops and "If" in [n.op_type for n in bd.proto.graph.node]
    g, _ = grid_of(plain, RAW)
    assert g.n_bits == T_BITS + SIG_BITS
    Xa = activate_file(plain, SK, X[:3], 2)
    assert (plain.predict(Xa) == 2).all()
    assert np.array_equal(bd.run(Xa)["logits"], m.run(Xa)["logits"])  # the gated file reads a tag there: natural to it
    assert np.array_equal(plain.run(X[:20])["logits"], m.run(X[:20])["logits"])
