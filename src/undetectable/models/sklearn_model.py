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

        path = directory / "estimator.skops"
        untrusted = set(sio.get_untrusted_types(file=path))
        refused = sorted(untrusted - TRUSTED_TYPES)
        if refused:
            raise BundleError(f"bundle {directory}: estimator.skops contains untrusted types {refused}; refusing to load it")
        return cls(sio.load(path, trusted=sorted(untrusted)), spec, classes)


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
