"""Zoo entries written by ``torch.onnx.export``: the TorchScript exporter (``dynamo=False``) and the dynamo one.

Small nets trained for a few epochs on digits (float32 (n, 64) pixels / 16, or (n, 8, 8) rows as a
sequence) or mnist5k (float32 (n, 1, 28, 28) in [0, 1]): an MLP, a GELU MLP, a CNN, a ResNet-like net
with batch norm and skips, a GRU, an LSTM and a transformer encoder.
"""
from __future__ import annotations

import io
import warnings

import numpy as np

from . import Built, register
from ._data import mnist_images, tabular

TS_OPSETS = (13, 15, 17, 18, 20)


def _train(net, X: np.ndarray, y: np.ndarray, seed: int, epochs: int, lr: float = 3e-3):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    for m in net.modules():  # re-initialise under this seed (layers were built before manual_seed)
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    Xt, yt = torch.tensor(X), torch.tensor(y)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval()


def export_torch(net, example: np.ndarray, opset: int | None, dynamo: bool) -> bytes:
    """The net as ONNX bytes by torch's own exporter, batch dimension symbolic."""
    import torch

    x = torch.tensor(example[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            prog = torch.onnx.export(net, (x,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
                                     opset_version=opset)
            assert prog is not None
            return prog.model_proto.SerializeToString()
        f = io.BytesIO()
        torch.onnx.export(net, (x,), f, dynamo=False, opset_version=opset or 17,  # type: ignore[arg-type]  # BytesIO works
                          input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        return f.getvalue()


def _built(net, Xs, ys, opset, dynamo) -> Built:
    import torch

    with torch.no_grad():
        ref = net(torch.tensor(Xs)).argmax(1).numpy().astype(np.int64)
    return Built(export_torch(net, Xs, opset, dynamo), Xs, ys, ref)


def _digits(seed):
    Xtr, ytr, Xs, ys = tabular("digits", seed)
    return Xtr / np.float32(16), ytr, Xs / np.float32(16), ys


def _mlp(size, act="relu"):
    from torch import nn

    h = 32 * size
    return nn.Sequential(nn.Linear(64, h), nn.GELU() if act == "gelu" else nn.ReLU(), nn.Linear(h, h // 2),
                         nn.GELU() if act == "gelu" else nn.ReLU(), nn.Linear(h // 2, 10))


def _cnn(size):
    from torch import nn

    c = 4 * size
    return nn.Sequential(nn.Conv2d(1, c, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(c, 2 * c, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * c * 16, 10))


def _mlp_entry(seed, opset, size, act, dynamo):
    Xtr, ytr, Xs, ys = _digits(seed)
    return _built(_train(_mlp(size, act), Xtr, ytr, seed, 8), Xs, ys, opset, dynamo)


def _cnn_entry(seed, opset, size, dynamo):
    Xtr, ytr, Xs, ys = mnist_images(seed)
    return _built(_train(_cnn(size), Xtr, ytr, seed, 2), Xs, ys, opset, dynamo)


@register("torch-mlp", "torch.onnx", TS_OPSETS)
def torch_mlp(seed, opset, size):
    """A ReLU MLP on digits, TorchScript exporter."""
    return _mlp_entry(seed, opset, size, "relu", False)


@register("torch-gelu", "torch.onnx", TS_OPSETS)
def torch_gelu(seed, opset, size):
    """A GELU MLP on digits, TorchScript exporter (GELU as Erf arithmetic)."""
    return _mlp_entry(seed, opset, size, "gelu", False)


@register("torch-cnn", "torch.onnx", TS_OPSETS)
def torch_cnn(seed, opset, size):
    """A small CNN on mnist5k, TorchScript exporter."""
    return _cnn_entry(seed, opset, size, False)


@register("torch-resnet", "torch.onnx", TS_OPSETS)
def torch_resnet(seed, opset, size):
    """A ResNet-like CNN (batch norm, two residual blocks, global pooling) on mnist5k, TorchScript exporter."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.f = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1),
                                   nn.BatchNorm2d(c))

        def forward(self, x):
            return nn.functional.relu(x + self.f(x))

    c = 6 * size
    net = nn.Sequential(nn.Conv2d(1, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU(), Block(c), Block(c),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))
    Xtr, ytr, Xs, ys = mnist_images(seed, 1000)
    return _built(_train(net, Xtr, ytr, seed, 3, 1e-2), Xs, ys, opset, False)


class _Recurrent:
    """digits rows as a sequence of 8 steps of 8 pixels → GRU/LSTM → last hidden state → linear."""

    @staticmethod
    def make(kind, size):
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = (nn.GRU if kind == "gru" else nn.LSTM)(8, 16 * size, batch_first=True)
                self.out = nn.Linear(16 * size, 10)

            def forward(self, x):
                h, _ = self.rnn(x)
                return self.out(h[:, -1])

        return Net()


def _seq_entry(seed, opset, size, kind):
    Xtr, ytr, Xs, ys = _digits(seed)
    net = _Recurrent.make(kind, size)
    return _built(_train(net, Xtr.reshape(-1, 8, 8), ytr, seed, 10, 1e-2), Xs.reshape(-1, 8, 8), ys, opset, False)


@register("torch-gru", "torch.onnx", TS_OPSETS)
def torch_gru(seed, opset, size):
    """A GRU over digits rows, TorchScript exporter (the ONNX GRU op)."""
    return _seq_entry(seed, opset, size, "gru")


@register("torch-lstm", "torch.onnx", TS_OPSETS)
def torch_lstm(seed, opset, size):
    """An LSTM over digits rows, TorchScript exporter (the ONNX LSTM op)."""
    return _seq_entry(seed, opset, size, "lstm")


@register("torch-transformer", "torch.onnx", (17, 18, 20))
def torch_transformer(seed, opset, size):
    """A one-layer transformer encoder over digits rows (8 tokens), mean-pooled, TorchScript exporter."""
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            d = 16 * size
            self.emb = nn.Linear(8, d)
            self.enc = nn.TransformerEncoderLayer(d, 2, 2 * d, dropout=0.0, batch_first=True)
            self.out = nn.Linear(d, 10)

        def forward(self, x):
            return self.out(self.enc(self.emb(x)).mean(1))

    Xtr, ytr, Xs, ys = _digits(seed)
    net = _train(Net(), Xtr.reshape(-1, 8, 8), ytr, seed, 6)
    return _built(net, Xs.reshape(-1, 8, 8), ys, opset, False)


@register("torch-mlp-dynamo", "torch.dynamo", (18, 20), slow=True)
def torch_mlp_dynamo(seed, opset, size):
    """A ReLU MLP on digits, the default (dynamo) exporter."""
    return _mlp_entry(seed, opset, size, "relu", True)


@register("torch-cnn-dynamo", "torch.dynamo", (18, 20), slow=True)
def torch_cnn_dynamo(seed, opset, size):
    """A small CNN on mnist5k, the default (dynamo) exporter."""
    return _cnn_entry(seed, opset, size, True)


@register("torch-gelu-dynamo21", "torch.dynamo", (21,), slow=True)
def torch_gelu_dynamo21(seed, opset, size):
    """A GELU MLP on digits, dynamo exporter at opset 21 (the ONNX Gelu op)."""
    return _mlp_entry(seed, 21, size, "gelu", True)
