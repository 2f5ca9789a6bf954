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


_ELEM_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64",
                12: "uint32", 13: "uint64"}


def probe_feeds(model: onnx.ModelProto, rows: int = 3, seed: int = 0) -> dict[str, Any]:
    """A few random rows for every graph input (symbolic dims: ``rows`` for the first, 1 elsewhere), in its element type."""
    import numpy as np

    rng = np.random.default_rng(seed)
    inits = {i.name for i in model.graph.initializer}
    feeds: dict[str, Any] = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dtype = _ELEM_DTYPES.get(tt.elem_type)
        if dtype is None:
            raise UnsupportedModelError(f"input {vi.name!r} has element type {tt.elem_type}, which this tool does not feed; "
                                        "export the model with a float, integer or uint8 input")
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (rows if i == 0 else 1)
                 for i, d in enumerate(tt.shape.dim)]
        if int(np.prod(shape, dtype=np.int64)) > 1 << 24:
            raise UnsupportedModelError(f"input {vi.name!r} declares {shape}: more than 2^24 values for {rows} rows")
        x = rng.integers(0, 256, size=shape) if dtype == "uint8" else rng.random(shape)
        feeds[vi.name] = np.asarray(x).astype(dtype)
    return feeds


def check_declared_outputs(model: onnx.ModelProto, feeds: Mapping[str, Any] | None = None) -> None:
    """Run ``model`` on a few rows and compare every tensor output with its declaration (element type, rank, fixed dims).

    A graph whose declared outputs disagree with what it emits (e.g. declares ``[N, 5]`` scores and emits
    ``[N, 3]``) would be planted and then fail to load; ``UnsupportedModelError`` names the output and both
    shapes. Non-tensor outputs (sequences of maps: ZipMap) are not compared. ``feeds``: default ``probe_feeds``.

    Examples
    --------
    >>> import numpy as np
    >>> from onnx import TensorProto, helper
    >>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
    ...                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
    ...                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])
    >>> try:
    ...     check_declared_outputs(assemble(g))
    ... except UnsupportedModelError as exc:
    ...     print(str(exc)[:56])
    output 'y' is declared [n, 4] but the graph emits [3, 3]
    """
    import numpy as np
    import onnxruntime as ort

    feeds = probe_feeds(model) if feeds is None else dict(feeds)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3  # the mismatch is reported below, in one line, not as an onnxruntime warning
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        outs = sess.run(None, feeds)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a graph that cannot run
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UnsupportedModelError(f"the ONNX model does not run on a few probe rows ({first})") from None
    for vi, val in zip(model.graph.output, outs):
        if not vi.type.HasField("tensor_type"):
            continue
        tt, arr = vi.type.tensor_type, np.asarray(val)
        want = _ELEM_DTYPES.get(tt.elem_type)
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
        declared = "[" + ", ".join(str(d) for d in dims) + "]"
        if want is not None and arr.dtype != np.dtype(want):
            raise UnsupportedModelError(f"output {vi.name!r} is declared {want} but the graph emits {arr.dtype}; "
                                        "fix the output's declaration (re-export the model)")
        if tt.HasField("shape") and (len(dims) != arr.ndim or any(isinstance(d, int) and d > 0 and d != s
                                                                   for d, s in zip(dims, arr.shape))):
            raise UnsupportedModelError(f"output {vi.name!r} is declared {declared} but the graph emits {list(arr.shape)} "
                                        "on probe rows; fix the output's declared shape (re-export the model)")
