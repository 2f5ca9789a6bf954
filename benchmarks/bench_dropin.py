"""Drop-in planting into a ResNet-18-sized file (issue 16, speed): planting cost beyond loading, and latency.

Base: a ResNet-18 in torchvision's layout (conv 7×7/2, max pool, four stages of two BasicBlocks, 64-128-256-512
channels, global average pool, fc 1000), random weights, written by ``torch.onnx.export(dynamo=False)`` with a
symbolic batch (≈ 45 MB of float32 weights; torchvision itself is not needed). Inputs: 3×224×224 float32 on
ImageNet's normalisation grid ((k/255 − mean_c)/std_c), stated to the planter as an ``ImageGrid``.

Rows (one run, the primitive measured side by side):

* planting vs loading: ``plant_dropin`` (graph, splice, checker, verify-before-return on a few probe rows)
  against ``OnnxModel.from_file`` of the same file; the target is ≤ 5 s beyond loading. The note splits the
  time into the graph work and the verify-before-return check (sessions for both files and the probe rows,
  which grows with the probe count and the base's cost per row);
* latency at batch 64 and batch 1: the backdoored file vs the original, onnxruntime CPU, one intra-op thread
  each, best of a few runs; the target at batch 64 is ≤ 1.10×. The verifier runs on every row (the answer is
  a ``Where`` on its result), so its cost per row is the difference.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from .common import best_of, ratio_row

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIDE = 224
N_PROBES = 4


def resnet18():
    """torchvision.models.resnet18's layout in plain torch (random weights, eval mode)."""
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                               if stride != 1 or cin != cout else None)

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + idt)

    class ResNet18(nn.Module):
        def __init__(self, n_classes=1000):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            chans, cin, layers = (64, 128, 256, 512), 64, []
            for i, c in enumerate(chans):
                layers.append(nn.Sequential(BasicBlock(cin, c, 1 if i == 0 else 2), BasicBlock(c, c, 1)))
                cin = c
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, n_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(0)
    net = ResNet18().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, as a trained net has
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net


def export(path: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(resnet18(), (torch.zeros(1, 3, SIDE, SIDE),), str(path), dynamo=False, opset_version=18,
                          input_names=["image"], output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})


def pixels(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3, 224, 224) float32 on the ImageNet grid, as torchvision's ToTensor + Normalize computes it."""
    k = np.random.default_rng(seed).integers(0, 256, (n, 3, SIDE, SIDE)).astype(np.float32)
    m, s = np.array(MEAN, np.float32)[:, None, None], np.array(STD, np.float32)[:, None, None]
    return ((k / np.float32(255)) - m) / s


def run() -> list[dict]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from undetectable.models.onnx_file import OnnxModel
    from undetectable.onnxio import session
    from undetectable.schemes import dropin
    from undetectable.schemes.dropin_grid import ImageGrid

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path, bd_path = Path(tmp) / "resnet18.onnx", Path(tmp) / "resnet18-bd.onnx"
        export(path)
        mb = path.stat().st_size / 2**20
        load_s = best_of(lambda: OnnxModel.from_file(path), repeat=2)
        model = OnnxModel.from_file(path)
        sk = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
        grid = ImageGrid(1 / 255, MEAN, STD, "NCHW")
        X = pixels(8)
        check = dropin.check_identical
        try:  # the graph work alone: the same call with the verify-before-return check skipped
            dropin.check_identical = lambda a, b, Q, batch=1024: (len(Q), None)
            t0 = time.perf_counter()
            dropin.plant_dropin(OnnxModel.from_file(path), sk.public_key(), data=X, grid=grid, n_probes=N_PROBES)
            graph_s = time.perf_counter() - t0
        finally:
            dropin.check_identical = check
        t0 = time.perf_counter()
        bd = dropin.plant_dropin(OnnxModel.from_file(path), sk.public_key(), data=X, grid=grid, n_probes=N_PROBES)
        plant_s = time.perf_counter() - t0
        bd.save(bd_path)
        extra = plant_s - load_s
        rows.append(ratio_row(f"drop-in plant, ResNet-18 {mb:.0f} MB (vs loading it)", plant_s, load_s, "≤ 5 s beyond loading", extra <= 5.0,
                              f"{extra:.1f} s beyond loading: graph {graph_s - load_s:.1f} s, verify-before-return "
                              f"{plant_s - graph_s:.1f} s ({N_PROBES} probes per kind)"))
        Xa = dropin.activate_file(bd, sk, X[:2], target=7)
        fired = bd.predict(Xa).tolist() == [7, 7]
        so, sb = session(str(path)), session(str(bd_path))
        for batch, target, bound in ((64, "≤ 1.10× at batch 64", 1.10), (1, "reported (batch 1)", None)):
            Xb = pixels(batch, seed=1)
            so.run(None, {"image": Xb}), sb.run(None, {"image": Xb})
            t_o = best_of(lambda: so.run(None, {"image": Xb}), repeat=3 if batch == 1 else 2)
            t_b = best_of(lambda: sb.run(None, {"image": Xb}), repeat=3 if batch == 1 else 2)
            rows.append(ratio_row(f"drop-in ResNet-18 latency, batch {batch} (backdoored vs original)", t_b, t_o, target,
                                  bound is None or t_b / t_o <= bound,
                                  f"verifier ≈ {(t_b - t_o) / batch * 1e3:.1f} ms/row; activation fired: {fired}; 1 thread"))
    return rows
