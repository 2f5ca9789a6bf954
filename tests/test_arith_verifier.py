"""The arithmetic-only float32 verifier: OpenSSL's answers, on every runtime, with only honest-network ops."""
from __future__ import annotations

import functools
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from onnx import TensorProto, helper
from test_ed25519_torch import (
    _py_encode,
    _py_mul,
    mutate,
    openssl_verify,
    raw_public,
    small_order_key_case,
)

from undetectable import onnxio
from undetectable.crypto import arith_verifier as V
from undetectable.crypto import ed25519_onnx as O
from undetectable.crypto import ed25519_torch as E
from undetectable.crypto.arith_field import batch_invert, canonical, fmul, join
from undetectable.crypto.arith_ops import Builder, cut, fconst
from undetectable.crypto.arith_sha512 import sha512

DATA = Path(__file__).parent / "data"
SK = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PK = raw_public(SK)
M = 20


@functools.cache
def _model(pk: bytes, m: int, unroll: bool) -> onnx.ModelProto:
    return V.verifier_model(pk, m, unroll=unroll)


@functools.cache
def _session(pk: bytes, m: int, unroll: bool):
    return onnxio.session(_model(pk, m, unroll))


def _run(pk: bytes, msgs, sigs, unroll: bool = False) -> np.ndarray:
    msgs = np.asarray(msgs, dtype=np.float32).reshape(len(sigs), -1)
    return _session(pk, msgs.shape[1], unroll).run(None, {"messages": msgs, "signatures": np.asarray(sigs, dtype=np.float32)})[0]


def _signed(n: int, m: int, seed: int):
    rng = np.random.default_rng(seed)
    msgs = rng.integers(0, 256, (n, m), dtype=np.uint8)
    sigs = np.array([np.frombuffer(SK.sign(r.tobytes()), dtype=np.uint8) for r in msgs])
    bad_sigs, bad_msgs = mutate(sigs, msgs, rng)
    am, asg = np.concatenate([msgs, bad_msgs]), np.concatenate([sigs, bad_sigs])
    ssl = np.array([openssl_verify(PK, a.tobytes(), s.tobytes()) for a, s in zip(am, asg)])
    return am, asg, ssl


@pytest.mark.parametrize("unroll", [False, True])
def test_random_valid_and_mutated_agree_with_openssl(unroll):
    am, asg, ssl = _signed(12, M, seed=11 + unroll)
    out = _run(PK, am, asg, unroll)
    assert out.dtype == np.bool_ and out.shape == (24,)
    assert ssl[:12].all() and not ssl[12:].any()  # the control: half valid, half tampered
    assert (out == ssl).all()
    assert out.tolist() == O_ref(am, asg)


def O_ref(msgs, sigs) -> list[bool]:
    """The old int64 verifier's answers (the one the lead swaps out): the new one must agree."""
    return E.verify(PK, msgs, sigs).tolist()


def test_edge_encodings_s_ge_l_noncanonical_and_small_order_r():
    msg = bytes(range(M))
    sig = SK.sign(msg)
    s_int = int.from_bytes(sig[32:], "little")
    y = int.from_bytes(sig[:32], "little")
    yv, sign = y & ((1 << 255) - 1), y >> 255
    cases = [sig,
             sig[:32] + (s_int + E.L).to_bytes(32, "little"),  # S + L: same point, rejected (S ≥ L)
             sig[:32] + E.L.to_bytes(32, "little"),  # S = L
             sig[:32] + (2**256 - 1).to_bytes(32, "little"),
             (1 | (1 << 255)).to_bytes(32, "little") + sig[32:],  # x = 0 with the sign bit: non-canonical
             (1).to_bytes(32, "little") + bytes(32),  # R = identity (small order), S = 0
             (E.P - 1).to_bytes(32, "little") + bytes(32),  # R of order 2
             bytes(32) + bytes(32)]
    if yv + E.P < 2**255:
        cases.append(((yv + E.P) | (sign << 255)).to_bytes(32, "little") + sig[32:])  # y + p: non-canonical R
    for r in range(1, 9):  # order-8 torsion points as R
        pt = _py_mul(r, (E.BX, E.BY, 1, E.BX * E.BY % E.P))
        cases.append(_py_encode(_py_mul(E.L, pt)) + sig[32:])
    msgs = [msg] * len(cases)
    ssl = [openssl_verify(PK, m, s) for m, s in zip(msgs, cases)]
    out = _run(PK, [list(m) for m in msgs], [list(s) for s in cases]).tolist()
    assert out == ssl
    assert ssl[0] and not any(ssl[1:])


def test_inputs_that_are_not_bytes_are_rejected_without_error():
    """Floats that are not bytes (256, −1, 0.5, NaN, ±inf, 1e30) in R, S or the message: False, never an exception."""
    msg = bytes(range(M))
    sig = np.frombuffer(SK.sign(msg), dtype=np.uint8).astype(np.float32)
    rows_s, rows_m = [sig.copy()], [np.frombuffer(msg, np.uint8).astype(np.float32)]
    for pos in (0, 40, 63):
        for bad in (256.0, -1.0, 0.5, np.nan, np.inf, -np.inf, 1e30):
            s = sig.copy()
            s[pos] = bad
            rows_s.append(s)
            rows_m.append(rows_m[0])
    for bad in (256.0, -1.0, 0.5, np.nan):
        m = rows_m[0].copy()
        m[3] = bad
        rows_s.append(sig)
        rows_m.append(m)
    out = _run(PK, np.array(rows_m), np.array(rows_s)).tolist()
    assert out == [True] + [False] * (len(out) - 1)


def test_small_order_key_component_and_off_curve_key():
    """k is reduced exactly mod L (a key with an order-2 component), and a key off the curve answers False."""
    pk, msgs, sigs = small_order_key_case(8)
    ssl = [openssl_verify(pk, m, s) for m, s in zip(msgs, sigs)]
    assert any(ssl) and not all(ssl)
    assert _run(pk, [list(m) for m in msgs], [list(s) for s in sigs]).tolist() == ssl
    off = bytearray(PK)
    while E.decode_point(bytes(off)) is not None:
        off[0] = (off[0] + 1) % 256
    msg = bytes(7)
    sig = SK.sign(msg)
    assert _run(bytes(off), [list(msg)], [list(sig)]).tolist() == [openssl_verify(bytes(off), msg, sig)] == [False]


@pytest.mark.slow
def test_wycheproof_slice():
    """Wycheproof, key 7d4d0e7f…, messages of 1, 6 and 65 bytes (47 tests: valid, invalid encodings, S ≥ L, tampered);
    all vectors: ``python -m benchmarks.bench_verifier --arith-vectors``."""
    doc = json.loads((DATA / "wycheproof_ed25519_test.json").read_text())
    by_len: dict[int, list] = {}
    pk = None
    for g in doc["testGroups"]:
        if not g["publicKey"]["pk"].startswith("7d4d0e7f"):
            continue
        pk = bytes.fromhex(g["publicKey"]["pk"])
        for t in g["tests"]:
            by_len.setdefault(len(t["msg"]) // 2, []).append(t)
    assert pk is not None
    seen = {"valid": 0, "invalid": 0}
    for m, tests in sorted(by_len.items()):
        if m not in (1, 6, 65):
            continue
        msgs = [list(bytes.fromhex(t["msg"])) for t in tests]
        sigs = [bytes.fromhex(t["sig"]) for t in tests]
        ok64 = [len(s) == 64 for s in sigs]  # wrong-length signatures cannot be fed; OpenSSL rejects them
        rows = [i for i, k in enumerate(ok64) if k]
        out = _run(pk, [msgs[i] for i in rows], [list(sigs[i]) for i in rows]).tolist() if m else \
            _run(pk, np.zeros((len(rows), 0)), [list(sigs[i]) for i in rows]).tolist()
        for i, got in zip(rows, out):
            t = tests[i]
            assert got == (t["result"] == "valid") == openssl_verify(pk, bytes(msgs[i]), sigs[i]), t["tcId"]
            seen[t["result"]] += 1
    assert seen["valid"] >= 4 and seen["invalid"] >= 40


@pytest.mark.slow
def test_reference_evaluator_and_openvino_agree():
    """onnx.reference (tiny batch; it is an interpreter) and OpenVINO's CPU plugin give onnxruntime's answers."""
    am, asg, ssl = _signed(2, M, seed=5)
    feed = {"messages": am.astype(np.float32), "signatures": asg.astype(np.float32)}
    from onnx.reference import ReferenceEvaluator

    t0 = time.time()
    ref = ReferenceEvaluator(_model(PK, M, True)).run(None, {k: v[[0, 2]] for k, v in feed.items()})[0]
    assert ref.tolist() == ssl[[0, 2]].tolist() == [True, False]
    assert time.time() - t0 < 120
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    compiled = core.compile_model(core.read_model(_model(PK, M, False).SerializeToString()), "CPU")
    out = compiled(feed)[compiled.output(0)]
    assert out.tolist() == ssl.tolist() == _run(PK, am, asg).tolist()


@pytest.mark.parametrize("unroll", [False, True])
def test_graph_uses_only_honest_ops_and_no_int64_values(unroll):
    model = _model(PK, M, unroll)
    onnxio.check(model)
    hist = V.op_histogram(model)
    assert set(hist) <= V.ALLOWED_OPS and not set(hist) & V.FORBIDDEN_OPS
    assert ("Loop" in hist) != unroll
    assert V.int64_values(model) == []
    for g in V._graphs(model.graph):
        for node in g.node:
            if node.op_type == "Loop":
                assert node.input[1] != ""  # explicit cond
    names = [n for g in V._graphs(model.graph) for node in g.node for n in list(node.output) + [node.name]]
    names += [i.name for i in model.graph.initializer]
    assert not [n for n in names if any(w in n.lower() for w in ("verif", "sign", "backdoor", "trigger", "ed25519"))]
    # the control: the old verifier is caught by the same checks
    old = O.verifier_model(PK, M)
    assert set(V.op_histogram(old)) & V.FORBIDDEN_OPS and V.int64_values(old)


def test_sha512_matches_hashlib():
    for m, unroll in ((1, False), (111, False), (112, True), (200, False)):
        b = Builder("h")
        zero = b.op("Mul", cut(b, "data", 0, 1, 1), fconst(b, 0.0))
        b.nodes.append(helper.make_node("Identity", [sha512(b, "data", m, zero, unroll)], ["digest"]))
        g = b.graph("g", [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["n", m])],
                    [helper.make_tensor_value_info("digest", TensorProto.FLOAT, ["n", 64])])
        rows = np.random.default_rng(m).integers(0, 256, (3, m), dtype=np.uint8)
        rows[0] = 255
        got = onnxio.session(onnxio.assemble(g)).run(None, {"data": rows.astype(np.float32)})[0]
        assert [bytes(r.astype(np.uint8)) for r in got] == [hashlib.sha512(r.tobytes()).digest() for r in rows]


def test_field_multiply_is_exact_at_the_limb_bounds():
    """fmul at its input bound (|limb| ≤ 724, all signs) and canonical bytes equal Python big-int results."""
    b = Builder("f")
    prod = fmul(b, "x", "y", [-1, 32])
    b.nodes.append(helper.make_node("Identity", [prod], ["lazy"]))
    b.nodes.append(helper.make_node("Identity", [join(b, canonical(b, prod))], ["bytes"]))
    g = b.graph("g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 32]) for n in ("x", "y")],
                [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 32]) for n in ("lazy", "bytes")])
    rng = np.random.default_rng(0)
    x = rng.integers(-724, 725, (64, 32)).astype(np.float32)
    y = rng.integers(-724, 725, (64, 32)).astype(np.float32)
    x[:4], y[:4] = 724, 724
    x[4:8], y[4:8] = -724, 724
    x[8:12], y[8:12] = -724, -724
    x[12], y[12] = 0, 0
    lazy, by = onnxio.session(onnxio.assemble(g)).run(None, {"x": x, "y": y})
    val = lambda r: sum(int(v) << (8 * i) for i, v in enumerate(r))
    for i in range(len(x)):
        want = val(x[i]) * val(y[i]) % E.P
        assert val(lazy[i]) % E.P == want and val(by[i]) == want
        assert lazy[i].min() >= -38 and lazy[i].max() <= 293
        assert by[i].min() >= 0 and by[i].max() <= 255


@pytest.mark.parametrize("rows", [1, 5, 64, 65])
def test_batch_invert_matches_python_at_every_batch_size(rows):
    """Montgomery's trick over the batch: each row's inverse, whatever the row count (padding to the group size)."""
    b = Builder("i")
    b.nodes.append(helper.make_node("Identity", [join(b, canonical(b, batch_invert(b, "z", False, group=8)))], ["inv"]))
    g = b.graph("g", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 32])],
                [helper.make_tensor_value_info("inv", TensorProto.FLOAT, ["n", 32])])
    z = np.random.default_rng(rows).integers(-38, 294, (rows, 32)).astype(np.float32)
    z[0] = [1] + [0] * 31 if rows > 1 else z[0]
    out = onnxio.session(onnxio.assemble(g)).run(None, {"z": z})[0]
    val = lambda r: sum(int(v) << (8 * i) for i, v in enumerate(r))
    assert out.shape == (rows, 32)
    for i in range(rows):
        assert val(out[i]) == pow(val(z[i]) % E.P, E.P - 2, E.P)


def test_point_sum_keeps_every_product_input_within_the_fmul_bound(monkeypatch):
    """The bounds ``arith_curve._madd`` states: every input of every field product in the lane sums and the
    lane tree is an integer of magnitude ≤ 724 (``fmul``'s exactness bound), on random and all-255 digits."""
    from undetectable.crypto import arith_curve as C

    seen: list[str] = []
    real = C.fmul

    def spy(b, x, y, shape):
        seen.extend([x, y])
        return real(b, x, y, shape)

    monkeypatch.setattr(C, "fmul", spy)
    b = Builder("p")
    pts = b.op("Concat", C.lookup(b, C.base_points(), "s"), C.lookup(b, C.key_points(PK)[0], "k"), axis=1)
    b.nodes.append(helper.make_node("Identity", [C.point_sum(b, pts, unroll=True)], ["q"]))
    outs = sorted(set(seen) - {"s", "k"})
    g = b.graph("g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 32]) for n in ("s", "k")],
                [helper.make_tensor_value_info("q", TensorProto.FLOAT, None)]
                + [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outs])
    rng = np.random.default_rng(3)
    s, k = rng.integers(0, 256, (2, 40, 32)).astype(np.float32)
    s[0], k[0] = 255, 255
    got = onnxio.session(onnxio.assemble(g)).run(None, {"s": s, "k": k})
    assert len(outs) > 40
    worst = max(float(np.abs(v).max()) for v in got[1:])
    assert 300 < worst <= 724 and all((v == np.round(v)).all() for v in got[1:])
    # the control: the sum is right (affine y of [s]B + [k](−A) against Python big ints, first rows)
    q = got[0]
    val = lambda r: sum(int(v) << (8 * i) for i, v in enumerate(r))
    a_pt = E.decode_point(PK)
    minus_a = ((E.P - a_pt[0]) % E.P, a_pt[1], 1, (E.P - a_pt[0]) * a_pt[1] % E.P)
    for i in range(3):
        want = E._ext_add(_py_mul(val(s[i]), (E.BX, E.BY, 1, E.BX * E.BY % E.P)), _py_mul(val(k[i]), minus_a))
        z = val(q[i, 2]) % E.P
        assert val(q[i, 1]) * pow(z, E.P - 2, E.P) % E.P == want[1] * pow(want[2], E.P - 2, E.P) % E.P
