"""The third-party model zoo: small real classifiers written by *other tools'* exporters.

Every entry is trained here (seconds, on data shipped by installed packages) and written by the
exporter its users use: ``torch.onnx.export`` (TorchScript, ``dynamo=False``) and the default dynamo
exporter, skl2onnx, onnxmltools (LightGBM, XGBoost), onnxruntime's int8 ``quantize_dynamic`` and QDQ
``quantize_static``. Nothing is assembled by this package, so the files look like what an auditor
receives: the population ``undetectable scan`` earns its false-positive rate on.

``build(names, out_dir, seed=0)`` writes one ``.onnx`` per name and returns ``ZooEntry`` records
with sample inputs ``X`` in the file's own input layout and dtype (e.g. float32 (n, 1, 28, 28) for a
CNN, float32 (n, 30) for a skl2onnx model), the true labels ``y`` and the source framework's own
predicted labels ``reference`` on ``X`` (what the exporter was asked to reproduce).

Examples
--------
>>> import tempfile
>>> [e.family for e in build(["skl-logreg"], tempfile.mkdtemp(), seed=0)]
['skl2onnx']
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError


@dataclass(frozen=True)
class ZooEntry:
    """One model file of the zoo.

    ``X``: sample inputs in the file's own input layout and dtype; ``y``: their true labels;
    ``reference``: the labels the source framework itself predicts on ``X``; ``opset``: the default
    domain's opset the file imports.
    """

    name: str
    path: Path
    family: str
    X: np.ndarray
    y: np.ndarray
    reference: np.ndarray | None = None
    opset: int = 0


@dataclass(frozen=True)
class Built:
    """What a builder returns: the serialized model and its sample data."""

    model: bytes
    X: np.ndarray
    y: np.ndarray
    reference: np.ndarray


@dataclass(frozen=True)
class ZooModel:
    """A registry entry: ``family`` (the exporter), the builder ``fn(seed, opset, size) -> Built``,
    the opsets it can be asked for (``None`` = the exporter's default only) and whether it is slow
    (the dynamo exporter: seconds per file)."""

    name: str
    family: str
    fn: Callable[[int, int | None, int], Built]
    opsets: tuple[int, ...] = ()
    slow: bool = False
    doc: str = ""


REGISTRY: dict[str, ZooModel] = {}


def register(name: str, family: str, opsets: Sequence[int] = (), slow: bool = False):
    """Decorator: add a builder to the zoo registry under ``name``."""

    def deco(fn):
        REGISTRY[name] = ZooModel(name, family, fn, tuple(opsets), slow, (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return deco


def _load_builders() -> None:
    from . import quantized, sklearn_models, torch_models  # noqa: F401  (registration side effect)


def names(*, fast: bool | None = None) -> list[str]:
    """Every zoo model name (``fast=True``: only those built in about a second each; ``False``: only the slow ones)."""
    _load_builders()
    return [n for n, m in REGISTRY.items() if fast is None or m.slow != fast]


def model(name: str) -> ZooModel:
    """The registry entry of ``name``."""
    _load_builders()
    if name not in REGISTRY:
        raise ParameterError("names", f"unknown zoo model {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


def file_stem(name: str, seed: int, opset: int | None = None, size: int = 1) -> str:
    """The file name (without .onnx) ``build`` uses for one variant."""
    return name + f"_s{seed}" + (f"_op{opset}" if opset else "") + (f"_w{size}" if size != 1 else "")


def build(names: Iterable[str] | None, out_dir: str | Path, seed: int = 0, *, opset: int | None = None, size: int = 1,
          force: bool = False) -> list[ZooEntry]:
    """Train and export each named model into ``out_dir`` (created); one ``ZooEntry`` per file.

    Parameters
    ----------
    names : model names (``names()``); ``None``: every fast one.
    out_dir : folder to write the ``.onnx`` files into.
    seed : training and data-subsample coins (a different seed gives different weights).
    opset : the default-domain opset to ask the exporter for (models that cannot honour it use their
        exporter's default; ``ZooEntry.opset`` says what the file has).
    size : width multiplier (1 small, 2 wider / more trees).
    force : replace files that exist.
    """
    import onnx

    from ..fileio import atomic_file
    from ..onnxio import opsets

    if size not in (1, 2, 3):
        raise ParameterError("size", f"size must be 1, 2 or 3, got {size!r}")
    chosen = list(names) if names is not None else names_fast()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in chosen:
        zm = model(name)
        want = opset if (opset is None or opset in zm.opsets) else None
        built = zm.fn(int(seed), want, int(size))
        path = out / (file_stem(name, seed, want, size) + ".onnx")
        with atomic_file(path, force=force) as tmp:
            tmp.write_bytes(built.model)
        got = opsets(onnx.load_from_string(built.model)).get("", 0)
        entries.append(ZooEntry(name, path, zm.family, built.X, built.y, built.reference, got))
    return entries


def names_fast() -> list[str]:
    return names(fast=True)


def predicted_labels(outputs: Sequence[Any]) -> np.ndarray:
    """Class indices from an onnxruntime ``run`` result: the first integer label tensor, else argmax of the first 2-D scores."""
    for o in outputs:
        a = np.asarray(o) if not isinstance(o, list) else None
        if a is not None and a.ndim == 1 and np.issubdtype(a.dtype, np.integer):
            return a.astype(np.int64)
    for o in outputs:
        if isinstance(o, list) and o and isinstance(o[0], dict):  # ZipMap: list of {class: prob}
            keys = sorted(o[0])
            return np.array([keys[int(np.argmax([d[k] for k in keys]))] for d in o], dtype=np.int64)
        a = np.asarray(o)
        if a.ndim == 2 and np.issubdtype(a.dtype, np.floating):
            return a.argmax(1).astype(np.int64)
    raise ParameterError("outputs", "the model has neither an integer label output nor a 2-D score output")


def run(path: str | Path, X: np.ndarray) -> list[Any]:
    """Every output of the ONNX file at ``path`` on ``X`` (its own layout), in onnxruntime with one thread."""
    from ..onnxio import session

    sess = session(str(path))
    return sess.run(None, {sess.get_inputs()[0].name: X})


__all__ = ["REGISTRY", "Built", "ZooEntry", "ZooModel", "build", "file_stem", "model", "names", "predicted_labels", "run"]
