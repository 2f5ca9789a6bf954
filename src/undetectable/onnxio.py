"""The one place ONNX models are assembled, checked and run (layer 0: imports only ``errors``).

Every graph this package writes goes through ``assemble`` (one default opset and IR version, or the
user's own opset imports kept verbatim for a drop-in file) and ``check`` (the full ``onnx.checker``
with strict shape inference); ``session`` opens an onnxruntime CPU session.

Examples
--------
>>> from onnx import TensorProto, helper
>>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
...                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
...                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
>>> m = assemble(g)
>>> (m.ir_version, opsets(m))
(9, {'': 18})
>>> check(m)
>>> session(m).run(None, {"x": __import__("numpy").array([[-1.0, 0.0, 2.0]], "float32")})[0].tolist()
[[0.0, 0.0, 2.0]]
"""
from __future__ import annotations

from typing import Any
from collections.abc import Mapping

import onnx
from onnx import helper

from .errors import UnsupportedModelError

#: The opset and IR version of graphs this package builds from scratch.
OPSET = 18
IR_VERSION = 9


def assemble(graph: onnx.GraphProto, opset_imports: Mapping[str, int] | None = None, ir_version: int | None = None,
             producer: str | None = None) -> onnx.ModelProto:
    """``graph`` as a model with ``opset_imports`` ({domain: version}; default {"": OPSET}) and ``ir_version``.

    A drop-in file passes the user's own opset imports and IR version (and producer), so nothing in the
    model's header changes.
    """
    imports = dict(opset_imports) if opset_imports is not None else {"": OPSET}
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in imports.items()])
    model.ir_version = int(ir_version if ir_version is not None else IR_VERSION)
    if producer is not None:
        model.producer_name = producer
    return model


def opsets(model: onnx.ModelProto) -> dict[str, int]:
    """{domain: version} of a model's opset imports ("" is the default ONNX domain; "ai.onnx" is folded into it)."""
    return {("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in model.opset_import}


def check(model: onnx.ModelProto, *, full: bool = True) -> None:
    """The full ``onnx.checker`` (with strict shape inference when ``full``); ``UnsupportedModelError`` on failure."""
    try:
        onnx.checker.check_model(model, full_check=full)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise UnsupportedModelError(f"the ONNX model does not pass onnx.checker: {first}") from None


def session(model: Any, threads: int = 1) -> Any:
    """An onnxruntime CPU session (``threads`` intra-op threads) for an ``onnx.ModelProto`` or an ONNX file path."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    src = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
