"""The signature backdoor as one ONNX file / one torch module: bit-identical labels to the wrapper bundle."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from undetectable.schemes import signature_graph as SG
from undetectable.schemes.signature import SignatureScheme
from undetectable.bundle import load_bundle, save_bundle
from undetectable.export import export_onnx, onnx_session as session


def queries(bd, X, key, rng, n=24):
    """natural, noisy, random, activated (every target), forged (one payload bit flipped / off-grid)."""
    X = X[:n]
    targets = np.arange(n) % bd.n_classes
    Xa = bd.activate(X, key, bd.classes[targets])
    forged = Xa.copy()
    if bd.spec.is_image:
        noisy = np.clip(X.astype(int) + rng.integers(-3, 4, X.shape), 0, 255).astype(np.uint8)
        rand = rng.integers(0, 256, X.shape, dtype=np.uint8)
        pos = bd.carrier.positions[rng.integers(0, bd.payload_bits, n)]
        forged[np.arange(n), pos] ^= 1
    else:
        noisy = X + rng.normal(0, 0.01, X.shape) * X.std(0)
        rand = rng.normal(0, 1, X.shape) * X.std(0) + X.mean(0)
        j = rng.integers(0, X.shape[1], n)
        forged[np.arange(n), j] += bd.carrier.step[j] * (1 + 2 * (np.arange(n) % 2))  # other payload / residual bits
    return np.concatenate([X, noisy, rand, Xa, forged]), n


@pytest.mark.parametrize("family", ["logreg", "mlp"])
def test_exported_signature_onnx_labels_are_bit_identical(family, mnist, mnist_logreg, mnist_mlp, ed25519_key, rng, tmp_path):
    base = mnist_logreg if family == "logreg" else mnist_mlp
    save_bundle(SignatureScheme(key=ed25519_key.public_key()).plant(base)[0], tmp_path / "sig")
    bd = load_bundle(tmp_path / "sig")
    path = export_onnx(bd, tmp_path / "sig.onnx")
    Q, n = queries(bd, mnist.X_test, ed25519_key, rng)
    scores, label = session(path).run(None, {"X": Q})  # two outputs: nothing added that names the backdoor
    assert np.array_equal(label, bd.predict_index(Q))
    mask, _ = bd.triggered(Q)
    assert mask.sum() == n and mask[3 * n : 4 * n].all()
    if family == "mlp":  # the torch twin too
        assert np.array_equal(SG.signature_module(bd).predict(torch.tensor(Q)).numpy(), bd.predict_index(Q))


@pytest.mark.parametrize("family", ["logreg", "rff", "relu", "mlp"])
def test_fixed_point_inputs(family, ed25519_key, rng):
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    data = load_dataset("breast-cancer")
    bd = SignatureScheme(key=ed25519_key.public_key()).plant(train_model(family, data, seed=0))[0]
    Q, n = queries(bd, data.X_test, ed25519_key, rng, n=16)
    model = SG.signature_onnx(bd)
    assert [o.name for o in model.graph.output] == ["scores", "label_index"]  # nothing added that names the backdoor
    _, label = session(model).run(None, {"X": Q.astype(np.float64)})
    assert np.array_equal(label, bd.predict_index(Q))
    trig = bd.triggered(Q)[0]
    assert trig[3 * n : 4 * n].all() and trig.sum() == n and np.array_equal(label[3 * n : 4 * n], bd.predict_index(Q)[3 * n : 4 * n])


def test_white_box_integer_subgraph_detector_flags_the_verifier(ed25519_key):
    """Positive control: the construction is black-box undetectable only; the graph shows it.

    The export uses the portable verifier (no bitwise op, no int64 arithmetic): the old ``integer-subgraph``
    count sees only its ``Loop`` nodes, and ``scan`` (hash-mixing: the Floor carry chains) flags it outright."""
    from undetectable.audit.base import get_detectors
    from undetectable.audit.graph_ops import graph_op_histogram, integer_subgraph_score
    from undetectable.audit.scan import scan_model
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    data = load_dataset("breast-cancer")
    base = train_model("logreg", data, seed=0)
    bd = SignatureScheme(key=ed25519_key.public_key()).plant(base)[0]
    honest, bad = SG.base_onnx(base), SG.signature_onnx(bd)
    h_base, h_bad = graph_op_histogram(honest), graph_op_histogram(bad)
    assert integer_subgraph_score(honest) == 0.0
    assert not {"BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"} & set(h_bad)
    assert h_bad["Loop"] >= 5 and h_bad["Floor"] > 500 and not h_base["Loop"] and not h_base["Floor"]
    det = {d.name: d for d in get_detectors(None)}["integer-subgraph"]
    assert det.score(bd, None, None, None) > 1 > det.score(base, None, None, None) == 0.0
    flagged, clean = scan_model(bad), scan_model(honest)
    assert clean.verdict == "clean" and flagged.verdict == "findings"
    assert any(f.check == "hash-mixing" and f.severity == "high" for f in flagged.findings)
