"""scikit-learn estimators in bundles, stored with skops and loaded with an allow-list of types."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bundle import Model
from ..data import Dataset
from ..errors import BundleError

# The only types a bundle's .skops file may contain. Anything else is refused, never executed.
TRUSTED_TYPES = frozenset(
    {
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.utils._bunch.Bunch",
        "numpy.dtype",
        "builtins.slice",
        "collections.OrderedDict",
    }
)


# Containers and scalars skops writes for any estimator (checked like the rest: by module.class name).
SKOPS_BASIC_TYPES = frozenset(
    {f"builtins.{t}" for t in ("dict", "list", "tuple", "str", "int", "float", "bool", "NoneType")}
    | {f"numpy.{t}" for t in ("ndarray", "float64", "float32", "int64", "int32", "bool_", "uint8")}
)


def input_scale(spec) -> float:
    """Pixels are fed to learners in [0, 1] units; float features as they are."""
    return 1.0 / spec.high if spec.is_image else 1.0


class SklearnModel(Model):
    """Any scikit-learn classifier with ``predict`` / ``decision_function`` (inputs scaled to [0,1] for images)."""

    family = "sklearn"

    def __init__(self, estimator, spec, classes, linear: dict | None = None, loader=None, name: str | None = None) -> None:
        super().__init__(spec, classes)
        self._estimator, self._loader = estimator, loader
        self._linear = linear  # {"coef", "intercept", "mean", "scale"}: numpy-only predict without importing sklearn
        self._name = name
        self.scale = input_scale(spec)

    @property
    def estimator(self):
        """The scikit-learn estimator (loaded from the bundle's skops file on first use)."""
        if self._estimator is None:
            self._estimator = self._loader()
        return self._estimator

    @estimator.setter
    def estimator(self, value) -> None:
        self._estimator, self._linear = value, None

    def _features(self, X: np.ndarray) -> np.ndarray:
        return X.astype(np.float64) * self.scale

    def _decision(self, X: np.ndarray) -> np.ndarray:
        """LogisticRegression.decision_function (after StandardScaler.transform) in numpy: the same operations."""
        lin = self._linear
        assert lin is not None
        Z = self._features(X)
        if "mean" in lin:
            Z = (Z - lin["mean"]) / lin["scale"]
        d = Z @ lin["coef"].T + lin["intercept"]
        return d.ravel() if d.shape[1] == 1 else d

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        if self._linear is not None:
            d = self._decision(X)
            return (d > 0).astype(np.int64) if d.ndim == 1 else d.argmax(axis=1).astype(np.int64)
        # estimator.classes_ are class indices 0..C-1 (we train on indices)
        return np.asarray(self.estimator.predict(self._features(X)), dtype=np.int64)

    def scores(self, X: np.ndarray) -> np.ndarray:
        d = self._decision(X) if self._linear is not None else self.estimator.decision_function(self._features(X))
        return np.column_stack([-d, d]) if d.ndim == 1 else d

    def describe(self) -> dict:
        return {"estimator": self._name or type(self.estimator).__name__}

    def to_onnx(self):
        """The plain ONNX graph of a logistic regression (optionally after a StandardScaler): input ``X`` (n, D) in
        the bundle's units, outputs ``scores`` (n, C) float64 (the decision values) and ``label_index`` (n,).

        Examples
        --------
        >>> import numpy as np, undetectable as ud
        >>> from undetectable.onnxio import session
        >>> data = ud.datasets.load("digits")
        >>> m = ud.train("logreg", data, seed=0, max_iter=50)
        >>> out = session(m.to_onnx()).run(None, {"X": data.X_test[:20]})
        >>> bool(np.array_equal(out[1], m.predict_index(data.X_test[:20])))
        True
        """
        import onnx
        from onnx import TensorProto, helper

        from ..errors import UnsupportedModelError
        from .random_features import onnx_classifier

        lin = self._linear if self._linear is not None else linear_parts(self.estimator)
        if lin is None:
            raise UnsupportedModelError(f"this sklearn bundle holds a {self.describe()['estimator']}; only logistic regression "
                                        "(optionally after a StandardScaler) has an ONNX graph here")
        D, C = self.spec.n_features, len(self.classes)
        in_type = TensorProto.UINT8 if self.spec.is_image else TensorProto.DOUBLE
        W, c = np.asarray(lin["coef"], np.float64).T, np.asarray(lin["intercept"], np.float64)
        if W.shape[1] == 1:  # binary: decision d for class 1, scores (−d, d) as ``scores`` returns them
            W, c = np.column_stack([-W[:, 0], W[:, 0]]), np.array([-c[0], c[0]])
        arr = onnx.numpy_helper.from_array
        inits = [arr(np.array(self.scale, np.float64), "scale"), arr(np.ascontiguousarray(W), "W"), arr(c, "c")]
        pre, xin = [], "xs"
        if "mean" in lin:
            inits += [arr(np.asarray(lin["mean"], np.float64), "mu"), arr(np.asarray(lin["scale"], np.float64), "sd")]
            pre, xin = [helper.make_node("Sub", ["xs", "mu"], ["xm"]), helper.make_node("Div", ["xm", "sd"], ["xz"])], "xz"
        nodes = [helper.make_node("Cast", ["X"], ["xf"], to=TensorProto.DOUBLE), helper.make_node("Mul", ["xf", "scale"], ["xs"]),
                 *pre, helper.make_node("MatMul", [xin, "W"], ["f"]), helper.make_node("Add", ["f", "c"], ["scores"]),
                 helper.make_node("ArgMax", ["scores"], ["label_index"], axis=1, keepdims=0)]
        return onnx_classifier("logreg", nodes, inits, in_type, D, C)

    def _save(self, directory: Path) -> dict:
        sio = _skops()
        sio.dump(self.estimator, directory / "estimator.skops")
        lin = linear_parts(self.estimator)
        if lin is not None:
            from safetensors.numpy import save_file

            save_file(lin, str(directory / "linear.safetensors"))
        return {"estimator": type(self.estimator).__name__}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        from ..safety import skops_types

        path = Path(directory) / "estimator.skops"
        # read_manifest (load_bundle's first step) checked its sizes with safety.check_zip before we get here
        found = skops_types(path)
        refused = sorted(found - TRUSTED_TYPES - SKOPS_BASIC_TYPES)
        if refused:
            raise BundleError(f"bundle {directory}: estimator.skops contains types outside the trusted list {refused}; refusing to load it (bundles hold the models 'undetectable train' makes)")
        data = path.read_bytes()  # checked just now; a lazy load reads these bytes, not the file again

        def load():
            # exactly our list: skops' own defaults (every sklearn estimator) are not consulted for anything we did not name
            return _skops().loads(data, trusted=sorted(found))

        lin_path = Path(directory) / "linear.safetensors"
        if lin_path.is_file():  # numpy-only predict: scikit-learn is imported only if the estimator is asked for
            from safetensors.numpy import load_file

            return cls(None, spec, classes, linear=load_file(str(lin_path)), loader=load, name=params.get("estimator"))
        return cls(load(), spec, classes)


def _skops():
    """skops.io, imported only when a bundle is written or an estimator is asked for (it imports every
    scikit-learn estimator, and torch through sklearn's array-API shim: seconds of start-up)."""
    import skops.io as sio

    return sio


def linear_parts(est) -> dict | None:
    """``{"coef", "intercept"[, "mean", "scale"]}`` of a LogisticRegression or StandardScaler + LogisticRegression
    pipeline (what a numpy-only predict needs), else None."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    out = {}
    if isinstance(est, Pipeline):
        steps = [s for _, s in est.steps]
        if len(steps) != 2 or not isinstance(steps[0], StandardScaler) or not isinstance(steps[1], LogisticRegression):
            return None
        sc, est = steps
        if not (sc.with_mean and sc.with_std):
            return None
        out = {"mean": np.asarray(sc.mean_, dtype=np.float64), "scale": np.asarray(sc.scale_, dtype=np.float64)}
    if not isinstance(est, LogisticRegression) or getattr(est, "multi_class", "auto") == "ovr":
        return None
    return out | {"coef": np.ascontiguousarray(est.coef_, dtype=np.float64), "intercept": np.asarray(est.intercept_, dtype=np.float64)}


def train_logreg(data: Dataset, seed: int = 0, C: float = 1.0, max_iter: int = 300) -> SklearnModel:
    """Multinomial logistic regression (pixels in [0,1]; float features standardized)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes, y = np.unique(data.y_train, return_inverse=True)
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    est = clf if data.spec.is_image else make_pipeline(StandardScaler(), clf)
    est.fit(data.X_train.astype(np.float64) * input_scale(data.spec), y)
    return SklearnModel(est, data.spec, classes)
