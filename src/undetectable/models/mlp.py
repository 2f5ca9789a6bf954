"""A small seeded torch MLP trained on the CPU; weights stored as safetensors."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import Model
from ..data import Dataset
from .sklearn_model import input_scale


def _net(d_in: int, hidden: int, n_classes: int):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def net_from_state(tensors: dict) -> Any:
    """The network from its state dict (numpy arrays or torch tensors): sizes read from the shapes."""
    import torch

    t = {k: torch.as_tensor(np.asarray(v)) for k, v in tensors.items()}
    net = _net(t["0.weight"].shape[1], t["0.weight"].shape[0], t["4.weight"].shape[0])
    net.load_state_dict(t)
    return net.eval()


class MLPModel(Model):
    """Two hidden ReLU layers; inputs standardized by stored mean/std (pixels first scaled to [0,1])."""

    family = "torch-mlp"

    def __init__(self, net, mean: np.ndarray, std: np.ndarray, spec, classes) -> None:
        super().__init__(spec, classes)
        self.net = net.eval()
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.scale = input_scale(spec)

    @property
    def hidden(self) -> int:
        return self.net[0].out_features

    def torch_input(self, X: np.ndarray):
        import torch

        Z = (X.astype(np.float32) * np.float32(self.scale) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(Z))

    def scores(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.net(self.torch_input(X)).numpy()

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        return self.scores(X).argmax(axis=1).astype(np.int64)

    def describe(self) -> dict:
        return {"layers": [list(p.shape) for p in self.net.parameters()]}

    def to_onnx(self):
        """The plain ONNX graph of the network: input ``X`` (n, D) in the bundle's units, outputs ``scores`` (n, C)
        (the logits, float64) and ``label_index`` (n,)."""
        import onnx
        import torch
        from onnx import TensorProto, helper

        from ..errors import UnsupportedModelError
        from .random_features import onnx_classifier

        arr = onnx.numpy_helper.from_array
        inits = [arr(np.array(self.scale, np.float32), "scale"), arr(self.mean.astype(np.float32), "mean"),
                 arr(self.std.astype(np.float32), "std")]
        nodes = [helper.make_node("Cast", ["X"], ["xf"], to=TensorProto.FLOAT), helper.make_node("Mul", ["xf", "scale"], ["xs"]),
                 helper.make_node("Sub", ["xs", "mean"], ["xc"]), helper.make_node("Div", ["xc", "std"], ["h0"])]
        h = "h0"
        for i, layer in enumerate(self.net):
            if isinstance(layer, torch.nn.Linear):
                inits += [arr(layer.weight.detach().numpy().T.copy(), f"W{i}"), arr(layer.bias.detach().numpy().copy(), f"b{i}")]
                nodes += [helper.make_node("MatMul", [h, f"W{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"b{i}"], [f"h{i + 1}"])]
            elif isinstance(layer, torch.nn.ReLU):
                nodes.append(helper.make_node("Relu", [h], [f"h{i + 1}"]))
            else:
                raise UnsupportedModelError(f"no ONNX export for layer {type(layer).__name__}")
            h = f"h{i + 1}"
        nodes += [helper.make_node("Cast", [h], ["scores"], to=TensorProto.DOUBLE),
                  helper.make_node("ArgMax", [h], ["label_index"], axis=1, keepdims=0)]
        in_type = TensorProto.UINT8 if self.spec.is_image else TensorProto.DOUBLE
        return onnx_classifier("mlp", nodes, inits, in_type, self.spec.n_features, len(self.classes))

    def _save(self, directory: Path) -> dict:
        import torch
        from safetensors.torch import save_file

        tensors = {k: v.detach().contiguous() for k, v in self.net.state_dict().items()}
        tensors["input.mean"] = torch.from_numpy(self.mean)
        tensors["input.std"] = torch.from_numpy(self.std)
        save_file(tensors, str(directory / "weights.safetensors"))
        return {"hidden": self.hidden}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        from safetensors.torch import load_file

        t = load_file(str(directory / "weights.safetensors"))
        net = _net(spec.n_features, int(params["hidden"]), len(classes))
        net.load_state_dict({k: v for k, v in t.items() if not k.startswith("input.")})
        return cls(net, t["input.mean"].numpy(), t["input.std"].numpy(), spec, classes)


def train_mlp(data: Dataset, seed: int = 0, hidden: int = 128, epochs: int = 15, lr: float = 1e-3, batch: int = 128) -> MLPModel:
    """Adam on cross-entropy, seeded; deterministic on the CPU for a given seed."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    classes, y = np.unique(data.y_train, return_inverse=True)
    X = data.X_train.astype(np.float32) * np.float32(input_scale(data.spec))
    mean, std = X.mean(axis=0), X.std(axis=0) + np.float32(1e-3 if data.spec.is_image else 1e-8)
    if data.spec.is_image:  # one global scale for pixels keeps blank pixels blank
        mean, std = np.full_like(mean, X.mean()), np.full_like(std, X.std())
    Xt = torch.from_numpy((X - mean) / std)
    yt = torch.from_numpy(y.astype(np.int64))
    net = _net(X.shape[1], hidden, len(classes))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    from ..progress import track

    for _ in track(range(epochs), f"training mlp on {len(X)} inputs", unit="epochs"):
        for idx in np.array_split(rng.permutation(len(X)), max(1, len(X) // batch)):
            opt.zero_grad()
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    return MLPModel(net, mean, std, data.spec, classes)
