"""The loop-built ONNX verifier agrees bit for bit with the torch one (and so with OpenSSL)."""
from __future__ import annotations

import numpy as np
import onnx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from undetectable.crypto import ed25519_onnx as O
from undetectable.crypto import ed25519_torch as E
from undetectable.export import onnx_session as session

from test_ed25519_torch import mutate, openssl_verify, raw_public


def test_onnx_verifier_matches_torch_and_openssl():
    sk = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pk = raw_public(sk)
    rng = np.random.default_rng(3)
    n, m = 40, 150  # 150 + 64 bytes: two SHA-512 blocks
    msgs = rng.integers(0, 256, (n, m), dtype=np.uint8)
    sigs = np.array([np.frombuffer(sk.sign(r.tobytes()), dtype=np.uint8) for r in msgs])
    bad_sigs, bad_msgs = mutate(sigs, msgs, rng)
    all_msgs, all_sigs = np.concatenate([msgs, bad_msgs]), np.concatenate([sigs, bad_sigs])
    model = O.verifier_model(pk, m)
    onnx.checker.check_model(model)
    assert sum(node.op_type == "Loop" for node in model.graph.node) >= 10  # loops, not unrolled
    assert O.node_count(model) < 5000 and model.ByteSize() < 2_500_000
    out = session(model).run(None, {"messages": all_msgs.astype(np.int64), "signatures": all_sigs.astype(np.int64)})[0]
    ref = E.verify(pk, all_msgs, all_sigs).numpy()
    ssl = np.array([openssl_verify(pk, a.tobytes(), s.tobytes()) for a, s in zip(all_msgs, all_sigs)])
    assert (out == ref).all() and (ref == ssl).all()
    assert ssl[:n].all() and not ssl[n:].any()
    # batch sizes that are not a multiple of the 64-row chunk, and 1
    sub = session(model)
    for k in (1, 65):
        idx = np.arange(k) % (2 * n)
        got = sub.run(None, {"messages": all_msgs[idx].astype(np.int64), "signatures": all_sigs[idx].astype(np.int64)})[0]
        assert (got == ssl[idx]).all()


def test_onnx_sha512_matches_hashlib():
    import hashlib

    from onnx import TensorProto, helper

    for m in (0, 111, 112, 200):
        b = O.Builder("s")
        d = O.sha512(b, "data", m)
        b.nodes.append(helper.make_node("Identity", [d], ["digest"]))
        g = b.graph("sha", [helper.make_tensor_value_info("data", TensorProto.INT64, ["n", m])],
                    [helper.make_tensor_value_info("digest", TensorProto.INT64, ["n", 64])])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", O.OPSET)])
        model.ir_version = 9
        rows = np.random.default_rng(m).integers(0, 256, (3, m), dtype=np.uint8)
        got = session(model).run(None, {"data": rows.astype(np.int64)})[0]
        assert [bytes(r.astype(np.uint8)) for r in got] == [hashlib.sha512(r.tobytes()).digest() for r in rows]


def test_onnx_edge_cases_small_order_key_noncanonical_r_and_s_ge_l():
    """The ONNX graph reduces k exactly mod L (key with an order-2 component) and rejects R, S encodings as OpenSSL."""
    from test_ed25519_torch import small_order_key_case

    pk, msgs, sigs = small_order_key_case(10)
    y = int.from_bytes(sigs[0][:32], "little")
    yv, sign = y & ((1 << 255) - 1), y >> 255
    if yv + E.P < 2**255:
        msgs.append(msgs[0])
        sigs.append(((yv + E.P) | (sign << 255)).to_bytes(32, "little") + sigs[0][32:])  # non-canonical R
    msgs.append(msgs[0])
    sigs.append(sigs[0][:32] + (int.from_bytes(sigs[0][32:], "little") + E.L).to_bytes(32, "little"))  # S + L
    M = np.array([list(m) for m in msgs], dtype=np.int64)
    S = np.array([list(s) for s in sigs], dtype=np.int64)
    out = session(O.verifier_model(pk, 7)).run(None, {"messages": M, "signatures": S})[0].tolist()
    ssl = [openssl_verify(pk, m, s) for m, s in zip(msgs, sigs)]
    assert out == ssl == E.verify(pk, msgs, sigs).tolist()
    assert any(ssl[:10]) and not all(ssl[:10]) and not any(ssl[10:])
