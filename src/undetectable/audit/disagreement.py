"""Black-box disagreement search: look for any input on which the backdoored h̃ and the base h differ.

Black-box undetectability (paper §5.2) says no efficient query strategy finds such an input
without the key. This module tries three strategies and counts queries (one query = one input
sent to both models):

* ``random``: inputs drawn uniformly from the input range (pixels) or from a Gaussian with the
  natural data's mean and std (float features);
* ``noisy``: natural inputs with small random noise (±1..8 grey levels on random pixels, or
  0.1·std Gaussian noise), which also randomizes the low bits a payload would live in;
* ``climb``: hill climbing from natural inputs: mutate a few coordinates at random and keep the
  mutation when the total-variation distance between softmax(h̃) and softmax(h) does not decrease
  (label-only models: when the labels still agree, a random walk). A wrapper backdoor's scores
  equal its base's scores off the trigger, so the search gets no signal; a BadNets model differs
  from an honest one everywhere a little, so it does.

For a signature backdoor a natural or random input triggers with probability ≈ 2^-128 (the
expected count in 10^5 queries is 0); the checksum backdoor with 64 parity blocks is also out of
reach (2^-64): its weakness is replication, not detection. The registered detector uses a wrapper
bundle's own base as h; other families have no reference inside the bundle (``NotApplicable``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .base import CAPABILITIES, NotApplicable, detector


@dataclass
class DisagreementReport:
    """Queries made and disagreements found per strategy, and up to 10 disagreeing inputs."""

    queries: dict = field(default_factory=dict)
    disagreements: dict = field(default_factory=dict)
    examples: list = field(default_factory=list)

    @property
    def total_queries(self) -> int:
        return int(sum(self.queries.values()))

    @property
    def total_disagreements(self) -> int:
        return int(sum(self.disagreements.values()))

    def to_json(self) -> dict:
        return {"queries": self.queries, "disagreements": self.disagreements,
                "total_queries": self.total_queries, "total_disagreements": self.total_disagreements}


def _tv_distance(model, base, X: np.ndarray) -> np.ndarray:
    if not (CAPABILITIES["scores"](model) and CAPABILITIES["scores"](base)):
        return (model.predict_index(X) != base.predict_index(X)).astype(float)
    from scipy.special import softmax

    S, T = np.asarray(model.scores(X), float), np.asarray(base.scores(X), float)
    return 0.5 * np.abs(softmax(S, axis=1) - softmax(T, axis=1)).sum(axis=1)


def _random_inputs(spec, X_nat: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if spec.is_image:
        return rng.integers(int(spec.low), int(spec.high) + 1, size=(n, spec.n_features)).astype(np.uint8)
    mu, sd = X_nat.mean(axis=0), X_nat.std(axis=0) + 1e-12
    return mu + sd * rng.standard_normal((n, spec.n_features))


def _noisy(spec, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if spec.is_image:
        noise = rng.integers(-8, 9, size=X.shape) * (rng.random(X.shape) < 0.1)
        return np.clip(X.astype(np.int64) + noise, spec.low, spec.high).astype(np.uint8)
    sd = np.asarray(spec.feature_std if spec.feature_std else X.std(axis=0) + 1e-12)
    return X + 0.1 * sd * rng.standard_normal(X.shape)


def _mutate(spec, X: np.ndarray, rng: np.random.Generator, n_coords: int = 8) -> np.ndarray:
    Y = X.copy()
    rows = np.repeat(np.arange(len(X)), n_coords)
    cols = rng.integers(0, spec.n_features, size=len(rows))
    if spec.is_image:
        Y[rows, cols] = rng.integers(int(spec.low), int(spec.high) + 1, size=len(rows)).astype(np.uint8)
    else:
        sd = np.asarray(spec.feature_std if spec.feature_std else np.ones(spec.n_features))
        Y[rows, cols] += 0.5 * sd[cols] * rng.standard_normal(len(rows))
    return Y


#: Queries per strategy beyond this are refused (hours at ~10^4 signature verifications per second).
MAX_QUERIES = 100_000_000


def disagreement_search(model, base, X_natural: np.ndarray, rng: np.random.Generator, n_random: int = 10_000,
                        n_noisy: int = 10_000, n_climb: int = 10_000, chains: int = 100, batch: int = 5_000) -> DisagreementReport:
    """Search for x with h̃(x) ≠ h(x) with about n_random + n_noisy + n_climb queries; see the module docstring."""
    from ..progress import track

    from ..safety import check_knob

    for flag, v in (("n_random", n_random), ("n_noisy", n_noisy), ("n_climb", n_climb)):
        check_knob(flag, v, 0, MAX_QUERIES, "queries per strategy")
    check_knob("chains", chains, 1, 100_000, "hill-climbing chains")
    check_knob("batch", batch, 1, 1_000_000, "queries per batch")
    spec = model.spec
    X_nat = spec.validate(X_natural, "natural inputs")
    rep = DisagreementReport()

    def query(name: str, X: np.ndarray) -> np.ndarray:
        diff = model.predict_index(X) != base.predict_index(X)
        rep.queries[name] = rep.queries.get(name, 0) + len(X)
        rep.disagreements[name] = rep.disagreements.get(name, 0) + int(diff.sum())
        if diff.any() and len(rep.examples) < 10:
            rep.examples.extend(list(X[diff][: 10 - len(rep.examples)]))
        return diff

    for name, n, make in (("random", n_random, lambda m: _random_inputs(spec, X_nat, m, rng)),
                          ("noisy", n_noisy, lambda m: _noisy(spec, X_nat[rng.integers(0, len(X_nat), size=m)], rng))):
        for i in track(range(0, n, batch), f"disagreement: {name} queries", unit="batches"):
            query(name, make(min(batch, n - i)))
    if n_climb > 0:
        X = X_nat[rng.integers(0, len(X_nat), size=min(chains, n_climb))].copy()
        obj = _tv_distance(model, base, X)
        query("climb", X)
        for _ in track(range(max(0, n_climb // len(X) - 1)), "disagreement: hill climbing", unit="steps"):
            Y = _mutate(spec, X, rng)
            o = _tv_distance(model, base, Y)
            query("climb", Y)
            keep = o >= obj
            X[keep], obj[keep] = Y[keep], o[keep]
    return rep


@detector("disagreement", schemes=("signature", "checksum"), requires=("wrapper",))
def score(model, data, key, rng) -> float:
    """Black-box disagreement search against the bundle's own base: fraction of 30,000 queries that disagree."""
    if data is None:
        raise NotApplicable("disagreement search needs natural inputs; pass data (a Dataset or a bundled dataset's name)")
    rep = disagreement_search(model, model.base, data.X_test, rng)
    return rep.total_disagreements / max(1, rep.total_queries)
