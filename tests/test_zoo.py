"""The third-party zoo: every file loads in onnxruntime and predicts what its source framework predicts."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from undetectable import zoo
from undetectable.errors import ParameterError

SLICE = ["skl-logreg", "skl-logreg-nozipmap", "skl-scaler-logreg", "skl-rf", "skl-knn", "lgbm", "xgb", "torch-mlp",
         "ort-int8-dynamic-mlp"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return zoo.build(SLICE, tmp_path_factory.mktemp("zoo"), seed=0)


def test_each_file_loads_and_matches_its_exporter(built):
    assert [e.name for e in built] == SLICE
    for e in built:
        assert e.path.is_file() and e.path.suffix == ".onnx"
        onnx.checker.check_model(onnx.load(str(e.path)))
        labels = zoo.predicted_labels(zoo.run(e.path, e.X))
        agree = np.mean(labels == e.reference)
        assert agree >= (0.97 if e.family == "ort-quantize" else 0.995), (e.name, agree)
        assert np.mean(labels == e.y) > 0.6, e.name  # a real classifier, not chance
    fams = {e.name: e.family for e in built}
    assert fams["skl-rf"] == "skl2onnx" and fams["lgbm"] == "onnxmltools" and fams["torch-mlp"] == "torch.onnx"


def test_files_carry_their_exporters_marks(built):
    by = {e.name: onnx.load(str(e.path)) for e in built}
    ops = {n: {x.op_type for x in m.graph.node} for n, m in by.items()}
    assert "ZipMap" in ops["skl-logreg"] and "ZipMap" not in ops["skl-logreg-nozipmap"]
    assert "TreeEnsembleClassifier" in ops["skl-rf"] or "TreeEnsemble" in ops["skl-rf"]
    assert ops["ort-int8-dynamic-mlp"] & {"MatMulInteger", "DynamicQuantizeLinear"}
    assert by["torch-mlp"].producer_name == "pytorch" and by["skl-rf"].producer_name == "skl2onnx"
    X = next(e for e in built if e.name == "skl-scaler-logreg").X
    assert X.dtype == np.float64  # the file's own input dtype


def test_seed_and_opset_change_the_file(tmp_path):
    a, = zoo.build(["skl-logreg-nozipmap"], tmp_path, seed=0, opset=15)
    b, = zoo.build(["skl-logreg-nozipmap"], tmp_path, seed=1, opset=15)
    c, = zoo.build(["skl-logreg-nozipmap"], tmp_path / "again", seed=0, opset=15)
    assert a.opset == 15 and a.path != b.path
    assert a.path.read_bytes() != b.path.read_bytes()
    assert a.path.read_bytes() == c.path.read_bytes()  # reproducible


def test_refuses_unknown_names_and_overwrites(tmp_path):
    with pytest.raises(ParameterError, match="unknown zoo model"):
        zoo.build(["no-such-model"], tmp_path)
    zoo.build(["skl-svc"], tmp_path)
    with pytest.raises(Exception, match="exists|force"):
        zoo.build(["skl-svc"], tmp_path)
    assert "torch-gelu-dynamo21" in zoo.names() and "torch-gelu-dynamo21" not in zoo.names(fast=True)


@pytest.mark.slow
def test_dynamo_exporter_opset21_gelu(tmp_path):
    e, = zoo.build(["torch-gelu-dynamo21"], tmp_path)
    m = onnx.load(str(e.path))
    assert e.opset == 21 and "Gelu" in {n.op_type for n in m.graph.node}
    assert np.mean(zoo.predicted_labels(zoo.run(e.path, e.X)) == e.reference) >= 0.995
