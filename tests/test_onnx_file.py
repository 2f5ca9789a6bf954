"""Model files are models: ``OnnxModel`` reads a third-party ONNX file safely and runs it in its own format."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import undetectable as ud
from undetectable.errors import UnsupportedModelError, UsageError
from undetectable.models.onnx_file import IOSpec, OnnxModel


def _iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def lr_files(tmp_path_factory):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    est = LogisticRegression(max_iter=500).fit(X, y)
    d = tmp_path_factory.mktemp("lr")
    out = {}
    for zipmap in (True, False):
        m = to_onnx(est, X[:1], options=None if zipmap else {LogisticRegression: {"zipmap": False}})
        out[zipmap] = d / f"lr_zipmap{int(zipmap)}.onnx"
        onnx.save(m, out[zipmap])
    return est, X, out


def test_sklearn_file_runs_in_its_own_format(lr_files):
    est, X, files = lr_files
    zm, plain = ud.load(files[True]), ud.load(files[False])
    assert isinstance(zm, OnnxModel) and zm.family == "onnx"
    assert zm.interface.inputs == (IOSpec("X", "float32", (None, 4)),)
    assert [o.kind for o in zm.interface.outputs] == ["tensor", "seq(map(int64,float32))"]
    assert zm.interface.opsets.get("ai.onnx.ml") and zm.interface.producer == "skl2onnx"
    assert zm.spec.shape == (4,) and zm.spec.dtype == "float32"
    out = zm.run(X[:3])
    assert isinstance(out["output_probability"], list) and set(out["output_probability"][0]) == {0, 1, 2}
    assert np.array_equal(zm.predict(X), est.predict(X)) and np.array_equal(plain.predict(X), est.predict(X))
    np.testing.assert_allclose(zm.scores(X), est.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(zm.scores(X), plain.scores(X))  # ZipMap read back into the same columns
    assert zm.classes.tolist() == [0, 1, 2]


def test_save_file_and_bundle_roundtrip(lr_files, tmp_path):
    _, X, files = lr_files
    m = ud.load(files[True])
    p = ud.save(m, tmp_path / "copy.onnx")
    assert p.read_bytes() == files[True].read_bytes()  # byte for byte: nothing added, nothing lost
    with pytest.raises(UsageError, match="already exists"):
        ud.save(m, tmp_path / "copy.onnx")
    with pytest.raises(UsageError, match="input"):
        ud.save(m, files[True], force=True)  # never over the file it was read from
    ud.save(m, tmp_path / "bundle")
    b = ud.load(tmp_path / "bundle")
    assert b.family == "onnx" and (tmp_path / "bundle" / "model.onnx").is_file()
    assert np.array_equal(b.predict(X), m.predict(X))


def test_native_shape_flat_or_image():
    W = numpy_helper.from_array(np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32), "W")
    nodes = [helper.make_node("Flatten", ["image"], ["f"]), helper.make_node("MatMul", ["f", "W"], ["logits"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 2, 2])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])], [W])
    m = OnnxModel(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]))
    assert m.spec.shape == (3, 2, 2) and m.interface.inputs[0].shape == ("N", 3, 2, 2)
    X = np.random.default_rng(1).normal(size=(5, 3, 2, 2)).astype(np.float32)
    assert np.array_equal(m.predict(X), m.predict(X.reshape(5, 12)))
    assert np.array_equal(m.predict(X), (X.reshape(5, 12) @ numpy_helper.to_array(W)).argmax(1))
    with pytest.raises(UsageError, match="shape"):
        m.predict(X.reshape(5, 6, 2))


def test_hostile_files_refused(tmp_path, monkeypatch, lr_files):
    fifo = tmp_path / "f.onnx"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="regular file"):
        OnnxModel.from_file(fifo)  # no hang
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff" * 100)
    with pytest.raises(UsageError, match="not a readable ONNX model"):
        ud.load(junk)
    monkeypatch.setenv("UNDETECTABLE_MAX_FILE_BYTES", "100")
    with pytest.raises(Exception, match="UNDETECTABLE_MAX_FILE_BYTES"):
        OnnxModel.from_file(lr_files[2][True])
    monkeypatch.delenv("UNDETECTABLE_MAX_FILE_BYTES")
    link = tmp_path / "link.onnx"
    link.symlink_to(lr_files[2][True])
    with pytest.raises(UsageError):
        OnnxModel.from_file(link)


def test_external_data_confined_to_the_folder(tmp_path):
    W = numpy_helper.from_array(np.ones((4, 2), np.float32), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])], [W])
    m = helper.make_model(g)
    (tmp_path / "ok").mkdir()
    onnx.save(m, tmp_path / "ok" / "m.onnx", save_as_external_data=True, location="w.bin", size_threshold=0)
    ok = OnnxModel.from_file(tmp_path / "ok" / "m.onnx")
    assert ok.run(np.ones((1, 4), np.float32))["y"].tolist() == [[4.0, 4.0]]
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(8, np.float32).tobytes())
    for loc in ("../secret.bin", str(secret)):
        bad = onnx.load(tmp_path / "ok" / "m.onnx", load_external_data=False)
        for e in bad.graph.initializer[0].external_data:
            if e.key == "location":
                e.value = loc
        onnx.save(bad, tmp_path / "ok" / "bad.onnx")
        with pytest.raises(UnsupportedModelError, match="outside the model's folder"):
            OnnxModel.from_file(tmp_path / "ok" / "bad.onnx")
