"""Export bundles to ONNX: ``export_onnx(model, path)`` dispatches to ``model.to_onnx()``.

Every family whose model has a graph exports: rff and relu (MatMul, Add, Cos/Relu, MatMul, ArgMax),
sklearn logistic regression (Cast, Mul[, Sub, Div], MatMul, Add, ArgMax), the torch MLP, and the signature
wrapper (its base graph plus the in-graph verifier: the honest bundle's export is the same base graph, so
an auditor can diff the two). Inputs are in the bundle's input units; outputs are ``scores`` (n, C) and
``label_index`` (n,), the index into the bundle's classes (manifest ``classes``).
"""
from __future__ import annotations

import os
from pathlib import Path

from .bundle import Model
from .errors import UnsupportedModelError
from .fileio import atomic_file


def export_onnx(model: Model, path: str | os.PathLike, force: bool = False) -> Path:
    """Write ``model.to_onnx()`` to ``path`` atomically; refuse families without an ONNX graph.

    A model file (``OnnxModel``) is written as it is: the export of an ONNX file is a copy of it.
    """
    if getattr(model, "proto", None) is not None and hasattr(model, "save"):
        return model.save(path, force=force)
    to_onnx = getattr(model, "to_onnx", None)
    if to_onnx is None:
        raise UnsupportedModelError(f"{model.family} bundles have no ONNX graph; export an rff, relu, logistic-regression, "
                                    "torch-mlp or signature bundle")
    from .bundle import model_sources

    proto = to_onnx()
    with atomic_file(path, force, inputs=model_sources(model)) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return Path(path)


def onnx_session(model, threads: int = 1):
    """An onnxruntime CPU session for an ``onnx.ModelProto`` or an ONNX file path (``onnxio.session``)."""
    from .onnxio import session

    return session(model, threads)
