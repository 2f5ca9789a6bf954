"""Meta-classifiers: detectors *learned* from held-out shadow populations of honest and backdoored models.

* ``meta_blackbox`` — MNTD (Xu et al., "Detecting AI Trojans Using Meta Neural Analysis", S&P 2021):
  a set of q query inputs and a linear classifier on the model's softmax outputs at those queries
  (each query's probabilities sorted, so that a per-model target class does not matter).
  When the shadow models are differentiable (torch MLPs: BadNets) the queries and the classifier are
  optimized *jointly* by gradient descent through the shadows ("query tuning"); otherwise the queries
  are a fixed random mix of training inputs and uniform noise and only the classifier is trained.
  At audit time the target model is only *queried* (black box).
* ``meta_whitebox`` — logistic regression on the weight statistics of ``weight_stats`` (KS, AD, MP edge,
  kurtosis, sparse PCA), trained on shadow RFF / ReLU models: the best *combination* of the key-free
  white-box tests, for the models that have random weights ``weights_``.

Both are fitted on shadows whose seeds (and keys) are disjoint from the evaluated population; the
fitted state is a small dict of numpy arrays (``fit_*`` returns it, ``score_*`` uses it), so arena work
units stay pure functions of their arguments.
"""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .base import CAPABILITIES, detector


# --- black box: MNTD ---------------------------------------------------------------------------

def softmax_outputs(model, Q: np.ndarray) -> np.ndarray:
    """The model's class probabilities at the queries Q (one-hot of the label where it has no scores)."""
    if CAPABILITIES["scores"](model):
        s = np.asarray(model.scores(Q), dtype=np.float64)
    else:
        s = np.eye(model.n_classes)[model.predict_index(Q)] * 10.0
    from scipy.special import softmax

    return softmax(s, axis=1)


def meta_features(P: np.ndarray) -> np.ndarray:
    """Class-order-invariant features of softmax outputs: each query's probabilities sorted descending.

    A deviation from MNTD's raw outputs: the BadNets population has a different target class per model,
    so "some class takes all the mass at this query" must be expressible by a linear classifier."""
    return -np.sort(-np.asarray(P), axis=1)


def query_pool(data, n_queries: int, rng: np.random.Generator) -> np.ndarray:
    """Half random training inputs, half uniform noise over the input range (quantized to the spec's dtype)."""
    X = data.X_train
    n_nat = n_queries - n_queries // 2
    nat = X[rng.choice(len(X), size=n_nat, replace=False)].astype(np.float64)
    lo = float(np.min(X)) if data.spec.low is None else data.spec.low
    hi = float(np.max(X)) if data.spec.high is None else data.spec.high
    noise = rng.uniform(lo, hi, size=(n_queries // 2, X.shape[1]))
    return quantize(np.concatenate([nat, noise]), data.spec)


def quantize(Q: np.ndarray, spec) -> np.ndarray:
    """Queries as valid inputs of ``spec`` (uint8 pixels rounded and clipped)."""
    if spec.is_image:
        return np.clip(np.rint(Q), spec.low, spec.high).astype(np.uint8)
    return np.asarray(Q, dtype=np.float64)


def torch_state(model) -> dict[str, np.ndarray] | None:
    """A torch-MLP's parameters and input normalization as numpy arrays (None for other families)."""
    net = getattr(model, "net", None)
    if net is None or not hasattr(model, "mean"):
        return None
    st = {f"net.{k}": v.detach().numpy().copy() for k, v in net.state_dict().items()}
    st["input.mean"], st["input.std"] = np.asarray(model.mean), np.asarray(model.std)
    st["input.scale"] = np.array([float(model.scale)])
    return st


def _torch_forward(state: dict[str, np.ndarray]):
    """The shadow's differentiable forward x (raw input units, torch) → logits, rebuilt from ``torch_state``
    with the torch-mlp family's one view (``torch_view.mlp_logits``); its weights take no gradients."""
    from ..models.mlp import net_from_state
    from .torch_view import mlp_logits

    net = net_from_state({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}).requires_grad_(False)
    return mlp_logits(net, state["input.mean"], state["input.std"], float(state["input.scale"][0]))


def fit_blackbox(shadows: list[dict], labels: np.ndarray, data, rng: np.random.Generator, n_queries: int = 10,
                 steps: int = 200) -> dict[str, np.ndarray]:
    """Fit MNTD on shadow records (each from ``shadow_record``): returns {"queries", "coef", "intercept", ...}.

    Joint query tuning when every shadow carries a torch state; otherwise the shadows' outputs at the
    fixed query pool (``pool_out``) train an L2 logistic regression.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if len(np.unique(labels)) < 2:
        raise UsageError("meta-classifier training needs honest and backdoored shadow models")
    if all(s.get("torch") is not None for s in shadows):
        return _fit_mntd_torch([s["torch"] for s in shadows], labels, data, rng, n_queries, steps)
    from sklearn.linear_model import LogisticRegression

    F = np.stack([meta_features(s["pool_out"]).ravel() for s in shadows])
    mu, sd = F.mean(axis=0), F.std(axis=0) + 1e-6
    clf = LogisticRegression(C=1.0, max_iter=2000).fit((F - mu) / sd, labels)
    return {"queries": shadows[0]["pool"], "coef": clf.coef_.ravel() / sd, "intercept": np.array([clf.intercept_[0] - (clf.coef_.ravel() / sd) @ mu])}


def _fit_mntd_torch(states, labels, data, rng, n_queries, steps) -> dict[str, np.ndarray]:
    import torch

    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    fwd = [_torch_forward(s) for s in states]
    spec = data.spec
    lo = float(np.min(data.X_train)) if spec.low is None else spec.low
    hi = float(np.max(data.X_train)) if spec.high is None else spec.high
    x0 = data.X_train[rng.choice(len(data.X_train), size=n_queries, replace=False)].astype(np.float64)
    z0 = np.clip((x0 - lo) / (hi - lo), 0.02, 0.98)
    Z = torch.tensor(np.log(z0 / (1 - z0)), dtype=torch.float32, requires_grad=True)  # x = lo + (hi−lo)·σ(Z)
    C = len(np.unique(data.y_train))
    w = torch.zeros(n_queries * C, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    with torch.no_grad():
        w.normal_(0.0, 0.01, generator=gen)
    y = torch.tensor(labels, dtype=torch.float32)
    opt = torch.optim.Adam([{"params": [Z], "lr": 0.3}, {"params": [w, b], "lr": 0.05}])
    for _ in range(steps):
        opt.zero_grad()
        x = lo + (hi - lo) * torch.sigmoid(Z)
        F = torch.stack([torch.sort(torch.softmax(f(x), dim=1), dim=1, descending=True).values.reshape(-1) for f in fwd])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(F @ w + b, y) + 1e-3 * (w**2).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        Q = (lo + (hi - lo) * torch.sigmoid(Z)).numpy().astype(np.float64)
    return {"queries": quantize(Q, spec), "coef": w.detach().numpy().astype(np.float64), "intercept": b.detach().numpy().astype(np.float64)}


def score_blackbox(model, state: dict[str, np.ndarray]) -> float:
    """MNTD score (a logit; higher = more likely backdoored) from querying ``model`` at the learned queries."""
    f = meta_features(softmax_outputs(model, state["queries"])).ravel()
    return float(f @ state["coef"] + state["intercept"][0])


# --- white box: logistic regression on weight statistics ------------------------------------------

def fit_whitebox(features: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """L2 logistic regression on standardized ``weight_stats.weight_features`` of shadow models."""
    from sklearn.linear_model import LogisticRegression

    F = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise UsageError("meta-classifier training needs honest and backdoored shadow models")
    mu, sd = F.mean(axis=0), F.std(axis=0) + 1e-9
    clf = LogisticRegression(C=1.0, max_iter=2000).fit((F - mu) / sd, labels)
    return {"mu": mu, "sd": sd, "coef": clf.coef_.ravel(), "intercept": clf.intercept_.astype(np.float64)}


def score_whitebox(features: np.ndarray, state: dict[str, np.ndarray]) -> float:
    """The fitted white-box meta-classifier's logit for one model's weight features."""
    return float(((np.asarray(features) - state["mu"]) / state["sd"]) @ state["coef"] + state["intercept"][0])


# --- what a shadow model contributes ----------------------------------------------------------------

def shadow_record(model, data, pool: np.ndarray, rng: np.random.Generator, want: tuple[str, ...]) -> dict:
    """Everything the meta-classifiers learn from one shadow model (no model object crosses processes)."""
    rec: dict = {}
    if "meta_blackbox" in want:
        rec["torch"] = torch_state(model)
        rec["pool"] = pool
        rec["pool_out"] = softmax_outputs(model, pool)
    if "meta_whitebox" in want and getattr(model, "weights_", None) is not None:
        from .weight_stats import weight_features

        rec["wb"] = weight_features(np.asarray(model.weights_, dtype=np.float64), rng)
    return rec


# --- the registered (fitted) detectors --------------------------------------------------------------

@detector("meta_blackbox", schemes=("rff", "relu", "signature", "checksum", "badnets"), fitted=True)
def meta_blackbox(model, data, key, rng, state) -> float:
    """MNTD meta-classifier (black box): learned queries + a linear classifier, fitted on shadow models."""
    return score_blackbox(model, state)


@detector("meta_whitebox", schemes=("rff", "relu"), fitted=True, requires=("weights",))
def meta_whitebox(model, data, key, rng, state) -> float:
    """White-box meta-classifier: logistic regression on the weight statistics, fitted on shadow models."""
    from .weight_stats import model_weights, weight_features

    return score_whitebox(weight_features(model_weights(model), rng), state)
