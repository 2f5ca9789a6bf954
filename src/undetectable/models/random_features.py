"""What the two random-feature bundle families (rff, relu) share: a fitted classifier ``clf`` whose
random layer sees x·input_scale, a linear head, and the (m, D) random weights an auditor inspects."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ..bundle import Model
from ..spec import InputSpec

#: random features (m) beyond this are refused; the weights (D × m float64) are also bounded by UNDETECTABLE_MAX_ARRAY_BYTES
MAX_FEATURES = 1_000_000


def check_feature_budget(m: int, d: int) -> None:
    """Refuse ``n_features`` = m above MAX_FEATURES, or whose d × m float64 weights exceed the array limit (``ParameterError``)."""
    from ..safety import check_param, limit

    check_param("n_features", m, 1, MAX_FEATURES, "random features; each is a column of d weights")
    need, cap = 8 * m * max(1, d), limit("ARRAY_BYTES")
    if need > cap:
        from ..errors import ParameterError

        raise ParameterError("n_features", f"n_features = {m:,} random features over {d:,} inputs need {need:,} bytes of weights, "
                                           f"over the limit of {cap:,} bytes; use at most {cap // (8 * max(1, d)):,} (or raise "
                                           f"UNDETECTABLE_MAX_ARRAY_BYTES={need})")


def validate_fit_data(est, X, y) -> tuple[np.ndarray, np.ndarray]:
    """The scikit-learn boundary of both random-feature learners' ``fit``: validated float64 X, checked y, m ≥ 1."""
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import validate_data

    X, y = validate_data(est, X, y, dtype=np.float64)
    check_classification_targets(y)
    m = est.n_features
    if not (isinstance(m, (int, np.integer)) and not isinstance(m, bool) and m >= 1):
        raise ValueError(f"n_features must be a positive integer; got {m!r}")
    return X, y


def onnx_classifier(name: str, nodes: list, initializers: list, in_type: int, D: int, C: int):
    """Wrap graph ``nodes`` (input ``X`` (n, D) → outputs ``scores`` (n, C) float64 and ``label_index``
    (n,) int64) into a checked ONNX model (``onnxio.assemble``: the package's opset and IR version), the plain
    file an auditor receives."""
    from onnx import TensorProto, helper

    from ..onnxio import assemble, check

    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("X", in_type, [None, D])],
                              [helper.make_tensor_value_info("scores", TensorProto.DOUBLE, [None, C]),
                               helper.make_tensor_value_info("label_index", TensorProto.INT64, [None])], initializers)
    model = assemble(graph, producer="undetectable")
    check(model)
    return model


class RandomFeaturesClassifier(ClassifierMixin, BaseEstimator):
    """What the rff and relu scikit-learn estimators share: ``decision_function`` and ``predict`` over
    the subclass's ``_decision`` (f on validated float64 inputs)."""

    def _decision(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decision_function(self, X) -> np.ndarray:
        """f(x): (n,) for binary (positive → classes_[1]), (n, C) for multi-class."""
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._decision(X)

    def predict(self, X) -> np.ndarray:
        f = self.decision_function(X)
        return self.classes_[(f > 0).astype(np.int64) if f.ndim == 1 else f.argmax(axis=1)]


class RandomFeaturesModel(Model):
    """Base of the ``rff`` and ``relu`` families; ``clf`` has ``weights_``, ``coef_`` and ``_decision``."""

    def __init__(self, clf, spec: InputSpec, classes, input_scale: float = 1.0) -> None:
        super().__init__(spec, classes)
        self.clf = clf
        self.input_scale = float(input_scale)

    @property
    def weights_(self) -> np.ndarray:
        """(m, D): the random weights g_i as rows (in the units the random layer sees)."""
        return self.clf.weights_

    @property
    def coef_(self) -> np.ndarray:
        return self.clf.coef_

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """Validated inputs → what the random layer sees (float64; [0,1] units for pixels)."""
        X = np.asarray(X, dtype=np.float64)
        return X * self.input_scale if self.input_scale != 1.0 else X

    def decision(self, X: np.ndarray) -> np.ndarray:
        """f(x) on validated inputs: (n,) binary, (n, C) multi-class."""
        return self.clf._decision(self.inputs(X))

    def scores(self, X: np.ndarray) -> np.ndarray:
        f = self.decision(self.spec.validate(X))
        return np.column_stack([-f, f]) if f.ndim == 1 else f

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        f = self.decision(X)
        return (f > 0).astype(np.int64) if f.ndim == 1 else f.argmax(axis=1).astype(np.int64)

    def describe(self) -> dict:
        m, D = self.weights_.shape
        return {"n_features": m, "input_dim": D, "head_shape": list(self.coef_.shape),
                "weight_norm_fro": float(np.linalg.norm(self.weights_)), "head_norm": float(np.linalg.norm(self.coef_))}
