"""Your own data: ``Dataset.from_arrays``, ``.npz`` with X/y or the four splits, ``.csv`` with a named label column."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import assert_clean_failure

from undetectable.data import Dataset, load_dataset
from undetectable.errors import ParameterError, UsageError


def _csv(path, rows, header="a,b,c,label"):
    path.write_text(header + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return path


def test_from_arrays_keeps_native_layout_and_dtype():
    X = np.random.default_rng(0).random((40, 1, 4, 4)).astype(np.float32)
    y = np.arange(40) % 2
    ds = Dataset.from_arrays(X, y)
    assert ds.X_train.dtype == np.float32 and ds.X_train.shape[1:] == (1, 4, 4) and len(ds.X_train) + len(ds.X_test) == 40
    assert ds.spec.shape == (1, 4, 4) and ds.spec.n_features == 16
    assert sorted(np.bincount(ds.y_test)) == [5, 5]  # stratified
    u8 = Dataset.from_arrays(X[:30].astype(np.uint8), y[:30], X[30:].astype(np.uint8), y[30:])
    assert u8.X_test.dtype == np.uint8 and len(u8.X_test) == 10 and u8.spec.dtype == "uint8"


@pytest.mark.parametrize("args, param, needle", [
    ((np.zeros((4, 2)), np.arange(3)), "y_train", "one label per row"),
    ((np.zeros(4), np.arange(4)), "X_train", "one sample per row"),
    ((np.full((4, 2), np.nan), np.arange(4) % 2), "X_train", "NaN"),
    ((np.zeros((4, 2)), np.zeros(4)), "y_train", "at least 2 classes"),
    ((np.zeros((4, 2)), np.arange(4) % 2, np.zeros((2, 3)), np.arange(2)), "X_test", "must agree"),
    ((np.zeros((4, 2)), np.arange(4) % 2, np.zeros((2, 2))), "y_test", "pass both"),
    ((np.array([["a", "b"]] * 4), np.arange(4) % 2), "X_train", "real numbers"),
])
def test_from_arrays_errors_name_the_parameter(args, param, needle):
    with pytest.raises(ParameterError, match=needle) as exc:
        Dataset.from_arrays(*args)
    assert exc.value.param == param


def test_npz_with_x_and_y(tmp_path):
    X = np.random.default_rng(1).random((30, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(30) % 3)
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.X_train.dtype == np.float32 and len(ds.X_train) + len(ds.X_test) == 30
    np.savez(tmp_path / "bad.npz", features=X)
    with pytest.raises(UsageError, match="X_train, y_train .*or X, y"):
        load_dataset(str(tmp_path / "bad.npz"))


def test_csv_label_column_default_named_and_strings(tmp_path):
    rows = [(i, i % 4, 0.5 * i, i % 2) for i in range(20)]
    ds = load_dataset(str(_csv(tmp_path / "t.csv", rows)))
    assert ds.X_train.shape[1] == 3 and ds.X_train.dtype == np.float64 and set(ds.classes.tolist()) == {0, 1}
    ds = load_dataset(str(_csv(tmp_path / "last.csv", rows, header="a,b,c,kind")))  # no label/target: the last column
    assert set(ds.classes.tolist()) == {0, 1}
    ds = load_dataset(str(_csv(tmp_path / "first.csv", rows, header="cls,b,c,d")), label_column="cls")
    assert ds.X_train.shape[1] == 3 and len(ds.classes) == 20
    srows = [(i, i % 4, 0.5 * i, "cat" if i % 2 else "dog") for i in range(20)]
    ds = load_dataset(str(_csv(tmp_path / "s.csv", srows, header="a,b,c,target")))
    assert sorted(ds.classes.tolist()) == ["cat", "dog"]
    with pytest.raises(ParameterError, match="no column 'nope'") as exc:
        load_dataset(str(tmp_path / "s.csv"), label_column="nope")
    assert exc.value.param == "label_column"
    with pytest.raises(UsageError, match="column 'target' holds 'dog', not a number"):
        load_dataset(str(tmp_path / "s.csv"), label_column="a")
    _csv(tmp_path / "ragged.csv", [(1, 2, 3, 0), (1, 2, 1)])
    with pytest.raises(UsageError, match="line 3 has 3 fields"):
        load_dataset(str(tmp_path / "ragged.csv"))


def test_csv_bounded_and_regular_files_only(tmp_path, monkeypatch):
    p = _csv(tmp_path / "t.csv", [(i, i, i, i % 2) for i in range(20)])
    monkeypatch.setenv("UNDETECTABLE_MAX_CSV_BYTES", "100")
    with pytest.raises(UsageError, match="over the limit .*UNDETECTABLE_MAX_CSV_BYTES"):
        load_dataset(str(p))
    monkeypatch.delenv("UNDETECTABLE_MAX_CSV_BYTES")
    os.mkfifo(tmp_path / "fifo.csv")
    with pytest.raises(UsageError, match="not a regular file"):
        load_dataset(str(tmp_path / "fifo.csv"))
    (tmp_path / "link.csv").symlink_to(p)
    with pytest.raises(UsageError, match="cannot be opened as a plain file"):
        load_dataset(str(tmp_path / "link.csv"))


def test_cli_train_on_csv_and_label_column(cli, tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4))
    rows = [(*x.round(4), "pos" if x[0] + x[1] > 0 else "neg") for x in X]
    _csv(tmp_path / "w.csv", rows, header="f1,f2,f3,f4,kind")
    res = cli("train", "--data", tmp_path / "w.csv", "--label-column", "kind", "--out", tmp_path / "m")
    assert res.code == 0, res.err
    assert_clean_failure(cli("train", "--data", tmp_path / "w.csv", "--label-column", "nope", "--out", tmp_path / "m2"),
                         tmp_path / "m2", contains="--label-column")
