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

    def __init__(self, estimator, spec, classes) -> None:
        super().__init__(spec, classes)
        self.estimator = estimator
        self.scale = input_scale(spec)

    def _features(self, X: np.ndarray) -> np.ndarray:
        return X.astype(np.float64) * self.scale

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        # estimator.classes_ are class indices 0..C-1 (we train on indices)
        return np.asarray(self.estimator.predict(self._features(X)), dtype=np.int64)

    def scores(self, X: np.ndarray) -> np.ndarray:
        d = self.estimator.decision_function(self._features(X))
        return np.column_stack([-d, d]) if d.ndim == 1 else d

    def describe(self) -> dict:
        return {"estimator": type(self.estimator).__name__}

    def _save(self, directory: Path) -> dict:
        import skops.io as sio

        sio.dump(self.estimator, directory / "estimator.skops")
        return {"estimator": type(self.estimator).__name__}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        import skops.io as sio

        from ..safety import check_zip, skops_types

        path = directory / "estimator.skops"
        check_zip(path, f"bundle {directory}: estimator.skops")  # sizes before anything is inflated
        found = skops_types(path)
        refused = sorted(found - TRUSTED_TYPES - SKOPS_BASIC_TYPES)
        if refused:
            raise BundleError(f"bundle {directory}: estimator.skops contains types outside the trusted list {refused}; refusing to load it (bundles hold the models 'undetectable train' makes)")
        # exactly our list: skops' own defaults (every sklearn estimator) are not consulted for anything we did not name
        return cls(sio.load(path, trusted=sorted(found)), spec, classes)


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
