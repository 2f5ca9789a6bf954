"""Issue 19 §5: model files, key files and array headers are read with bounds, regular files only, never blocking.

Each case runs the real CLI in a subprocess with a timeout (a FIFO used to hang it; /dev/zero grew it to GBs):
exit 2, one line naming the file, nothing written.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from hostile_util import npy_bytes, one_error_line


def _onnx(path, declared_classes: int, classes: int = 3, d: int = 784):
    import onnx

    W = numpy_helper.from_array(np.random.default_rng(0).normal(size=(d, classes)).astype(np.float32), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", declared_classes])], [W])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from undetectable.keys import generate_keys

    d = tmp_path_factory.mktemp("reads")
    generate_keys(d / "k")
    _onnx(d / "good.onnx", 3)
    _onnx(d / "lies.onnx", 5)  # declares 5 scores, emits 3
    return d


def run(*args, env_extra=None, timeout=90):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env_extra or {})}
    try:
        return subprocess.run([sys.executable, "-m", "undetectable", *map(str, args)], capture_output=True, text=True,
                              env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the command hung (> {timeout}s): {args}")


def refused(res, *needles):
    line = one_error_line(res.stderr)
    assert res.returncode == 2, (res.returncode, line)
    for n in needles:
        assert n in line, line
    assert "unexpected" not in line, line
    return line


def plant(files, tmp_path, base, pub=None, *extra, env_extra=None):
    return run("plant", "signature", "--base", base, "--public-key", pub or files / "k/backdoor_key.pub.pem",
               "--out", tmp_path / "out.onnx", *extra, env_extra=env_extra)


def test_fifo_base_does_not_hang(files, tmp_path):
    os.mkfifo(tmp_path / "pipe.onnx")
    refused(plant(files, tmp_path, tmp_path / "pipe.onnx"), "pipe.onnx", "not a regular file")
    assert not (tmp_path / "out.onnx").exists()


def test_dev_zero_base_is_refused_before_reading(files, tmp_path):
    (tmp_path / "zero.onnx").symlink_to("/dev/zero")
    refused(plant(files, tmp_path, tmp_path / "zero.onnx"), "zero.onnx", "not a regular file")


def test_oversized_base_is_refused_from_its_size(files, tmp_path):
    big = tmp_path / "big.onnx"
    with open(big, "wb") as fh:  # sparse: costs no disk, and is never read
        fh.truncate(3 << 30)
    refused(plant(files, tmp_path, big), "big.onnx", "over the limit", "UNDETECTABLE_MAX_MODEL_BYTES")
    small_limit = {"UNDETECTABLE_MAX_MODEL_BYTES": "1000"}
    refused(plant(files, tmp_path, files / "good.onnx", env_extra=small_limit), "good.onnx", "over the limit of 1,000 bytes")


def test_public_key_fifo_and_oversized_key(files, tmp_path):
    os.mkfifo(tmp_path / "pipe.pem")
    refused(plant(files, tmp_path, files / "good.onnx", tmp_path / "pipe.pem"), "pipe.pem", "not a regular file")
    big = tmp_path / "big.pem"
    with open(big, "wb") as fh:
        fh.truncate(3 << 30)
    refused(plant(files, tmp_path, files / "good.onnx", big), "big.pem", "over the limit", "UNDETECTABLE_MAX_KEY_BYTES")


def test_data_header_declaring_1e11_floats(files, tmp_path):
    (tmp_path / "std.npy").write_bytes(npy_bytes((10**11,), "<f8", b"\0" * 64))
    res = plant(files, tmp_path, files / "good.onnx", None, "--data", tmp_path / "std.npy")
    refused(res, "std.npy")
    assert not (tmp_path / "out.onnx").exists()


def test_input_fifo_does_not_hang(files, tmp_path):
    from undetectable.bundle import save_bundle
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    save_bundle(train_model("logreg", load_dataset("breast-cancer"), seed=0), tmp_path / "b")
    os.mkfifo(tmp_path / "X.npy")
    refused(run("predict", tmp_path / "b", "--input", tmp_path / "X.npy", "--out", tmp_path / "y.npy"), "X.npy", "not a regular file")


def test_onnx_whose_declared_output_lies_is_refused_before_writing(files, tmp_path):
    refused(plant(files, tmp_path, files / "lies.onnx"), "lies.onnx", "'y' is declared [N, 5]", "emits [3, 3]")
    assert not (tmp_path / "out.onnx").exists()


def test_the_output_check_passes_an_honest_graph(files):
    """The control: the same graph, declared truthfully, runs and matches (so the refusal above is about the lie)."""
    import onnx

    from undetectable.errors import UnsupportedModelError
    from undetectable.onnxio import check_declared_outputs

    check_declared_outputs(onnx.load(str(files / "good.onnx")))
    with pytest.raises(UnsupportedModelError, match="declared"):
        check_declared_outputs(onnx.load(str(files / "lies.onnx")))
