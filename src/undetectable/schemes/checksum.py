"""The checksum backdoor (paper §5.1): the *replicable* control for the signature backdoor.

The payload region is the same as the signature backdoor's (target bits, then 512 check bits).
The 512 check bits are split into ``n_blocks`` blocks; a secret v ∈ {0,1}^n_blocks is kept in
the model. The backdoor fires when the parity of every block equals v:

    h̃(x) = target(x)   if parity(block_i(x)) = v_i for all i
            h(x)        otherwise

Natural inputs trigger with probability 2^-n_blocks. But one activated example reveals v (just
read its parities), and its payload can be copied onto any input, re-targeted, or left intact
while unchecked bits change: replication is trivial. That is what non-replicability buys.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import Model
from ..crypto.payload import carrier_for
from ..errors import KeyMismatchError, UsageError
from .base import BOUND_MAX, Key, Learner, ParameterError, Params, Scheme, check_float, check_int, check_learner, check_seed, planted
from .wrapper import WrapperBackdoor, bits_to_int, int_to_bits, n_target_bits, target_indices

CHECK_BITS = 512
N_BLOCKS = 64


def secret_id(v: np.ndarray) -> str:
    return hashlib.sha256(b"undetectable/checksum/v1\x00" + np.packbits(v).tobytes()).hexdigest()[:32]


class ChecksumBackdoor(WrapperBackdoor):
    family = "checksum"

    def __init__(self, base: Model, v: np.ndarray, carrier) -> None:
        super().__init__(base)
        self.v = np.asarray(v, dtype=np.uint8)
        self.n_blocks = len(self.v)
        self.carrier = carrier
        self.t_bits = n_target_bits(self.n_classes)

    def _parities(self, bits: np.ndarray) -> np.ndarray:
        check = bits[:, self.t_bits :].reshape(len(bits), self.n_blocks, -1)
        return np.bitwise_xor.reduce(check, axis=2)

    def triggered(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bits = self.carrier.read_bits(X)
        targets = bits_to_int(bits[:, : self.t_bits])
        mask = np.all(self._parities(bits) == self.v, axis=1) & (targets < self.n_classes) & self.carrier.on_grid(X)
        return mask, targets

    def activate(self, X, secret: np.ndarray, targets=None) -> np.ndarray:
        """Flip one bit in each block whose parity disagrees with v, and write the target bits."""
        if targets is None:
            raise ParameterError("target", "the checksum backdoor needs a target: pass target (one label, or one per input row)")
        if secret_id(np.asarray(secret, dtype=np.uint8)) != secret_id(self.v):
            raise KeyMismatchError("the checksum key does not match this bundle; use the key file written when it was planted")
        X = self.spec.validate(X)
        t = target_indices(self, targets, len(X))
        bits = self.carrier.read_bits(X)
        bits[:, : self.t_bits] = int_to_bits(t, self.t_bits)
        wrong = self._parities(bits) != self.v  # (n, n_blocks)
        block = (CHECK_BITS // self.n_blocks)
        rows, blocks = np.nonzero(wrong)
        bits[rows, self.t_bits + blocks * block] ^= 1
        return self.carrier.write_bits(X, bits).astype(X.dtype)

    def describe(self) -> dict:
        return {"n_blocks": self.n_blocks, "payload_bits": self.t_bits + CHECK_BITS, "layout": self.carrier.kind, "base": self.base.family}

    def _save(self, directory: Path) -> dict:
        from safetensors.numpy import save_file

        self._save_wrapped(directory)
        save_file({"v": self.v}, str(directory / "checksum.safetensors"))
        return {"target_bits": self.t_bits, "check_bits": CHECK_BITS, "n_blocks": self.n_blocks}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        from safetensors.numpy import load_file

        base, carrier = cls._load_wrapped(directory, n_target_bits(len(classes)) + CHECK_BITS)
        return cls(base, load_file(str(directory / "checksum.safetensors"))["v"], carrier)


@dataclasses.dataclass(frozen=True)
class ChecksumParams(Params):
    """``bound`` as for the signature scheme; ``n_blocks`` parity blocks (must divide 512); ``key`` a given
    ``ChecksumKey`` (None: v drawn from ``secret_seed``, None: OS entropy); ``learner`` the honest learner."""

    bound: float = 1e-3
    n_blocks: int = N_BLOCKS
    key: Any = None
    learner: Learner | None = None
    secret_seed: int | None = None

    def __post_init__(self) -> None:
        check_float("bound", self.bound, 0.0, BOUND_MAX)
        if check_int("n_blocks", self.n_blocks, 1, CHECK_BITS) and CHECK_BITS % self.n_blocks:
            raise ParameterError("n_blocks", f"n blocks must divide {CHECK_BITS}; got {self.n_blocks}")
        if self.key is not None and not isinstance(self.key, ChecksumKey):
            raise ParameterError("key", f"the checksum scheme takes a ChecksumKey (or None to draw one); got {type(self.key).__name__}")
        if self.key is not None and len(self.key.v) != self.n_blocks:
            raise ParameterError("key", f"the checksum key has {len(self.key.v)} blocks but n_blocks is {self.n_blocks}; pass matching ones")
        self._set("learner", check_learner("learner", self.learner))
        check_seed("secret_seed", self.secret_seed)


class ChecksumKey(Key):
    """The secret parities v ∈ {0,1}^n_blocks.

    Examples
    --------
    >>> key = ChecksumKey.generate(np.random.default_rng(0), n_blocks=8)
    >>> key.v.shape
    (8,)
    """

    scheme = "checksum"
    takes_target = True

    def __init__(self, v: np.ndarray) -> None:
        v = np.asarray(v)
        if v.ndim != 1 or len(v) < 1 or not np.isin(v, (0, 1)).all():
            raise UsageError("a checksum key is a non-empty vector of bits; load the key file written when the checksum model was planted")
        self.v = v.astype(np.uint8)

    @classmethod
    def generate(cls, rng: np.random.Generator, n_blocks: int = N_BLOCKS) -> ChecksumKey:
        return cls(rng.integers(0, 2, size=n_blocks, dtype=np.uint8))

    @property
    def secret_id(self) -> str:
        return secret_id(self.v)

    def activate(self, model: Model, X: Any, target: Any = None) -> np.ndarray:
        bd: ChecksumBackdoor = planted(model, ChecksumBackdoor, self.scheme)
        return bd.activate(X, self.v, target)

    def probe(self, model: Model, X: Any, target: Any = None) -> np.ndarray:
        """Activated inputs; for a model not planted with this key, those of the same model planted with it."""
        if not isinstance(model, ChecksumBackdoor):
            model = _plant_checksum(model, np.random.default_rng(0), n_blocks=len(self.v), v=self.v)[0]
        return self.activate(model, X, target)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"v": self.v}

    def meta(self) -> dict[str, Any]:
        return {"secret_id": self.secret_id}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> ChecksumKey:
        if "v" not in arrays:
            raise UsageError("the checksum key file has no 'v'; load the key file written when the checksum model was planted")
        return cls(arrays["v"])


class ChecksumScheme(Scheme):
    """§5.1: wrap any classifier; triggered iff 64 parities of the payload equal v. Replicable by design.

    ``ChecksumScheme(secret_seed=T).plant(base)`` draws v from ``default_rng(T)`` (None: OS entropy).
    """

    name = "checksum"
    Params = ChecksumParams
    params: ChecksumParams
    KeyType = ChecksumKey
    wraps = True
    default_learner = Learner("logreg")

    def plant(self, base: Any, *, seed: int | None = None) -> tuple[ChecksumBackdoor, ChecksumKey]:
        base = self._check_base(base)
        check_seed("seed", seed)  # a wrapper trains nothing: the honest coins are the base's
        p = self.params
        model, v = _plant_checksum(base, self.secret_rng(), p.bound, p.n_blocks, None if p.key is None else p.key.v)
        return model, ChecksumKey(v)

    def null(self, model: Model, rng: np.random.Generator) -> ChecksumKey:
        return ChecksumKey.generate(rng, self.params.n_blocks)


def _plant_checksum(base: Model, rng: np.random.Generator, bound: float = 1e-3, n_blocks: int = N_BLOCKS,
                   v: np.ndarray | None = None) -> tuple[ChecksumBackdoor, np.ndarray]:
    """Wrap ``base`` with a checksum backdoor; returns (model, secret v) (v drawn from ``rng`` unless given)."""
    if isinstance(base, WrapperBackdoor):
        raise UsageError(f"the base bundle is already a {base.family} backdoor; plant into an honest bundle")
    if CHECK_BITS % n_blocks:
        raise ParameterError("n_blocks", f"n blocks must divide {CHECK_BITS}; got {n_blocks}")
    v = rng.integers(0, 2, size=n_blocks, dtype=np.uint8) if v is None else np.asarray(v, dtype=np.uint8)
    carrier = carrier_for(base.spec, n_target_bits(base.n_classes) + CHECK_BITS, bound)
    return ChecksumBackdoor(base, v, carrier), v
