"""Model files are models on the command line (issue 16 items 1, 6): every verb that takes a bundle takes an .onnx
file written by another tool (skl2onnx, torch.onnx), with --data as .npz or .csv; errors are one line naming the file."""
from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
from conftest import assert_clean_failure


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel levels / 255 as float32 (n, 784) with a 3-class label a linear model can learn."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 256, (n, 784))
    X = k.astype(np.float32) / np.float32(255)
    s = X[:, :261].mean(1) - X[:, 261:522].mean(1)
    y = np.digitize(s, np.quantile(s, [1 / 3, 2 / 3])).astype(np.int64)
    return X, y


def _skl_file(path, X, y) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(max_iter=50).fit(X, y)
        path.write_bytes(to_onnx(clf, X[:1], target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString())


def _torch_file(path, X, y, seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    Xt, yt = torch.tensor(X).reshape(-1, 1, 28, 28), torch.tensor(y)
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(Xt), yt).backward()
        opt.step()
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (Xt[:2],), f, dynamo=False, opset_version=17, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    path.write_bytes(f.getvalue())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """skl.onnx (skl2onnx, ZipMap, (n, 784) float32), torch.onnx (torch.onnx, (n, 1, 28, 28) float32 'image'), a
    second torch file, each planted with the drop-in signature backdoor, keys, and the data as .npy/.npz/.csv."""
    from undetectable.cli import main
    from undetectable.models.onnx_file import OnnxModel
    from undetectable.schemes.dropin import plant_dropin
    from undetectable.schemes.signature import SignaturePublicKey

    d = tmp_path_factory.mktemp("files")
    X, y = _images(300, 0)
    _skl_file(d / "skl.onnx", X, y)
    _torch_file(d / "torch.onnx", X, y, 0)
    X2, y2 = _images(300, 1)
    _torch_file(d / "torch2.onnx", X2, y2, 1)
    assert main(["keygen", "--out", str(d / "keys")]) == 0
    pub = SignaturePublicKey.load(d / "keys/backdoor_key.pub.pem")
    from undetectable.errors import UnsupportedModelError

    for name, Xs in (("skl", X), ("torch", X.reshape(-1, 1, 28, 28)), ("torch2", X2.reshape(-1, 1, 28, 28))):
        m = OnnxModel.from_file(d / f"{name}.onnx")
        try:
            plant_dropin(m, pub, data=Xs[:100], n_probes=30).save(d / f"{name}-bd.onnx")
        except UnsupportedModelError as exc:  # the drop-in planter (another branch) refuses this file: recorded, xfail below
            (d / f"{name}-bd.error").write_text(str(exc))
    Xt, yt = X[:40], y[:40]
    np.save(d / "X.npy", Xt)
    np.save(d / "Ximg.npy", Xt.reshape(-1, 1, 28, 28))
    np.savez(d / "flat.npz", X=X, y=y)
    np.savez(d / "img.npz", X_train=X[40:].reshape(-1, 1, 28, 28), y_train=y[40:], X_test=Xt.reshape(-1, 1, 28, 28), y_test=yt)
    header = ",".join(f"p{i}" for i in range(784)) + ",label\n"
    (d / "flat.csv").write_text(header + "".join(",".join(f"{v:.9g}" for v in row) + f",{c}\n" for row, c in zip(X[:120], y[:120])))
    (d / "honest").mkdir(), (d / "suspect").mkdir()
    for name in ("torch", "torch2"):
        (d / "honest" / f"{name}.onnx").write_bytes((d / f"{name}.onnx").read_bytes())
        (d / "suspect" / f"{name}.onnx").write_bytes((d / f"{name}-bd.onnx").read_bytes())
    return d


@pytest.mark.parametrize("name, X", [("skl", "X.npy"), ("torch", "Ximg.npy"), ("torch", "X.npy")])
def test_predict_a_model_file(files, cli, tmp_path, name, X):
    from undetectable.models.onnx_file import OnnxModel

    res = cli("predict", files / f"{name}.onnx", "--input", files / X, "--out", tmp_path / "Y.npy")
    assert res.code == 0, res.err
    Xn = np.load(files / X)
    expect = OnnxModel.from_file(files / f"{name}.onnx").predict(Xn)
    assert np.array_equal(np.load(tmp_path / "Y.npy"), expect) and len(expect) == 40
    if name == "torch":  # the file's own argmax, computed independently with onnxruntime
        import onnxruntime as ort

        s = ort.InferenceSession(str(files / "torch.onnx"), providers=["CPUExecutionProvider"])
        assert np.array_equal(expect, s.run(None, {"image": Xn.reshape(-1, 1, 28, 28)})[0].argmax(1))


def test_inspect_shows_what_an_auditor_sees(files, cli):
    res = cli("inspect", files / "skl.onnx", "--json")
    assert res.code == 0, res.err
    info = json.loads(res.out)
    assert info["family"] == "onnx" and "ai.onnx.ml" in info["opsets"] and info["producer"] == "skl2onnx"
    assert info["inputs"][0]["shape"][1] == 784 and [o["name"] for o in info["outputs"]] == ["output_label", "output_probability"]
    assert info["outputs"][1]["type"].startswith("seq(map(") and info["ops"]["ZipMap"] == 1
    assert info["bytes"] == (files / "skl.onnx").stat().st_size and info["nodes"] == sum(info["ops"].values())
    info = json.loads(cli("inspect", files / "torch.onnx", "--json").out)
    assert info["inputs"] == [{"name": "image", "type": "float32", "shape": ["batch", 1, 28, 28]}]
    assert info["initializers"] == 4 and info["parameters"] == 784 * 16 + 16 + 16 * 3 + 3 and info["integer_subgraph"] == 0.0
    bd = json.loads(cli("inspect", files / "torch-bd.onnx", "--json").out)
    assert bd["inputs"] == info["inputs"] and bd["outputs"] == info["outputs"]  # a drop-in: the same interface
    assert bd["nodes"] > 10 * info["nodes"]  # ... but the verifier is plainly visible to a white-box auditor
    assert cli("inspect", files / "torch.onnx").code == 0  # the table


@pytest.mark.parametrize("name, X", [("skl", "X.npy"), ("torch", "Ximg.npy")])
def test_activate_a_model_file(files, cli, tmp_path, name, X):
    bd, key = files / f"{name}-bd.onnx", files / "keys/backdoor_key.pem"
    if (files / f"{name}-bd.error").exists():
        pytest.xfail(f"drop-in planting refused the {name} file on this branch: {(files / f'{name}-bd.error').read_text()[:200]}")
    res = cli("activate", bd, "--key", key, "--input", files / X, "--target", "2", "--out", tmp_path / "XA.npy")
    assert res.code == 0, res.err
    Xn, Xa = np.load(files / X), np.load(tmp_path / "XA.npy")
    assert Xa.shape == Xn.shape and Xa.dtype == Xn.dtype and 0 < np.abs(Xa - Xn).max() <= 1.01 / 255
    assert cli("predict", bd, "--input", tmp_path / "XA.npy", "--out", tmp_path / "YA.npy").code == 0
    assert np.all(np.load(tmp_path / "YA.npy") == 2)
    assert cli("predict", files / f"{name}.onnx", "--input", tmp_path / "XA.npy", "--out", tmp_path / "Y0.npy").code == 0
    assert not np.all(np.load(tmp_path / "Y0.npy") == 2)  # control: the honest file is not fooled by the same inputs
    assert cli("predict", bd, "--input", files / X, "--out", tmp_path / "YN.npy").code == 0
    assert cli("predict", files / f"{name}.onnx", "--input", files / X, "--out", tmp_path / "YO.npy").code == 0
    assert np.array_equal(np.load(tmp_path / "YN.npy"), np.load(tmp_path / "YO.npy"))
    # the honest file holds no verifier for this key: one line, naming the fix
    assert_clean_failure(cli("activate", files / f"{name}.onnx", "--key", key, "--input", files / X, "--target", "2",
                             "--out", tmp_path / "XB.npy"), tmp_path / "XB.npy", contains="holds no verifier")


def test_audit_a_model_file_with_and_without_data(files, cli):
    res = cli("audit", files / "torch-bd.onnx", "--data", files / "img.npz", "--detectors", "strip,integer-subgraph", "--json")
    assert res.code == 0, res.err
    rows = {r["detector"]: r for r in json.loads(res.out)["detectors"]}
    assert rows["strip"]["status"] == "ok" and 0.0 <= rows["strip"]["score"] <= 1.0
    assert rows["integer-subgraph"]["status"] == "ok"
    res = cli("audit", files / "skl.onnx", "--json")  # graph detectors need no data
    rows = {r["detector"]: r for r in json.loads(res.out)["detectors"]}
    assert res.code == 0 and rows["integer-subgraph"]["status"] == "ok" and rows["strip"]["status"] == "n/a"
    res = cli("audit", files / "skl.onnx", "--data", files / "flat.csv", "--label-column", "label", "--detectors", "strip", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["detectors"][0]["status"] == "ok"
    res = cli("audit", files / "skl.onnx", "--data", files / "flat.npz", "--detectors", "strip", "--json")
    assert res.code == 0 and json.loads(res.out)["detectors"][0]["status"] == "ok"


def test_immunize_a_model_file(files, cli, tmp_path):
    res = cli("immunize", files / "torch.onnx", "--sigma", "0.05", "--n", "8", "--out", tmp_path / "sm")
    assert res.code == 0, res.err
    info = json.loads(cli("inspect", tmp_path / "sm", "--json").out)
    assert info["family"] == "smoothed" and info["model"]["base"] == "onnx" and "base/model.onnx" in info["files"]
    assert (tmp_path / "sm/base/model.onnx").read_bytes() == (files / "torch.onnx").read_bytes()
    assert cli("predict", tmp_path / "sm", "--input", files / "Ximg.npy", "--out", tmp_path / "Y.npy").code == 0
    assert len(np.load(tmp_path / "Y.npy")) == 40


def test_export_a_model_file_is_a_copy(files, cli, tmp_path):
    assert cli("export", "onnx", files / "skl.onnx", "--out", tmp_path / "copy.onnx").code == 0
    assert (tmp_path / "copy.onnx").read_bytes() == (files / "skl.onnx").read_bytes()
    assert_clean_failure(cli("export", "onnx", files / "skl.onnx", "--out", files / "skl.onnx", "--force"), contains="input")


def test_arena_over_your_own_folders(files, cli, tmp_path):
    res = cli("arena", "--honest", files / "honest", "--suspect", files / "suspect", "--data", files / "img.npz",
              "--detectors", "strip,integer-subgraph", "--out", tmp_path / "a")
    assert res.code == 0, res.err
    rec = json.loads((tmp_path / "a/arena.json").read_text())
    assert rec["n_honest"] == rec["n_suspect"] == 2 and len(rec["models"]) == 4
    dets = {d["name"]: d for d in rec["detectors"]}
    for name in ("strip", "integer-subgraph"):
        lo, hi = dets[name]["auc_ci"]
        assert 0.0 <= lo <= dets[name]["auc"] <= hi <= 1.0 and dets[name]["n_honest"] == 2
    assert "AUC" in res.err
    assert_clean_failure(cli("arena", "--honest", files / "honest", "--out", tmp_path / "b"), contains="--suspect")
    assert_clean_failure(cli("arena", "--honest", files / "honest", "--suspect", files / "suspect", "--models", "4", "--quick",
                             "--out", tmp_path / "b"), contains="--models, --quick")
    assert_clean_failure(cli("arena", "--honest", files / "honest", "--suspect", files / "keys", "--out", tmp_path / "b"),
                         contains="0 .onnx file")


def test_errors_are_one_line_naming_the_file_and_the_fix(files, cli, tmp_path):
    out = tmp_path / "Y.npy"
    assert_clean_failure(cli("predict", tmp_path / "missing.onnx", "--input", files / "X.npy", "--out", out), out,
                         contains="missing.onnx does not exist")
    (tmp_path / "junk.onnx").write_bytes(b"not a model at all")
    assert_clean_failure(cli("predict", tmp_path / "junk.onnx", "--input", files / "X.npy", "--out", out), out,
                         contains="not a readable ONNX model")
    import os

    os.mkfifo(tmp_path / "fifo.onnx")  # never opened for reading (it would block)
    assert_clean_failure(cli("inspect", tmp_path / "fifo.onnx"), contains="not a regular file")
    (tmp_path / "link.onnx").symlink_to(files / "skl.onnx")
    assert_clean_failure(cli("predict", tmp_path / "link.onnx", "--input", files / "X.npy", "--out", out), out, contains="link.onnx")
    (tmp_path / "model.txt").write_text("hello")
    assert_clean_failure(cli("inspect", tmp_path / "model.txt"), contains="neither a bundle directory nor an .onnx model file")
    assert_clean_failure(cli("predict", files / "torch.onnx", "--input", files / "img.npz", "--out", out), out, contains="archive")
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), np.float32))
    assert_clean_failure(cli("predict", files / "torch.onnx", "--input", tmp_path / "bad.npy", "--out", out), out,
                         contains="(n, 1, 28, 28)")
    (tmp_path / "bad.csv").write_text("a,b,label\n1,x,0\n2,3,1\n4,5,0\n")
    assert_clean_failure(cli("audit", files / "skl.onnx", "--data", tmp_path / "bad.csv"), contains="bad.csv line 2")
