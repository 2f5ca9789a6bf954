"""Zoo entries written by skl2onnx (scikit-learn) and onnxmltools (LightGBM, XGBoost)."""
from __future__ import annotations

import numpy as np

from . import Built, register
from ._data import tabular

SKL_OPSETS = (13, 15, 17, 18)


def _skl(est, Xtr, ytr, Xs, ys, opset, options=None, double=False) -> Built:
    import warnings

    from skl2onnx import to_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Xtr.astype(np.float64) if double else Xtr, ytr)
    X = Xs.astype(np.float64) if double else Xs
    kw = {"target_opset": {"": opset, "ai.onnx.ml": 3}} if opset else {}
    onx = to_onnx(est, X[:1], options=options, **kw)
    return Built(onx.SerializeToString(), X, ys, np.asarray(est.predict(X), dtype=np.int64))


@register("skl-logreg", "skl2onnx", SKL_OPSETS)
def skl_logreg(seed, opset, size):
    """LogisticRegression on breast-cancer, with skl2onnx's default ZipMap probability output."""
    from sklearn.linear_model import LogisticRegression

    Xtr, ytr, Xs, ys = tabular("breast-cancer", seed)
    return _skl(LogisticRegression(max_iter=300 * size, C=0.5 * size, random_state=seed), Xtr, ytr, Xs, ys, opset)


@register("skl-logreg-nozipmap", "skl2onnx", SKL_OPSETS)
def skl_logreg_nozipmap(seed, opset, size):
    """LogisticRegression on digits, probabilities as a plain tensor (``zipmap: False``)."""
    from sklearn.linear_model import LogisticRegression

    Xtr, ytr, Xs, ys = tabular("digits", seed)
    return _skl(LogisticRegression(max_iter=100 * size, random_state=seed), Xtr, ytr, Xs, ys, opset, {"zipmap": False})


@register("skl-scaler-logreg", "skl2onnx", SKL_OPSETS)
def skl_scaler_logreg(seed, opset, size):
    """StandardScaler → LogisticRegression pipeline on wine (double-precision input)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr, ytr, Xs, ys = tabular("wine", seed)
    est = make_pipeline(StandardScaler(), LogisticRegression(C=float(size), random_state=seed))
    return _skl(est, Xtr, ytr, Xs, ys, opset, {"zipmap": False}, double=True)


@register("skl-rf", "skl2onnx", SKL_OPSETS)
def skl_rf(seed, opset, size):
    """RandomForestClassifier on digits (TreeEnsembleClassifier in ai.onnx.ml)."""
    from sklearn.ensemble import RandomForestClassifier

    Xtr, ytr, Xs, ys = tabular("digits", seed)
    return _skl(RandomForestClassifier(n_estimators=8 * size, max_depth=6 + 2 * size, random_state=seed), Xtr, ytr, Xs, ys, opset)


@register("skl-gb", "skl2onnx", SKL_OPSETS)
def skl_gb(seed, opset, size):
    """GradientBoostingClassifier on breast-cancer."""
    from sklearn.ensemble import GradientBoostingClassifier

    Xtr, ytr, Xs, ys = tabular("breast-cancer", seed)
    return _skl(GradientBoostingClassifier(n_estimators=15 * size, max_depth=3, random_state=seed), Xtr, ytr, Xs, ys, opset,
                {"zipmap": False})


@register("skl-svc", "skl2onnx", SKL_OPSETS)
def skl_svc(seed, opset, size):
    """SVC (RBF kernel) inside a StandardScaler pipeline, on wine (SVMClassifier in ai.onnx.ml)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    Xtr, ytr, Xs, ys = tabular("wine", seed)
    est = make_pipeline(StandardScaler(), SVC(C=float(size), random_state=seed))
    return _skl(est, Xtr, ytr, Xs, ys, opset)


@register("skl-knn", "skl2onnx", SKL_OPSETS)
def skl_knn(seed, opset, size):
    """KNeighborsClassifier on digits (TopK over pairwise distances)."""
    from sklearn.neighbors import KNeighborsClassifier

    Xtr, ytr, Xs, ys = tabular("digits", seed, n_train=300 * size)
    return _skl(KNeighborsClassifier(n_neighbors=3 + 2 * (size - 1)), Xtr, ytr, Xs, ys, opset, {"zipmap": False})


@register("skl-mlp", "skl2onnx", SKL_OPSETS)
def skl_mlp(seed, opset, size):
    """MLPClassifier on digits."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    Xtr, ytr, Xs, ys = tabular("digits", seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _skl(MLPClassifier((16 * size,), max_iter=60, random_state=seed), Xtr / 16, ytr, Xs / 16, ys, opset, {"zipmap": False})


@register("lgbm", "onnxmltools", (13, 15, 17))
def lgbm(seed, opset, size):
    """LightGBM (LGBMClassifier) on breast-cancer, converted by onnxmltools."""
    import lightgbm
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    Xtr, ytr, Xs, ys = tabular("breast-cancer", seed)
    est = lightgbm.LGBMClassifier(n_estimators=10 * size, num_leaves=7 + 8 * size, random_state=seed, verbose=-1).fit(Xtr, ytr)
    onx = convert_lightgbm(est, initial_types=[("input", FloatTensorType([None, Xtr.shape[1]]))], target_opset=opset or 15,
                           zipmap=False)
    return Built(onx.SerializeToString(), Xs, ys, np.asarray(est.predict(Xs), dtype=np.int64))


@register("xgb", "onnxmltools", (13, 15, 17))
def xgb(seed, opset, size):
    """XGBoost (XGBClassifier) on wine, converted by onnxmltools."""
    import xgboost
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    Xtr, ytr, Xs, ys = tabular("wine", seed)
    est = xgboost.XGBClassifier(n_estimators=8 * size, max_depth=3, random_state=seed, n_jobs=1).fit(Xtr, ytr)
    onx = convert_xgboost(est, initial_types=[("input", FloatTensorType([None, Xtr.shape[1]]))], target_opset=opset or 15)
    return Built(onx.SerializeToString(), Xs, ys, np.asarray(est.predict(Xs), dtype=np.int64))
