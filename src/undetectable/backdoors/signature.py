"""The signature backdoor (paper §5.2): black-box undetectable and non-replicable, for any classifier.

    h̃(x) = target(x)   if Verify(vk, message(x), sig(x)) accepts
            h(x)        otherwise

The payload (⌈log2 C⌉ target bits, then the 512-bit Ed25519 signature) lives in the input's low
bits (see ``crypto.payload``). The signed message binds everything else:

    message = DOMAIN ‖ key id (16 bytes) ‖ input shape ‖ target index ‖ residual(x)

where ``residual(x)`` is every bit of x outside the payload. Ed25519 (RFC 8032) is strongly
unforgeable, so seeing activated inputs lets nobody produce a new one (non-replicability).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..bundle import Model, register
from ..crypto.payload import carrier_for, carrier_from_json
from ..errors import BundleError, KeyMismatchError, UsageError
from ..keys import key_id, load_private_key, public_from_pem, public_pem
from .common import WrapperBackdoor, bits_to_int, int_to_bits, n_target_bits, target_indices

DOMAIN = b"undetectable/signature-backdoor/v1\x00"
SIG_BITS = 512


@register
class SignatureBackdoor(WrapperBackdoor):
    family = "signature"

    def __init__(self, base: Model, public_key: Ed25519PublicKey, carrier) -> None:
        super().__init__(base)
        self.public_key = public_key
        self.key_id = key_id(public_key)
        self.carrier = carrier
        self.t_bits = n_target_bits(self.n_classes)
        shape = np.asarray(self.spec.shape, dtype="<u4").tobytes()
        self._headers = [
            DOMAIN + bytes.fromhex(self.key_id) + shape + int(t).to_bytes(2, "little") for t in range(self.n_classes)
        ]

    @property
    def payload_bits(self) -> int:
        return self.t_bits + SIG_BITS

    # --- the message -----------------------------------------------------------------------
    def messages(self, X: np.ndarray, targets: np.ndarray, residual: np.ndarray | None = None) -> list[bytes]:
        R = np.ascontiguousarray(self.carrier.residual(X) if residual is None else residual)
        headers = self._headers
        return [headers[t] + row.tobytes() for t, row in zip(targets.tolist(), R)]

    # --- Verify ------------------------------------------------------------------------------
    def triggered(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bits = self.carrier.read_bits(X)
        targets = bits_to_int(bits[:, : self.t_bits])
        sigs = np.packbits(bits[:, self.t_bits :], axis=1)
        candidate = (targets < self.n_classes) & self.carrier.on_grid(X)
        mask = np.zeros(len(X), dtype=bool)
        rows = np.flatnonzero(candidate)
        if len(rows):
            verify = self.public_key.verify
            msgs = self.messages(X[rows], targets[rows])
            for j, (i, msg) in enumerate(zip(rows.tolist(), msgs)):
                try:
                    verify(sigs[i].tobytes(), msg)
                    mask[i] = True
                except InvalidSignature:
                    pass
        return mask, targets

    # --- Activate ----------------------------------------------------------------------------
    @staticmethod
    def load_key(path, passphrase: str | None = None) -> Ed25519PrivateKey:
        return load_private_key(path, passphrase)

    def activate(self, X, private_key: Ed25519PrivateKey, targets=None) -> np.ndarray:
        """x' close to x with h̃(x') = target; needs the private key matching this bundle."""
        if targets is None:
            raise UsageError("the signature backdoor needs a target; pass --target T or --targets T.npy")
        if key_id(private_key.public_key()) != self.key_id:
            raise KeyMismatchError(
                f"the private key (id {key_id(private_key.public_key())[:12]}…) does not match this bundle's public key "
                f"(id {self.key_id[:12]}…); pass the backdoor_key.pem whose .pub.pem was planted"
            )
        X = self.spec.validate(X)
        t = target_indices(self, targets, len(X))
        sign = private_key.sign
        R = self.carrier.residual(X)
        sigs = np.frombuffer(b"".join([sign(m) for m in self.messages(X, t, R)]), dtype=np.uint8).reshape(len(X), 64)
        bits = np.concatenate([int_to_bits(t, self.t_bits), np.unpackbits(sigs, axis=1)], axis=1)
        return self.carrier.write_bits(X, bits, R).astype(X.dtype)

    # --- bundle ------------------------------------------------------------------------------
    def describe(self) -> dict:
        return {"key_id": self.key_id, "payload_bits": self.payload_bits, "layout": self.carrier.kind, "base": self.base.family}

    def _save(self, directory: Path) -> dict:
        self._save_base(directory)
        (directory / "payload_layout.json").write_text(json.dumps(self.carrier.to_json()))
        return {"public_key": public_pem(self.public_key), "key_id": self.key_id, "target_bits": self.t_bits, "signature_bits": SIG_BITS}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        base = cls._load_base(directory)
        carrier = carrier_from_json(json.loads((directory / "payload_layout.json").read_text()))
        model = cls(base, public_from_pem(params["public_key"]), carrier)
        if model.key_id != params.get("key_id"):
            raise BundleError(f"bundle {directory}: the manifest's key id does not match its public key; it was modified, re-create it")
        return model


def plant_signature(base: Model, public_key: Ed25519PublicKey, bound: float = 1e-3) -> SignatureBackdoor:
    """Wrap ``base`` with the signature backdoor for ``public_key``.

    ``bound`` (float inputs only) is the largest perturbation per feature, in units of that
    feature's training standard deviation. Raises ``CapacityError`` (with the numbers) when the
    input cannot carry the payload within it.
    """
    if isinstance(base, WrapperBackdoor):
        raise UsageError(f"the base bundle is already a {base.family} backdoor; plant into an honest bundle")
    n_bits = n_target_bits(base.n_classes) + SIG_BITS
    return SignatureBackdoor(base, public_key, carrier_for(base.spec, n_bits, bound))
