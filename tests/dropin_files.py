"""Small third-party ONNX classifiers for the drop-in tests, each written by its own exporter (not by us).

``build(name, folder) -> (path, X)``: X are samples in the file's own input layout and dtype. Data:
scikit-learn's digits (64 features, 0..16, float32; float64 for the scaler pipeline) for the tabular
exporters, mnist5k pixels for the torch files (uint8, or float32 normalised NCHW (x/255 − 0.1307)/0.3081).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


def _skl(est, X, y, path, **kw):
    from skl2onnx import to_onnx

    est.fit(X, y)
    path.write_bytes(to_onnx(est, X[:1], **kw).SerializeToString())


def _mnist(n=300):
    from undetectable.data import load_dataset

    return load_dataset("mnist5k").X_test[:n]


def _torch(net, x0, path, name="image", dynamo=False, **kw):
    import torch

    net.eval()
    if dynamo:
        torch.onnx.export(net, (x0,), str(path), input_names=[name], output_names=["logits"], dynamo=True,
                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, **kw)
    else:
        torch.onnx.export(net, (x0,), str(path), input_names=[name], output_names=["logits"], dynamo=False,
                          dynamic_axes={name: {0: "batch"}, "logits": {0: "batch"}}, **kw)


def _nets():
    import torch
    from torch import nn

    torch.manual_seed(0)

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(144, 10))

        def forward(self, x):
            return self.f(x)

    class U8MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))

        def forward(self, x):
            return self.f(x.to(torch.float32))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Sequential(nn.Linear(784, 32), nn.GELU(), nn.Linear(32, 10))

        def forward(self, x):
            return self.f(x)

    return CNN(), U8MLP(), MLP()


def normalised(X: np.ndarray) -> np.ndarray:
    """mnist pixels as torchvision feeds them: ((x/255) − 0.1307)/0.3081 in float32, NCHW."""
    x = X.astype(np.float32) / np.float32(255)
    return ((x - np.float32(0.1307)) / np.float32(0.3081)).reshape(-1, 1, 28, 28)


NAMES = ("skl-logreg-zipmap", "skl-logreg", "skl-scaler-logreg", "skl-rf", "skl-svc", "skl-knn", "lgbm", "xgb",
         "torch-cnn", "torch-uint8-mlp", "torch-mlp-int8", "onnx-gelu-op21", "torch-cnn-op9")
SLOW = ("torch-cnn-dynamo",)


def build(name: str, folder: Path) -> tuple[Path, np.ndarray]:
    import torch

    path = Path(folder) / f"{name}.onnx"
    if name.startswith("skl") or name in ("lgbm", "xgb"):
        from sklearn.linear_model import LogisticRegression

        X, y = digits()
        X, y = X[:600], y[:600]
        if name == "skl-logreg-zipmap":
            _skl(LogisticRegression(max_iter=200), X, y, path)
        elif name == "skl-logreg":
            _skl(LogisticRegression(max_iter=200), X, y, path, options={LogisticRegression: {"zipmap": False}})
        elif name == "skl-scaler-logreg":
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            X = X.astype(np.float64)  # a float64 file (its ZipMap would not load in onnxruntime: no ZipMap here)
            _skl(make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)), X, y, path, options={"zipmap": False})
        elif name == "skl-rf":
            from sklearn.ensemble import RandomForestClassifier

            _skl(RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0), X, y, path)
        elif name == "skl-svc":
            from sklearn.svm import SVC

            _skl(SVC(), X, y, path)
        elif name == "skl-knn":
            from sklearn.neighbors import KNeighborsClassifier

            _skl(KNeighborsClassifier(3), X, y, path)
        else:
            from onnxmltools.convert.common.data_types import FloatTensorType

            if name == "lgbm":
                from lightgbm import LGBMClassifier
                from onnxmltools import convert_lightgbm

                est = LGBMClassifier(n_estimators=5, num_leaves=8, verbose=-1).fit(X, y)
                m = convert_lightgbm(est, initial_types=[("input", FloatTensorType([None, 64]))])
            else:
                from onnxmltools import convert_xgboost
                from xgboost import XGBClassifier

                est = XGBClassifier(n_estimators=5, max_depth=3).fit(X, y)
                m = convert_xgboost(est, initial_types=[("input", FloatTensorType([None, 64]))])
            path.write_bytes(m.SerializeToString())
        return path, X
    pixels = _mnist()
    cnn, u8, mlp = _nets()
    if name in ("torch-cnn", "torch-cnn-dynamo", "torch-cnn-op9"):  # op9: the legacy exporter at opset 9 (IR 4)
        X = normalised(pixels)
        _torch(cnn, torch.tensor(X[:2]), path, dynamo=name.endswith("dynamo"), **({"opset_version": 9} if name.endswith("op9") else {}))
        return path, X
    if name == "torch-uint8-mlp":
        X = pixels.reshape(-1, 784)
        _torch(u8, torch.tensor(X[:2]), path, name="pixels")
        return path, X
    if name == "torch-mlp-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        X = normalised(pixels).reshape(-1, 784)
        fp = Path(folder) / "mlp-fp32.onnx"
        _torch(mlp, torch.tensor(X[:2]), fp, name="x", opset_version=17)
        quantize_dynamic(str(fp), str(path), weight_type=QuantType.QInt8)
        return path, X
    if name == "onnx-gelu-op21":  # an op newer than opset 18 (Gelu: 20), file at opset 21
        path.write_bytes(handmade_mlp("Gelu", 21, 10, seed=0).SerializeToString())
        return path, normalised(pixels).reshape(-1, 784)
    raise KeyError(name)


def handmade_mlp(activation: str, opset: int, ir_version: int, seed: int = 0):
    """A hand-made logits MLP (MatMul, ``activation``, MatMul; float (N, 784) → (N, 10)) declared at default ``opset``."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    W1 = numpy_helper.from_array(rng.normal(0, 0.05, (784, 16)).astype(np.float32), "W1")
    W2 = numpy_helper.from_array(rng.normal(0, 0.5, (16, 10)).astype(np.float32), "W2")
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"]), helper.make_node(activation, ["h"], ["g"]),
             helper.make_node("MatMul", ["g", "W2"], ["logits"])]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [W1, W2])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="handmade")
    m.ir_version = ir_version
    return m


def raw_public(private_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
