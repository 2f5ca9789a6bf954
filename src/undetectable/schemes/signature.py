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

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..bundle import Model
from ..crypto.payload import carrier_for
from ..errors import BundleError, CapacityError, KeyMismatchError, UsageError
from ..keys import key_id, load_private_key, load_public_key, public_from_pem, public_pem
from ..errors import ParameterError
from .base import BOUND_MAX, Key, Learner, Params, Scheme, check_float, check_learner, check_seed, planted
from .wrapper import WrapperBackdoor, bits_to_int, int_to_bits, n_target_bits, target_indices

DOMAIN = b"undetectable/signature-backdoor/v1\x00"
SIG_BITS = 512



def message_prefix(key_id_hex: str, shape) -> bytes:
    """DOMAIN ‖ key id ‖ shape: the constant part of every signed message (target and residual follow)."""
    return DOMAIN + bytes.fromhex(key_id_hex) + np.asarray(shape, dtype="<u4").tobytes()

class SignatureBackdoor(WrapperBackdoor):
    family = "signature"

    def __init__(self, base: Model, public_key: Ed25519PublicKey, carrier) -> None:
        super().__init__(base)
        self.public_key = public_key
        self.key_id = key_id(public_key)
        self.carrier = carrier
        self.t_bits = n_target_bits(self.n_classes)
        prefix = message_prefix(self.key_id, self.spec.shape)
        self._headers = [prefix + int(t).to_bytes(2, "little") for t in range(self.n_classes)]

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
    def activate(self, X, private_key: Ed25519PrivateKey, targets=None) -> np.ndarray:
        """x' close to x with h̃(x') = target; needs the private key matching this bundle."""
        if targets is None:
            raise ParameterError("target", "the signature backdoor needs a target: pass target (one label, or one per input row)")
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

    # --- one ONNX file: the base graph plus the in-graph verifier ---------------------------
    def to_onnx(self):
        """The whole backdoored classifier as one ONNX graph (``signature_graph.signature_onnx``)."""
        from .signature_graph import signature_onnx

        return signature_onnx(self)

    # --- bundle ------------------------------------------------------------------------------
    def describe(self) -> dict:
        return {"key_id": self.key_id, "payload_bits": self.payload_bits, "layout": self.carrier.kind, "base": self.base.family}

    def _save(self, directory: Path) -> dict:
        self._save_wrapped(directory)
        return {"public_key": public_pem(self.public_key), "key_id": self.key_id, "target_bits": self.t_bits, "signature_bits": SIG_BITS}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        base, carrier = cls._load_wrapped(directory, n_target_bits(len(classes)) + SIG_BITS)
        model = cls(base, public_from_pem(params["public_key"]), carrier)
        if model.key_id != params.get("key_id"):
            raise BundleError(f"bundle {directory}: the manifest's key id does not match its public key; it was modified, re-create it")
        return model


@dataclasses.dataclass(frozen=True)
class SignatureParams(Params):
    """``bound``: float inputs only, the largest perturbation per feature in units of its training std (model files:
    of the value's spread), in (0, ``BOUND_MAX`` = 1];
    ``key``: the key planted (a public key, or a key pair; None: a pair drawn from ``secret_seed``, None: OS
    entropy); ``learner``: the honest learner of ``honest``/``backdoor``; ``unroll``: model files only, the
    in-graph verifier written out without any ``Loop``."""

    bound: float = 1e-3
    key: Any = None
    learner: Learner | None = None
    secret_seed: int | None = None
    unroll: bool = False

    def __post_init__(self) -> None:
        check_float("bound", self.bound, 0.0, BOUND_MAX)
        if self.key is not None and not isinstance(self.key, (SignatureKey, SignaturePublicKey, Ed25519PublicKey)):
            hint = "; key.public is a SignaturePublicKey" if hasattr(self.key, "public") else ""
            raise ParameterError("key", f"the signature scheme plants an Ed25519 public key (a SignaturePublicKey, e.g. "
                                        f"undetectable.keygen().public, or the key pair); got {type(self.key).__name__}{hint}")
        self._set("learner", check_learner("learner", self.learner))
        check_seed("secret_seed", self.secret_seed)
        if not isinstance(self.unroll, bool):
            raise ParameterError("unroll", f"unroll must be True or False, got {self.unroll!r}")


class SignaturePublicKey:
    """The verification key vk that is planted into the model (it may be published)."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self.public = public

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def save(self, path: str | os.PathLike, force: bool = False) -> Path:
        from ..fileio import atomic_file

        with atomic_file(path, force) as tmp:
            tmp.write_text(public_pem(self.public))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SignaturePublicKey:
        return cls(load_public_key(path))

    def __repr__(self) -> str:
        return f"<SignaturePublicKey id {self.key_id}>"


class SignatureKey(Key):
    """The signing key sk (Ed25519, RFC 8032): Activate signs the input's residual with it.

    Examples
    --------
    >>> key = SignatureKey.generate()
    >>> key.public.key_id == key.key_id
    True
    """

    scheme = "signature"
    takes_target = True

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self.private = private

    @classmethod
    def generate(cls, rng: np.random.Generator | None = None) -> SignatureKey:
        """A fresh key pair (OS entropy; from ``rng``'s bytes when given: reproducible, for arenas only)."""
        if rng is None:
            return cls(Ed25519PrivateKey.generate())
        return cls(Ed25519PrivateKey.from_private_bytes(rng.bytes(32)))

    @property
    def public(self) -> SignaturePublicKey:
        return SignaturePublicKey(self.private.public_key())

    @property
    def key_id(self) -> str:
        return key_id(self.private.public_key())

    def activate(self, model: Model, X: Any, target: Any = None) -> np.ndarray:
        if getattr(model, "family", None) == "onnx":  # a model file: the drop-in backdoor (schemes.dropin)
            from .dropin import activate_file

            return activate_file(model, self.private, X, target)  # type: ignore[arg-type]
        bd: SignatureBackdoor = planted(model, SignatureBackdoor, self.scheme, "a signature key (PEM)")
        return bd.activate(X, self.private, target)

    def probe(self, model: Model, X: Any, target: Any = None) -> np.ndarray:
        """Activated inputs; for a model not planted with this key, those of the same model planted with it."""
        if not isinstance(model, SignatureBackdoor):
            model = _plant_signature(model, self.private.public_key())
        return self.activate(model, X, target)

    def arrays(self) -> dict[str, np.ndarray]:  # pragma: no cover - PEM, not safetensors
        raise UsageError("a signature key is saved as PEM; use SignatureKey.save")

    def save(self, path: str | os.PathLike, force: bool = False, passphrase: str | None = None) -> Path:
        """Write the private key as PKCS#8 PEM, mode 0600 (encrypted when ``passphrase`` is given)."""
        from cryptography.hazmat.primitives import serialization

        from ..fileio import atomic_file
        from ..keys import SECRET_MODE

        enc = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
        pem = self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        with atomic_file(path, force, mode=SECRET_MODE) as tmp:
            tmp.write_bytes(pem)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, passphrase: str | None = None) -> SignatureKey:
        return cls(load_private_key(path, passphrase))


def keygen(rng: np.random.Generator | None = None) -> SignatureKey:
    """A fresh Ed25519 backdoor key pair; ``key.public`` is what ``plant`` takes.

    Examples
    --------
    >>> from undetectable.schemes import signature
    >>> key = signature.keygen()
    >>> len(key.key_id)
    32
    """
    return SignatureKey.generate(rng)


class SignatureScheme(Scheme):
    """§5.2: wrap any classifier; triggered iff the input's low bits carry a valid signature.

    ``SignatureScheme(key=public).plant(base)`` plants the public key (or the key pair); with no key it
    generates a pair (from ``secret_seed``; None: OS entropy). The returned key is the one given (a public
    key cannot activate) or the generated pair.

    Examples
    --------
    >>> import undetectable as ud
    >>> honest = ud.train("logreg", "mnist5k", seed=0, max_iter=20)
    >>> pair = keygen()
    >>> bd, key = SignatureScheme(key=pair.public).plant(honest)
    >>> bd.family, key.key_id == pair.key_id
    ('signature', True)
    """

    name = "signature"
    Params = SignatureParams
    params: SignatureParams
    KeyType = SignatureKey
    wraps = True
    takes_model_files = True  # an OnnxModel gets the drop-in backdoor (schemes.dropin)
    default_learner = Learner("logreg")

    def plant(self, base: Any, *, seed: int | None = None, data: Any = None) -> tuple[Any, Any]:
        """``base`` a Model; an ``OnnxModel`` (a user's file) gets the drop-in backdoor, with ``data`` its samples
        in the file's own layout (float inputs need them: the payload's grid is inferred and checked on them)."""
        base = self._check_base(base)
        check_seed("seed", seed)  # a wrapper trains nothing: the honest coins are the base's
        key = self.params.key
        if key is None:
            key = SignatureKey.generate(None if self.params.secret_seed is None else self.secret_rng())
        if isinstance(key, SignatureKey):
            public = key.private.public_key()
        elif isinstance(key, SignaturePublicKey):
            public = key.public
        else:
            public, key = key, SignaturePublicKey(key)
        if getattr(base, "family", None) == "onnx":
            from .dropin import plant_dropin

            return plant_dropin(base, public, data=data, bound=self.params.bound, unroll=self.params.unroll), key
        return _plant_signature(base, public, self.params.bound), key

    def null(self, model: Model, rng: np.random.Generator) -> SignatureKey:
        return SignatureKey.generate(rng)


def _plant_signature(base: Model, public_key: Ed25519PublicKey, bound: float = 1e-3,
                    X_check: np.ndarray | None = None) -> SignatureBackdoor:
    """Wrap ``base`` with the signature backdoor for ``public_key``.

    ``bound`` (float inputs only) is the largest perturbation per feature, in units of that
    feature's training standard deviation. Raises ``CapacityError`` (with the numbers) when the
    input cannot carry the payload within it; with ``X_check`` (inputs like those to be activated,
    e.g. the training set) it also checks, now rather than at activation, that float64 resolves the
    fixed-point grid for them, and names the smallest ``bound`` that does. Private: use ``SignatureScheme``.
    """
    from ..crypto.payload import smallest_bound
    from ..keys import check_ed25519_public

    if not isinstance(public_key, Ed25519PublicKey):
        raise UsageError(f"the signature backdoor plants an Ed25519 public key; got {type(public_key).__name__}")
    check_ed25519_public(public_key)  # on the curve, canonical, not of small order (as libsodium refuses)
    if isinstance(base, WrapperBackdoor):
        raise UsageError(f"the base bundle is already a {base.family} backdoor; plant into an honest bundle")
    n_bits = n_target_bits(base.n_classes) + SIG_BITS
    carrier = carrier_for(base.spec, n_bits, bound)
    if X_check is not None:
        fit = smallest_bound(carrier, base.spec.validate(X_check, "capacity-check input"), bound)
        if fit is not None:
            raise CapacityError(f"bound {bound:g} is too small for these inputs: {carrier.k} payload bits per feature need a "
                                f"fixed-point step float64 cannot resolve; the smallest bound that fits is {fit:g}")
    return SignatureBackdoor(base, public_key, carrier)
