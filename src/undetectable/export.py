"""Export bundles to ONNX: ``export_onnx(model, path)`` dispatches to ``model.to_onnx()``.

Families that support it (rff, relu) build a plain ONNX graph (MatMul, Add, Cos/Relu, MatMul,
ArgMax) whose inputs are in the bundle's input units and whose outputs are ``scores`` (n, C) and
``label_index`` (n,), the index into the bundle's classes (manifest ``classes``).
"""
from __future__ import annotations

import os
from pathlib import Path

from .bundle import Model
from .errors import UsageError
from .fileio import atomic_file


def export_onnx(model: Model, path: str | os.PathLike, force: bool = False) -> Path:
    """Write ``model.to_onnx()`` to ``path`` atomically; refuse families without an ONNX graph."""
    to_onnx = getattr(model, "to_onnx", None)
    if to_onnx is None:
        raise UsageError(f"{model.family} bundles have no ONNX export; export an rff or relu bundle")
    from .bundle import model_sources

    proto = to_onnx()
    with atomic_file(path, force, inputs=model_sources(model)) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return Path(path)


def onnx_session(model, threads: int = 1):
    """An onnxruntime CPU session for an ``onnx.ModelProto`` or an ONNX file path (``onnxio.session``)."""
    from .onnxio import session

    return session(model, threads)
