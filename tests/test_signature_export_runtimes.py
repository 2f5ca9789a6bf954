"""``export onnx`` of a signature bundle on every runtime (issue 16.5 for bundles): onnxruntime, onnx.reference, OpenVINO.

The exported file is the honest base's own export plus the portable verifier (``crypto.arith_verifier``). In each
runtime, its outputs equal the honest export's, bit for bit, on natural, noisy, random and forged rows, and
activated rows answer the target (a control: the honest export does not). The added graph has no bitwise op and
no arithmetic on int64 values; the interface is the honest export's (input ``X``; ``scores``, ``label_index``).

A fixed-point (float64 tabular) bundle fires in onnxruntime and onnx.reference; OpenVINO's CPU plugin runs
float64 as float32, so there only its clean answers are compared (the caveat in ``signature_graph``).
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from undetectable.bundle import save_bundle
from undetectable.export import export_onnx
from undetectable.onnxio import check, session
from undetectable.schemes.signature import SignatureScheme

BITWISE = {"BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitShift"}
ARITH = {"Add", "Sub", "Mul", "Div", "MatMul", "Equal", "Less", "Greater", "Min", "Max", "Floor", "Round", "ReduceSum",
         "ReduceMin", "ReduceMax", "Mod", "Neg", "Abs"}
N = 4


@pytest.fixture(scope="module", params=["mnist-logreg", "breast-cancer-logreg"])
def exported(request, mnist, mnist_logreg, ed25519_key, tmp_path_factory):
    """(honest path, backdoored path, rows by kind, activated rows, targets, bundle)."""
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    folder = tmp_path_factory.mktemp("sig-export")
    if request.param == "mnist-logreg":
        data, base = mnist, mnist_logreg
    else:
        data = load_dataset("breast-cancer")
        base = train_model("logreg", data, seed=0)
    bd, _ = SignatureScheme(key=ed25519_key.public_key()).plant(base)
    save_bundle(bd, folder / "sig")
    honest_path, bd_path = folder / "honest.onnx", folder / "sig.onnx"
    export_onnx(base, honest_path)
    export_onnx(bd, bd_path)  # the `export onnx` route
    rng = np.random.default_rng(1)
    X = data.X_test[:N]
    targets = (bd.predict_index(X) + 1 + np.arange(N) % 2) % bd.n_classes  # never the honest answer
    Xa = bd.activate(X, ed25519_key, bd.classes[targets])
    forged = Xa.copy()
    if bd.spec.is_image:
        noisy = X ^ rng.integers(0, 2, X.shape, dtype=np.uint8)
        rand = rng.integers(0, 256, X.shape, dtype=np.uint8)
        forged[np.arange(N), bd.carrier.positions[rng.integers(0, bd.payload_bits, N)]] ^= 1
    else:
        noisy = X + rng.normal(0, 0.01, X.shape) * X.std(0)
        rand = rng.normal(0, 1, X.shape) * X.std(0) + X.mean(0)
        j = rng.integers(0, X.shape[1], N)
        forged[np.arange(N), j] += bd.carrier.step[j]
    rows = {"natural": X, "noisy": noisy, "random": rand, "forged": forged}
    return honest_path, bd_path, rows, Xa, targets, bd


def _runtime_check(run_honest, run_bd, rows, Xa, targets, fires=True):
    for kind, X in rows.items():
        a, b = run_honest(X), run_bd(X)
        assert [k for k in a] == [k for k in b] == ["scores", "label_index"]
        for k in a:
            assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), f"{k} differs on {kind} rows"
    assert not np.array_equal(run_honest(Xa)["label_index"], targets)  # control: the honest export does not answer them
    if fires:
        out = run_bd(Xa)
        assert out["label_index"].tolist() == targets.tolist()
        assert out["scores"].argmax(1).tolist() == targets.tolist()


def _ort(path):
    s = session(path)
    return lambda X: dict(zip([o.name for o in s.get_outputs()], s.run(None, {"X": X})))


def test_onnxruntime(exported):
    honest_path, bd_path, rows, Xa, targets, bd = exported
    _runtime_check(_ort(honest_path), _ort(bd_path), rows, Xa, targets)
    assert _ort(bd_path)(Xa)["label_index"].tolist() == bd.predict_index(Xa).tolist()  # the bundle's own answers


def test_onnx_reference(exported):
    """onnx.reference (slow): two natural rows and two activated rows in one batch."""
    from onnx.reference import ReferenceEvaluator

    honest_path, bd_path, rows, Xa, targets, bd = exported
    h, b = onnx.load(str(honest_path)), onnx.load(str(bd_path))

    def run(proto):
        ev = ReferenceEvaluator(proto)
        return lambda X: dict(zip([o.name for o in proto.graph.output], ev.run(None, {"X": X})))

    X = np.concatenate([rows["natural"][:2], Xa[:2]])
    a, o = run(h)(X), run(b)(X)
    for k in a:
        assert a[k][:2].tobytes() == o[k][:2].tobytes(), k
    assert o["label_index"][2:].tolist() == targets[:2].tolist() != a["label_index"][2:].tolist()


def test_openvino_cpu(exported):
    ov = pytest.importorskip("openvino")
    honest_path, bd_path, rows, Xa, targets, bd = exported
    core = ov.Core()
    ch, cb = core.compile_model(str(honest_path), "CPU"), core.compile_model(str(bd_path), "CPU")

    def run(compiled):
        return lambda X: {o.get_any_name(): v for o, v in compiled(X).items()}

    _runtime_check(run(ch), run(cb), rows, Xa, targets, fires=bd.spec.is_image)  # float64 inputs run as float32 there


def test_interface_and_added_ops(exported):
    """Full checker; the honest export's interface; the added nodes: no bitwise op, no arithmetic on int64 values."""
    honest_path, bd_path, rows, Xa, targets, bd = exported
    h, b = onnx.load(str(honest_path)), onnx.load(str(bd_path))
    check(b)
    for field in ("input", "output"):
        assert [(v.name, v.type.tensor_type.elem_type) for v in getattr(h.graph, field)] == \
               [(v.name, v.type.tensor_type.elem_type) for v in getattr(b.graph, field)]
    inferred = onnx.shape_inference.infer_shapes(b)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in [*inferred.graph.value_info, *inferred.graph.input]}
    types.update({i.name: i.data_type for i in inferred.graph.initializer})
    added = [n for n in inferred.graph.node if not n.output[0].startswith("base_") and n.output[0] not in ("scores", "label_index")]
    added += [n for top in added for a in top.attribute if a.type == onnx.AttributeProto.GRAPH for n in a.g.node]  # Loop bodies
    assert len(added) > 1000
    assert not BITWISE & {n.op_type for n in added}
    wide = [f"{n.op_type}({i})" for n in added if n.op_type in ARITH for pos, i in enumerate(n.input)
            if types.get(i) == onnx.TensorProto.INT64 and not (n.op_type.startswith("Reduce") and pos == 1)]  # axes
    assert wide == []
    names = " ".join(n.output[0] for n in b.graph.node).lower()
    assert not any(w in names for w in ("backdoor", "trigger", "verif", "signature"))


def test_hostile_float_rows_get_the_honest_answers(exported):
    """NaN, ±inf and huge features (any target value falls out of them) answer as the honest export: no crash, no trigger."""
    honest_path, bd_path, rows, Xa, targets, bd = exported
    if bd.spec.is_image:
        pytest.skip("uint8 inputs have no NaN, inf or out-of-range values")
    X = np.repeat(rows["natural"][:1], 6, axis=0)
    X[0, 3], X[1, 0], X[2, 5], X[3], X[4], X[5] = np.nan, np.inf, -np.inf, 1e300, -1e300, 1e17
    a, b = _ort(honest_path)(X), _ort(bd_path)(X)
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
