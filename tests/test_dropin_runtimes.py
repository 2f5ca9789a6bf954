"""Issue 16.5, "the same answers everywhere": a drop-in backdoored file in onnxruntime, onnx.reference and OpenVINO.

For third-party files (tests/dropin_files: torch.onnx CNN on normalised float pixels, at opset 20 and at opset 9
(the added graph lowered to opset 9), a torch MLP on uint8 pixels, skl2onnx logistic regression with its ZipMap,
a skl2onnx random forest): plant, then in each runtime
every output of the backdoored file equals the original's, bit for bit, on natural, noisy and random rows
(on and off the payload grid), activated rows get the target label, alone and mixed among natural rows (the
gate's If runs the verifier on those rows only). OpenVINO has no ``ai.onnx.ml`` ops:
those files are skipped there, with the reason. The added graph has no bitwise op and no int64 arithmetic,
and the backdoored file passes the full checker with shape inference.
"""
from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from undetectable.models.onnx_file import OnnxModel
from undetectable.onnxio import check
from undetectable.schemes.dropin import _raw, _same, activate_file, grid_of, plant_dropin
from undetectable.schemes.dropin_graph import all_names, choose_prefix

import dropin_files as F
from test_dropin import interface_differences

SK = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
FILES = ("torch-cnn", "torch-uint8-mlp", "skl-logreg-zipmap", "skl-rf", "torch-cnn-op9")
N = 6  # rows per kind (natural, noisy on/off the grid, random on/off the grid, activated)
BITWISE = {"BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitShift"}
ARITH = {"Add", "Sub", "Mul", "Div", "MatMul", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Min", "Max",
         "Floor", "ReduceSum", "ReduceMin", "ReduceMax", "Mod", "Neg", "Abs", "Sum"}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """name → (path, backdoored path, original, backdoored, rows by kind, activated rows, targets)."""
    folder = tmp_path_factory.mktemp("runtimes")
    rng = np.random.default_rng(0)
    out = {}
    for name in FILES:
        path, X = F.build(name, folder)
        m = OnnxModel.from_file(path)
        bd = plant_dropin(m, SK.public_key(), data=X, bound=0.05, n_probes=10)
        bd_path = folder / f"{name}-bd.onnx"
        bd.save(bd_path)
        g, _ = grid_of(bd, _raw(SK.public_key()))
        flat = X.reshape(len(X), -1)[:N]
        u = g.snap(flat)
        on_noisy = g.values(np.clip(u + rng.integers(-2, 3, u.shape), 0, g.span - 1) + g.low.astype(np.int64))
        on_random = g.values(rng.integers(0, g.span, u.shape) + g.low.astype(np.int64))
        if flat.dtype == np.uint8:
            off_noisy, off_random = flat ^ np.uint8(1), rng.integers(0, 256, flat.shape)
        else:
            lo, hi = flat.min(0), flat.max(0)
            off_noisy = flat + rng.normal(0, 1e-3, flat.shape) * (hi - lo + 1e-6)
            off_random = rng.uniform(lo, hi, flat.shape)
        rows = {k: np.asarray(v).astype(X.dtype).reshape((N, *X.shape[1:]))
                for k, v in [("natural", flat), ("noisy, on the grid", on_noisy), ("noisy, off the grid", off_noisy),
                             ("random, on the grid", on_random), ("random, off the grid", off_random)]}
        classes = np.asarray(m.classes)
        answer = np.array([np.flatnonzero(classes == c)[0] for c in m.predict(X[:N])])
        targets = classes[(answer + 1 + np.arange(N) % 3) % len(classes)]  # never the original's answer
        Xa = activate_file(bd, SK, X[:N], targets)
        out[name] = (path, bd_path, m, bd, rows, Xa, targets)
    return out


def _runtime_check(run_original, run_backdoored, m, rows, Xa, targets):
    for kind, X in rows.items():
        a, b = run_original(X), run_backdoored(X)
        assert list(a) == list(b)
        for k in a:
            assert _same(a[k], b[k]), f"output {k!r} differs on {kind} rows"
    assert m.labels_from(run_original(Xa)).tolist() != targets.tolist()  # control: the original does not answer the targets
    assert m.labels_from(run_backdoored(Xa)).tolist() == targets.tolist()
    # one batch, activated rows among natural ones: the gated branch runs on those rows only and maps them back
    X = rows["natural"]
    at = [1, 4]
    mixed = np.insert(X, at, Xa[:2], axis=0)  # activated rows end up at positions 1 and 5
    hit = np.isin(np.arange(len(mixed)), [1, 5])
    got, want = m.labels_from(run_backdoored(mixed)), m.labels_from(run_original(X))
    assert got[hit].tolist() == targets[:2].tolist() and got[~hit].tolist() == want.tolist()


@pytest.mark.parametrize("name", FILES)
def test_onnxruntime(planted, name):
    path, bd_path, m, bd, rows, Xa, targets = planted[name]
    assert not interface_differences(m.interface, bd.interface)  # the opset imports are kept
    _runtime_check(m.run, bd.run, m, rows, Xa, targets)


@pytest.mark.parametrize("name", FILES)
def test_onnx_reference(planted, name):
    """onnx.reference (the spec's own evaluator; slow): two natural rows and two activated rows in one batch."""
    from onnx.reference import ReferenceEvaluator

    path, bd_path, m, bd, rows, Xa, targets = planted[name]
    x = m.input.name
    missing = {n.op_type for n in m.proto.graph.node if n.domain == "ai.onnx.ml"} - {"LinearClassifier", "TreeEnsembleClassifier",
                                                                                       "SVMClassifier", "Normalizer", "Scaler"}
    if missing:
        pytest.skip(f"onnx.reference has no {', '.join(sorted(missing))} (the original file does not run either)")
    ref_o, ref_b = ReferenceEvaluator(m.proto), ReferenceEvaluator(bd.proto)

    def run(ev, proto):
        return lambda X: dict(zip([o.name for o in proto.graph.output], ev.run(None, {x: X})))

    X = np.concatenate([rows["natural"][:2], rows["noisy, off the grid"][:1], Xa[:2]])
    a, b = run(ref_o, m.proto)(X), run(ref_b, bd.proto)(X)
    for k in a:
        assert _same(a[k][:3], b[k][:3]) if isinstance(a[k], list) else _same(np.asarray(a[k])[:3], np.asarray(b[k])[:3]), k
    assert m.labels_from(b)[3:].tolist() == targets[:2].tolist()
    assert m.labels_from(a)[3:].tolist() != targets[:2].tolist()


@pytest.mark.parametrize("name", FILES)
def test_openvino_cpu(planted, name):
    ov = pytest.importorskip("openvino")
    path, bd_path, m, bd, rows, Xa, targets = planted[name]
    domains = {n.domain for n in m.proto.graph.node} - {"", "ai.onnx"}
    if domains:
        pytest.skip(f"OpenVINO has no {', '.join(sorted(domains))} ops (the original file does not load either)")
    core = ov.Core()
    co, cb = core.compile_model(str(path), "CPU"), core.compile_model(str(bd_path), "CPU")

    def run(compiled):
        return lambda X: {o.get_any_name(): v for o, v in compiled(X).items()}

    _runtime_check(run(co), run(cb), m, rows, Xa, targets)


@pytest.mark.parametrize("name", FILES)
def test_checker_and_added_ops(planted, name):
    """Full checker with shape inference; the added nodes: no bitwise op, no arithmetic on int64 values."""
    path, bd_path, m, bd, rows, Xa, targets = planted[name]
    check(bd.proto)
    p = choose_prefix(_raw(SK.public_key()), all_names(m.proto.graph))
    renamed = re.compile(re.escape(p) + r"_o\d+$")  # the user's own output tensors, renamed: their nodes are the user's
    inferred = onnx.shape_inference.infer_shapes(bd.proto)

    def graphs(g):
        yield g
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    yield from graphs(a.g)

    types = {vi.name: vi.type.tensor_type.elem_type for sg in graphs(inferred.graph) for vi in [*sg.value_info, *sg.input, *sg.output]}
    types.update({i.name: i.data_type for i in inferred.graph.initializer})
    added = [n for n in inferred.graph.node if n.output[0].startswith(p) and not renamed.match(n.output[0])]

    def inner(nodes):  # the gate's If branches, and the verifier's Loop bodies inside them
        for n in nodes:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    yield from a.g.node
                    yield from inner(a.g.node)

    added += list(inner(added))
    assert len(added) > 100 and [n.op_type for n in added].count("If") == 1  # the gate
    assert not BITWISE & {n.op_type for n in added}
    wide = [f"{n.op_type}({i})" for n in added if n.op_type in ARITH for pos, i in enumerate(n.input)
            if types.get(i) == onnx.TensorProto.INT64 and not (n.op_type.startswith("Reduce") and pos == 1)]  # axes
    assert wide == []
    casts = [n for n in added if n.op_type == "Cast" and n.attribute[0].i in (onnx.TensorProto.INT64, onnx.TensorProto.DOUBLE)]
    assert casts == []


def test_unroll_is_a_checked_planting_option():
    from undetectable.errors import ParameterError
    from undetectable.schemes.signature import SignatureScheme

    assert SignatureScheme(unroll=True).params.unroll is True and SignatureScheme().params.unroll is False
    with pytest.raises(ParameterError, match="unroll"):
        SignatureScheme(unroll=1)
