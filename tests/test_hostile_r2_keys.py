"""Issue 19 §4: weak Ed25519 public keys are refused at plant time (CLI and API), as libsodium refuses them.

With the identity as public key the all-zero signature (R = identity, S = 0) verifies for every message, so a
backdoor planted with it fires for anybody; a small-order key lets a forger succeed with probability 1/8 or
better. Every such key, every non-canonical encoding and every point off the curve is refused; a real key plants.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hostile_util import one_error_line

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the Ed25519 base point

WEAK = {  # name -> (raw 32-byte encoding, words the one error line must hold)
    "identity": ("01" + "00" * 31, "small order"),
    "order-2": ("ec" + "ff" * 30 + "7f", "small order"),
    "order-4": ("00" * 32, "small order"),
    "order-4-neg": ("00" * 31 + "80", "small order"),
    "order-8": ("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "small order"),
    "order-8-b": ("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "small order"),
    "y=p+1 (the identity, not reduced)": ("ee" + "ff" * 30 + "7f", "non-canonical"),
    "y=p+3 (a curve point, not reduced)": ("f0" + "ff" * 30 + "7f", "non-canonical"),
    "x=0 with the sign bit": ("01" + "00" * 30 + "80", "non-canonical"),
    "off the curve": ("02" + "00" * 31, "not a point on the Ed25519 curve"),
}


def _pem(raw: bytes) -> bytes:
    # SubjectPublicKeyInfo DER of an Ed25519 key is this 12-byte prefix and the raw 32 bytes (RFC 8410)
    der = bytes.fromhex("302a300506032b6570032100") + raw
    import base64

    return b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der) + b"\n-----END PUBLIC KEY-----\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from undetectable.bundle import save_bundle
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    d = tmp_path_factory.mktemp("base")
    save_bundle(train_model("logreg", load_dataset("breast-cancer"), seed=0), d / "bundle")
    return d / "bundle"


def _plant(base, pub, out):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "undetectable", "plant", "signature", "--base", str(base), "--public-key",
                           str(pub), "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("name", ["identity", "order-2", "order-8", "y=p+1 (the identity, not reduced)", "off the curve"])
def test_weak_public_key_is_refused_by_the_cli(base, tmp_path, name):
    raw, needle = WEAK[name]
    pub = tmp_path / "weak.pub.pem"
    pub.write_bytes(_pem(bytes.fromhex(raw)))
    res = _plant(base, pub, tmp_path / "out")
    line = one_error_line(res.stderr)
    assert res.returncode == 2, line
    assert needle in line and str(pub) in line and "keygen" in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", list(WEAK))
def test_weak_public_key_is_refused_by_the_api(base, name):
    from undetectable import api
    from undetectable.errors import UsageError
    from undetectable.schemes.signature import SignaturePublicKey, SignatureScheme

    raw, needle = WEAK[name]
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw))  # pyca accepts any 32 bytes here
    m = api.load(base)
    for k in (key, SignaturePublicKey(key)):
        with pytest.raises(UsageError, match=needle):
            SignatureScheme(key=k).plant(m)


def test_the_small_order_list_is_the_8_torsion():
    """Cross-check the hard-coded list: [L]Q for random curve points Q generates exactly these 8 points."""
    from undetectable.keys import SMALL_ORDER_ENCODINGS, _decode_point, _edwards_add, has_small_order

    def mul(k, pt):
        r, q = (0, 1), pt
        while k:
            if k & 1:
                r = _edwards_add(r, q)
            q, k = _edwards_add(q, q), k >> 1
        return r

    found, rnd = set(), random.Random(0)
    while len(found) < 8:
        pt = _decode_point(rnd.randbytes(32))
        if isinstance(pt, str):
            continue
        t, q = mul(L, pt), (0, 1)
        for _ in range(8):
            found.add((q[1] | ((q[0] & 1) << 255)).to_bytes(32, "little"))
            q = _edwards_add(q, t)
    assert found == set(SMALL_ORDER_ENCODINGS)
    assert all(has_small_order(_decode_point(e)) for e in found)
    real = Ed25519PrivateKey.generate().public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    assert not has_small_order(_decode_point(real))  # the control: a real key's point has order L


def test_the_identity_key_would_fire_for_anybody():
    """Why it matters: with the identity key, the all-zero signature verifies (OpenSSL, through pyca)."""
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(WEAK["identity"][0]))
    sig = bytes.fromhex("01" + "00" * 31) + bytes(32)  # R = identity, S = 0
    key.verify(sig, b"any message at all")  # raises InvalidSignature if the library ever starts refusing it


def test_a_real_key_still_plants(base, tmp_path):
    sk = Ed25519PrivateKey.generate()
    pub = tmp_path / "real.pub.pem"
    pub.write_bytes(sk.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo))
    res = _plant(base, pub, tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out/manifest.json").is_file()


def test_weak_public_key_is_refused_by_the_dropin_route():
    """A model file goes through the drop-in planter, which checks the key too (identity: anyone could trigger)."""
    from onnx import TensorProto, helper, numpy_helper

    from undetectable.errors import UsageError
    from undetectable.models.onnx_file import OnnxModel
    from undetectable.schemes.dropin import plant_dropin

    W = numpy_helper.from_array(np.ones((784, 10), np.float32), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["logits"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, ["n", 784])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 10])], [W])
    g.node.insert(0, helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT))
    g.node[1].input[0] = "xf"
    m = OnnxModel(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]))
    with pytest.raises(UsageError, match="small order"):
        plant_dropin(m, bytes.fromhex(WEAK["identity"][0]))
