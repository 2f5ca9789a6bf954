"""Zoo entries written by onnxruntime's quantizer: int8 ``quantize_dynamic`` and a QDQ ``quantize_static``.

An int8 graph is an *honest* integer subgraph (MatMulInteger, DynamicQuantizeLinear, QuantizeLinear /
DequantizeLinear): the population that keeps an integer-op check honest.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from . import Built, register
from .torch_models import torch_cnn, torch_mlp


def _quantize(built: Built, static: bool) -> bytes:
    import logging

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        src.write_bytes(built.model)
        if static:
            import onnx

            name = onnx.load_from_string(built.model).graph.input[0].name
            batches = iter([{name: built.X[i : i + 20]} for i in range(0, 100, 20)])

            class Reader(CalibrationDataReader):
                def get_next(self):
                    return next(batches, None)

            quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8)
        else:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return dst.read_bytes()


@register("ort-int8-dynamic-mlp", "ort-quantize", (13, 15, 17))
def int8_dynamic_mlp(seed, opset, size):
    """The torch MLP, int8 weights by ``quantize_dynamic`` (MatMulInteger / DynamicQuantizeLinear)."""
    b = torch_mlp(seed, opset, size)
    return Built(_quantize(b, False), b.X, b.y, b.reference)


@register("ort-qdq-static-cnn", "ort-quantize", (13, 15, 17))
def qdq_static_cnn(seed, opset, size):
    """The torch CNN, QDQ int8 by ``quantize_static`` calibrated on sample images."""
    b = torch_cnn(seed, opset, size)
    return Built(_quantize(b, True), b.X, b.y, b.reference)


