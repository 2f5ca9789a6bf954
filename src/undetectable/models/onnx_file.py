"""A user's ONNX model file as a ``Model``: read safely, run in its own format, saved byte for byte.

``OnnxModel.from_file(path)`` reads a classifier written by any exporter (torch.onnx, skl2onnx,
onnxmltools, onnxruntime's quantizer) without trusting it: a regular file (no FIFO, no device, no
symlink), within ``UNDETECTABLE_MAX_FILE_BYTES``, external data only from regular files inside the
model's own folder. Nothing in the file is changed: ``proto`` is the parsed model as it was.

* ``interface``: the I/O signature (names, element types, shapes with symbolic dimensions, ZipMap
  ``seq(map(...))`` outputs), the opset imports, the IR version and the producer;
* ``run(X)``: every output in the file's own format (onnxruntime, one thread);
* ``predict(X)``: the file's label output where it has one, else the argmax of its scores;
* ``scores(X)``: (n, C) probabilities or logits (a ZipMap output read back into columns);
* ``spec``: the native input's per-example shape and dtype (``InputSpec``).

``X`` may be given in the native per-example shape (n, *shape) or flat (n, d).

Examples
--------
>>> import tempfile, pathlib, numpy as np, onnx
>>> from onnx import TensorProto, helper, numpy_helper
>>> W = numpy_helper.from_array(np.eye(3, dtype=np.float32), "W")
>>> g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["logits"])], "g",
...                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
...                       [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], [W])
>>> p = pathlib.Path(tempfile.mkdtemp()) / "m.onnx"
>>> onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
>>> m = OnnxModel.from_file(p)
>>> m.interface.inputs[0]
IOSpec(name='x', elem_type='float32', shape=('batch', 3), kind='tensor')
>>> m.spec.shape, m.spec.dtype
((3,), 'float32')
>>> m.predict(np.array([[0.0, 2.0, 1.0]], np.float32)).tolist()
[1]
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from ..bundle import Model
from ..errors import UnsupportedModelError, UsageError
from ..onnxio import opsets, session
from ..safety import limit, open_nofollow, over_limit
from ..spec import InputSpec

#: ONNX element type → numpy dtype name (the ones a classifier's inputs and outputs use).
ELEM_TYPES: dict[int, str] = {TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64", TensorProto.FLOAT16: "float16",
                              TensorProto.UINT8: "uint8", TensorProto.INT8: "int8", TensorProto.INT32: "int32",
                              TensorProto.INT64: "int64", TensorProto.STRING: "str", TensorProto.BOOL: "bool"}
#: the ai.onnx.ml classifier ops and where they keep their class labels
_LABEL_ATTRS = ("classlabels_int64s", "classlabels_strings", "classlabels_ints")


@dataclasses.dataclass(frozen=True)
class IOSpec:
    """One graph input or output: ``shape`` holds ints, symbolic names (str) or None (unknown) per axis.

    ``kind`` is "tensor", or the nested type for others (e.g. "seq(map(int64,float32))" for a ZipMap).
    """

    name: str
    elem_type: str
    shape: tuple[int | str | None, ...] | None
    kind: str = "tensor"


@dataclasses.dataclass(frozen=True)
class OnnxInterface:
    """What a caller of the file sees: inputs, outputs, opset imports ({domain: version}), IR version, producer."""

    inputs: tuple[IOSpec, ...]
    outputs: tuple[IOSpec, ...]
    opsets: dict[str, int]
    ir_version: int
    producer: str = ""

    def same_signature(self, other: OnnxInterface) -> bool:
        """Same inputs and outputs (names, types, shapes with symbolic dims, order), opsets and IR version."""
        return (self.inputs, self.outputs, self.opsets, self.ir_version) == (other.inputs, other.outputs, other.opsets, other.ir_version)


def _type_of(tp: onnx.TypeProto) -> tuple[str, str, tuple | None]:
    """(kind, elem_type, shape) of a value's type."""
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        tt = tp.tensor_type
        shape = None if not tt.HasField("shape") else tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param if d.HasField("dim_param") else None) for d in tt.shape.dim)
        return "tensor", ELEM_TYPES.get(tt.elem_type, TensorProto.DataType.Name(tt.elem_type).lower()), shape
    if which == "sequence_type":
        k, e, _ = _type_of(tp.sequence_type.elem_type)
        return f"seq({k if k != 'tensor' else 'tensor(' + e + ')'})", e, None
    if which == "map_type":
        key = ELEM_TYPES.get(tp.map_type.key_type, str(tp.map_type.key_type))
        _, e, _ = _type_of(tp.map_type.value_type)
        return f"map({key},{e})", e, None
    return str(which), "", None


def io_spec(vi: onnx.ValueInfoProto) -> IOSpec:
    kind, elem, shape = _type_of(vi.type)
    return IOSpec(vi.name, elem, shape, kind)


def interface_of(model: onnx.ModelProto) -> OnnxInterface:
    """The I/O signature of ``model`` (initializers listed as inputs are not inputs)."""
    inits = {i.name for i in model.graph.initializer}
    return OnnxInterface(tuple(io_spec(v) for v in model.graph.input if v.name not in inits),
                         tuple(io_spec(v) for v in model.graph.output), opsets(model), int(model.ir_version), model.producer_name)


def _read_bounded(path: Path, what: str) -> bytes:
    try:
        fd = open_nofollow(path, "FILE_BYTES", what)
    except ValueError as exc:
        raise UsageError(f"{exc}; pass a regular .onnx file") from None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit("FILE_BYTES") + 1)


def _load_external(model: onnx.ModelProto, folder: Path, what: str) -> None:
    """Load external tensor data, each location a plain relative path to a regular file inside ``folder``."""
    from onnx.external_data_helper import (
        ExternalDataInfo,
        _get_all_tensors,
        uses_external_data,
    )

    root = folder.resolve()
    total = 0
    for t in _get_all_tensors(model):
        if not uses_external_data(t):
            continue
        info = ExternalDataInfo(t)
        loc = Path(info.location)
        if loc.is_absolute() or ".." in loc.parts or not info.location:
            raise UnsupportedModelError(f"{what}: tensor {t.name!r} keeps its data at {info.location!r}, outside the model's folder; "
                                        "keep external data files beside the model")
        p = folder / loc
        if p.resolve().parent != root and root not in p.resolve().parents:
            raise UnsupportedModelError(f"{what}: tensor {t.name!r}'s data file {info.location!r} leaves the model's folder")
        try:
            fd = open_nofollow(p, "FILE_BYTES", f"{what}: external data {info.location}")
        except ValueError as exc:
            raise UsageError(f"{exc}; keep external data files beside the model") from None
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            off = int(info.offset or 0)
            length = int(info.length) if info.length else size - off
            if off < 0 or length < 0 or off + length > size:
                raise UnsupportedModelError(f"{what}: tensor {t.name!r} declares data beyond the end of {info.location!r}")
            total += length
            if total > limit("FILE_BYTES"):
                raise over_limit(f"{what}: external data", total, "FILE_BYTES", UsageError)
            fh.seek(off)
            t.raw_data = fh.read(length)
        del t.external_data[:]
        t.data_location = TensorProto.DEFAULT


def read_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """Parse an ONNX file safely (see the module docstring); ``UsageError`` naming the file otherwise."""
    path = Path(path)
    what = f"model file {path}"
    raw = _read_bounded(path, what)
    if len(raw) > limit("FILE_BYTES"):
        raise over_limit(what, len(raw), "FILE_BYTES", UsageError)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(raw)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise UsageError(f"{path} is not a readable ONNX model ({type(exc).__name__}); export your classifier to ONNX first") from None
    if not model.HasField("graph") or not model.graph.output:
        raise UsageError(f"{path} is not a readable ONNX model (no graph or no outputs); export your classifier to ONNX first")
    _load_external(model, path.parent, what)
    return model


def _classes_from_graph(model: onnx.ModelProto) -> np.ndarray | None:
    """Class labels the graph states (ZipMap or an ai.onnx.ml classifier's classlabels attribute)."""
    for node in model.graph.node:
        if node.domain == "ai.onnx.ml" and node.op_type in ("ZipMap", "LinearClassifier", "TreeEnsembleClassifier", "SVMClassifier"):
            for a in node.attribute:
                if a.name in _LABEL_ATTRS and a.ints:
                    return np.asarray(list(a.ints), dtype=np.int64)
                if a.name in _LABEL_ATTRS and a.strings:
                    return np.asarray([s.decode() for s in a.strings])
    return None


class OnnxModel(Model):
    """A user's ONNX classifier (see the module docstring). ``source``: the file it was read from, if any."""

    family = "onnx"

    def __init__(self, proto: onnx.ModelProto, source: Path | None = None) -> None:
        self.proto = proto
        self.source = source
        self.interface = interface_of(proto)
        if not self.interface.inputs:
            raise UnsupportedModelError("the ONNX model has no inputs")
        self._session: Any = None
        classes = _classes_from_graph(proto)
        if classes is None:
            c = self._n_score_columns()
            classes = np.arange(c if c else 1)
        self.classes = np.asarray(classes)

    # --- reading ---------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike) -> OnnxModel:
        return cls(read_onnx(path), Path(path))

    @property
    def input(self) -> IOSpec:
        """The one data input (the first non-initializer input)."""
        return self.interface.inputs[0]

    @property
    def spec(self) -> InputSpec:
        """Per-example shape and dtype of the input; ``UnsupportedModelError`` if a non-batch axis is symbolic."""
        inp = self.input
        shape = inp.shape or ()
        if len(shape) < 1 or not all(isinstance(s, int) and s > 0 for s in shape[1:]):
            raise UnsupportedModelError(f"the model's input {inp.name!r} has shape {shape}: its per-example axes must be fixed numbers")
        return InputSpec(tuple(int(s) for s in shape[1:] if isinstance(s, int)) or (1,), inp.elem_type)

    @spec.setter
    def spec(self, value) -> None:  # Model.__init__ compatibility; the spec is the file's
        pass

    def _n_score_columns(self) -> int | None:
        for o in self.interface.outputs:
            if o.kind == "tensor" and o.elem_type.startswith("float") and o.shape and len(o.shape) == 2 and isinstance(o.shape[1], int):
                return o.shape[1]
        return None

    # --- running ---------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        if self._session is None:
            try:
                self._session = session(self.proto)
            except Exception as exc:  # noqa: BLE001 - onnxruntime refuses the graph
                raise UnsupportedModelError(f"onnxruntime cannot load the model: {str(exc).strip().splitlines()[0][:200]}") from None
        return self._session

    def native(self, X: Any) -> np.ndarray:
        """``X`` as the input's dtype and per-example shape (n, *shape); flat (n, d) rows are reshaped."""
        X = np.asarray(X)
        inp = self.input
        dtype = np.dtype(inp.elem_type) if inp.elem_type != "str" else np.dtype(object)
        shape = inp.shape or ()
        per = tuple(s for s in shape[1:] if isinstance(s, int) and s > 0)
        if per and len(per) == len(shape) - 1:
            d = int(np.prod(per))
            if X.ndim == 1 and X.size == d:
                X = X[None]
            if X.ndim == 2 and X.shape[1] == d and X.shape[1:] != tuple(per):
                X = X.reshape((len(X), *per))
            if X.shape[1:] != tuple(per):
                raise UsageError(f"input has shape {X.shape}; the model's input {inp.name!r} takes (n, {', '.join(map(str, per))}) "
                                 f"or flat (n, {d}) rows")
        if X.dtype != dtype:
            if not np.issubdtype(X.dtype, np.number):
                raise UsageError(f"input has dtype {X.dtype}; the model's input {inp.name!r} takes {dtype}")
            Y = X.astype(dtype)
            if np.issubdtype(dtype, np.integer) and not np.array_equal(Y, X):
                raise UsageError(f"input has values that are not {dtype} (non-integers or out of range); the model takes {dtype}")
            X = Y
        return X

    def run(self, X: Any) -> dict[str, Any]:
        """Every output by name, in the file's own format (a ZipMap output is a list of dicts)."""
        Xn = self.native(X)
        names = [o.name for o in self.interface.outputs]
        batch = (self.input.shape or (None,))[0]
        if isinstance(batch, int) and batch > 0 and len(Xn) != batch:
            parts = [self.session.run(names, {self.input.name: Xn[i : i + batch]}) for i in range(0, len(Xn), batch)]
            outs: list[Any] = []
            for j in range(len(names)):
                col = [p[j] for p in parts]
                outs.append([r for c in col for r in c] if isinstance(col[0], list) else np.concatenate(col))
        else:
            outs = self.session.run(names, {self.input.name: Xn})
        return dict(zip(names, outs))

    def label_output(self) -> str | None:
        """The name of the label output: a rank-1 int64 or string tensor."""
        for o in self.interface.outputs:
            if o.kind == "tensor" and o.elem_type in ("int64", "str", "int32") and o.shape is not None and len(o.shape) == 1:
                return o.name
        return None

    def score_output(self) -> str | None:
        """The name of the probabilities / logits output: a float (n, C) tensor, else a ZipMap sequence."""
        for o in self.interface.outputs:
            if o.kind == "tensor" and o.elem_type.startswith("float") and o.shape is not None and len(o.shape) == 2:
                return o.name
        for o in self.interface.outputs:
            if o.kind.startswith("seq(map("):
                return o.name
        return None

    def _scores_from(self, out: dict[str, Any]) -> np.ndarray:
        name = self.score_output()
        if name is None:
            raise UnsupportedModelError("the model has no probabilities or logits output (a float (n, C) tensor or a ZipMap)")
        s = out[name]
        if isinstance(s, list):
            keys = list(self.classes.tolist())
            return np.array([[row[k] for k in keys] for row in s], dtype=np.float64)
        return np.asarray(s)

    def scores(self, X: Any) -> np.ndarray:
        """(n, C) probabilities or logits, columns in the order of ``classes``."""
        return self._scores_from(self.run(X))

    def predict(self, X: Any) -> np.ndarray:
        """The file's label output where it has one, else ``classes[argmax(scores)]``."""
        return self.labels_from(self.run(X))

    def labels_from(self, out: dict[str, Any]) -> np.ndarray:
        """The labels in ``out`` (output name → value, from any runtime): the label output where the file has one,
        else ``classes[argmax(scores)]``."""
        name = self.label_output()
        if name is not None:
            return np.asarray(out[name])
        return self.classes[np.argmax(self._scores_from(out), axis=1)]

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        from . import class_indices

        return class_indices(self.classes, self.predict(X), "predicted label")

    # --- writing ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, force: bool = False, inputs=()) -> Path:
        """Write the .onnx file atomically; never over an existing file without ``force``, never over an input."""
        from ..fileio import atomic_file, check_writable

        srcs = [p for p in (self.source, *inputs) if p is not None]
        check_writable(path, force, "file", srcs)
        with atomic_file(path, force) as tmp:
            tmp.write_bytes(self.proto.SerializeToString())
        return Path(path)

    def _save(self, directory: Path) -> dict[str, Any]:
        (directory / "model.onnx").write_bytes(self.proto.SerializeToString())
        return {"input": self.input.name}

    @classmethod
    def _load(cls, directory: Path, params: dict, spec: InputSpec, classes: np.ndarray) -> OnnxModel:
        return cls(read_onnx(directory / "model.onnx"))

    def describe(self) -> dict[str, Any]:
        i = self.interface
        return {"inputs": [dataclasses.asdict(s) for s in i.inputs], "outputs": [dataclasses.asdict(s) for s in i.outputs],
                "opsets": i.opsets, "ir_version": i.ir_version, "producer": i.producer, "nodes": len(self.proto.graph.node)}
