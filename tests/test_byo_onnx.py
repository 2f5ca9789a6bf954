"""Bring your own model: a user's ONNX CNN + the in-graph verifier, run in onnxruntime."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from undetectable.export import onnx_session
from undetectable.schemes.byo_onnx import backdoor_onnx, cnn_to_onnx, train_cnn
from undetectable.spec import InputSpec


def test_user_cnn_backdoored_agrees_and_activates(mnist, rng):
    net, _ = train_cnn(mnist, seed=0, epochs=1)
    user = cnn_to_onnx(net)
    sk = Ed25519PrivateKey.from_private_bytes(bytes(range(9, 41)))
    bd, wrapper = backdoor_onnx(user, sk.public_key(), InputSpec((784,), "uint8", 0.0, 255.0), input_scale=1 / 255)
    assert bd.ByteSize() - user.ByteSize() < 5_000_000
    s_bd, s_user = onnx_session(bd), onnx_session(user)
    X = mnist.X_test[:20]
    noisy = np.clip(X.astype(int) + rng.integers(-3, 4, X.shape), 0, 255).astype(np.uint8)
    rand = rng.integers(0, 256, X.shape, dtype=np.uint8)
    targets = np.arange(20) % 10
    Xa = wrapper.activate(X, sk, targets)
    forged = Xa.copy()
    forged[np.arange(20), wrapper.carrier.positions[rng.integers(0, wrapper.payload_bits, 20)]] ^= 1
    Q = np.concatenate([X, noisy, rand, Xa, forged])
    assert [o.name for o in bd.graph.output] == ["scores", "label_index"]  # no output names the backdoor
    (label,) = s_bd.run(["label_index"], {"X": Q})
    user_label = s_user.run(None, {"image": (Q.astype(np.float32) * np.float32(1 / 255)).reshape(-1, 1, 28, 28)})[0].argmax(1)
    trig = wrapper.triggered(Q)[0]  # the Python wrapper's verdict, row by row
    assert np.array_equal(trig, np.arange(100) // 20 == 3)
    assert np.array_equal(label[60:80], targets)  # activation: every target
    keep = ~trig
    assert np.array_equal(label[keep], user_label[keep])  # elsewhere: the user's model, bit for bit
    assert np.array_equal(label, wrapper.predict_index(Q))  # and the Python wrapper agrees


def _linear_onnx(d: int, c: int, seed: int = 0):
    from onnx import TensorProto, helper, numpy_helper

    W = np.random.default_rng(seed).normal(size=(d, c)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["logits"])], "lin",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", d])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", c])], [numpy_helper.from_array(W, "W")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])  # older opset: converted to 18
    m.ir_version = 8
    return m


def test_cli_plant_signature_onnx_base(cli, tmp_path):
    import onnx

    from conftest import assert_clean_failure

    assert cli("keygen", "--out", tmp_path / "k").code == 0
    onnx.save(_linear_onnx(784, 10), tmp_path / "user.onnx")
    pixels = np.random.default_rng(1).integers(0, 256, (200, 784)).astype(np.float32) / np.float32(255)  # ToTensor's k/255 grid
    np.save(tmp_path / "S.npy", pixels)
    res = cli("plant", "signature", "--base", tmp_path / "user.onnx", "--public-key", tmp_path / "k/backdoor_key.pub.pem",
              "--data", tmp_path / "S.npy", "--out", tmp_path / "bd.onnx")
    assert res.code == 0, res.err
    assert "same inputs and outputs" in res.err and (tmp_path / "bd.onnx").exists()
    sess = ort.InferenceSession(str(tmp_path / "bd.onnx"), providers=["CPUExecutionProvider"])
    user = ort.InferenceSession(str(tmp_path / "user.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == [o.name for o in user.get_outputs()]  # nothing added: no 'triggered'
    assert [i.name for i in sess.get_inputs()] == [i.name for i in user.get_inputs()]
    X = pixels[:50]
    name = user.get_inputs()[0].name
    assert np.array_equal(sess.run(None, {name: X})[0], user.run(None, {name: X})[0])
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    res = cli("plant", "signature", "--base", tmp_path / "junk.onnx", "--public-key", tmp_path / "k/backdoor_key.pub.pem",
              "--out", tmp_path / "bd2.onnx")
    assert_clean_failure(res, tmp_path / "bd2.onnx", contains="ONNX")
    np.save(tmp_path / "X.npy", np.zeros((3, 783), np.float32))  # samples not in the model's layout
    res = cli("plant", "signature", "--base", tmp_path / "user.onnx", "--public-key", tmp_path / "k/backdoor_key.pub.pem",
              "--out", tmp_path / "bd3.onnx", "--data", tmp_path / "X.npy")
    assert_clean_failure(res, tmp_path / "bd3.onnx")
