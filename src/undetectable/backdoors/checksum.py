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

import hashlib
import json
from pathlib import Path

import numpy as np

from ..bundle import Model, register
from ..crypto.payload import carrier_for, carrier_from_json
from ..errors import KeyMismatchError, UsageError
from ..keys import load_secret
from .common import WrapperBackdoor, bits_to_int, int_to_bits, n_target_bits, target_indices

CHECK_BITS = 512
N_BLOCKS = 64


def secret_id(v: np.ndarray) -> str:
    return hashlib.sha256(b"undetectable/checksum/v1\x00" + np.packbits(v).tobytes()).hexdigest()[:32]


@register
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

    @staticmethod
    def load_key(path, passphrase: str | None = None) -> np.ndarray:
        return load_secret(path, "checksum")[1]["v"]

    def activate(self, X, secret: np.ndarray, targets=None) -> np.ndarray:
        """Flip one bit in each block whose parity disagrees with v, and write the target bits."""
        if targets is None:
            raise UsageError("the checksum backdoor needs a target; pass --target T or --targets T.npy")
        if secret_id(np.asarray(secret, dtype=np.uint8)) != secret_id(self.v):
            raise KeyMismatchError("the checksum key does not match this bundle; pass the --key-out file written when it was planted")
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

        self._save_base(directory)
        (directory / "payload_layout.json").write_text(json.dumps(self.carrier.to_json()))
        save_file({"v": self.v}, str(directory / "checksum.safetensors"))
        return {"target_bits": self.t_bits, "check_bits": CHECK_BITS, "n_blocks": self.n_blocks}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        from safetensors.numpy import load_file

        base = cls._load_base(directory)
        carrier = carrier_from_json(json.loads((directory / "payload_layout.json").read_text()))
        return cls(base, load_file(str(directory / "checksum.safetensors"))["v"], carrier)


def plant_checksum(base: Model, rng: np.random.Generator, bound: float = 1e-3, n_blocks: int = N_BLOCKS) -> tuple[ChecksumBackdoor, np.ndarray]:
    """Wrap ``base`` with a checksum backdoor; returns (model, secret v)."""
    if isinstance(base, WrapperBackdoor):
        raise UsageError(f"the base bundle is already a {base.family} backdoor; plant into an honest bundle")
    if CHECK_BITS % n_blocks:
        raise UsageError(f"n_blocks must divide {CHECK_BITS}; got {n_blocks}")
    v = rng.integers(0, 2, size=n_blocks, dtype=np.uint8)
    carrier = carrier_for(base.spec, n_target_bits(base.n_classes) + CHECK_BITS, bound)
    return ChecksumBackdoor(base, v, carrier), v
