"""Client-controlled coins (beyond the paper): verify that a random-feature model's coins are honest.

The white-box backdoors of §6 (RFF + CLWE) and of the ReLU construction (sparse PCA) tamper *only*
with the random coins g_i: the planted weights are secretly sampled (Gaussian pancakes, a spiked
covariance) instead of drawn from the honest generator. If the client fixes the seed S and the
weights must equal the honest learner's draw from ``models.coins.coin_rng(S, purpose)`` (the
documented, versioned derivation), a planted model fails this check — with certainty, since a
pancake or spiked sample coincides with the honest draw with probability 0.

``verify_coins(model, seed)`` recomputes the coins with the learners' own functions
(``models.rff.honest_weights`` / ``honest_offsets``, ``models.relu.honest_weights``) for the
bundle's shape (m, D) and compares them with the stored weights *exactly* (bit for bit), reporting
max |Δ| and the number of mismatching rows. It checks the coins only: the trained head is not
re-derived (it depends on the training data), so the client must also own or audit the data.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ParameterError, UndetectableError, UsageError
from ..models.coins import COINS_VERSION

COIN_FAMILIES = ("rff", "relu")


class CoinsMismatchError(UndetectableError):
    """The bundle's random features are not the coins of the claimed seed."""


@dataclass
class CoinsResult:
    """Outcome of ``verify_coins``: per-array exact comparison with the honest coins of ``seed``."""

    ok: bool
    family: str
    seed: int
    coins_version: int
    n_features: int           # m
    input_dim: int            # D
    rows_differ: int          # rows g_i that are not bit-identical to the honest draw
    max_abs_delta: float      # max |G − G_honest|
    offsets_differ: int | None  # rff only: offsets b_i that differ

    def to_json(self) -> dict:
        return asdict(self)

    def message(self) -> str:
        """One line for the command line."""
        if self.ok:
            extra = "" if self.offsets_differ is None else " and offsets"
            return (f"OK: the {self.n_features}x{self.input_dim} weights{extra} of this {self.family} bundle are exactly "
                    f"the coins of seed {self.seed} (coins v{self.coins_version})")
        parts = [f"{self.rows_differ}/{self.n_features} rows differ (max |Δ| {self.max_abs_delta:.3g})"]
        if self.offsets_differ:
            parts.append(f"{self.offsets_differ}/{self.n_features} offsets differ")
        return (f"weights do not match the coins of seed {self.seed}: {', '.join(parts)}; "
                f"this model was not trained honestly from seed {self.seed}")


def honest_coins(family: str, seed: int, m: int, D: int) -> dict[str, np.ndarray]:
    """The coins Train-<family> draws for seed S and shape (m, D), from the learner's own functions."""
    if family == "rff":
        from ..models.rff import honest_offsets, honest_weights

        return {"weights": honest_weights(seed, m, D), "offsets": honest_offsets(seed, m)}
    if family == "relu":
        from ..models.relu import honest_weights

        return {"weights": honest_weights(seed, m, D)}
    raise UsageError(f"no coin derivation for family {family!r}")


def verify_coins(model, seed: int) -> CoinsResult:
    """Compare ``model.weights_`` (and rff ``offsets_``) with the honest coins of ``seed``, exactly.

    Raises ``UsageError`` for a bundle that has no random features (logreg, mlp, wrappers such as
    the signature backdoor): coins verification does not apply to it.
    """
    family = getattr(model, "family", type(model).__name__)
    if family not in COIN_FAMILIES:
        base = getattr(model, "base", None)
        inner = f" wrapping a {base.family} model" if base is not None else ""
        raise UsageError(f"coins verification does not apply to a {family} bundle{inner}: only rff and relu bundles "
                         "derive their random features from a seed; verify an rff or relu bundle")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= int(seed) < 2**128:
        raise ParameterError("seed", f"seed must be an integer in [0, 2^128); got {seed!r}")
    G = np.asarray(model.weights_, dtype=np.float64)
    if G.ndim != 2:
        raise UsageError(f"the bundle's weights have shape {G.shape}, expected (m, D)")
    m, D = G.shape
    coins = honest_coins(family, int(seed), m, D)
    diff = G != coins["weights"]
    rows = int(np.any(diff, axis=1).sum())
    delta = float(np.max(np.abs(G - coins["weights"]))) if rows else 0.0
    off = None
    if "offsets" in coins:
        b = np.asarray(model.offsets_, dtype=np.float64)
        off = int(np.sum(b != coins["offsets"])) if b.shape == coins["offsets"].shape else m
    ok = rows == 0 and not off
    return CoinsResult(ok, family, int(seed), COINS_VERSION, m, D, rows, delta, off)
