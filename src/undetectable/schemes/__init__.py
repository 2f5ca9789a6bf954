"""The constructions, one module each, registered in ONE place (``REGISTRY``: name → "module:Class").

=========== ===================================================== ============ =================
name        construction                                          plants into  key
=========== ===================================================== ============ =================
signature   §5.2 digital-signature wrapper (non-replicable)       a Model      Ed25519 pair
checksum    §5.1 checksum wrapper (the replicable control)        a Model      parity bits v
rff         §6 random Fourier features with CLWE pancake coins    a Dataset    bk = γ·u on S
relu        appendix: random ReLU coins with a sparse spike       a Dataset    s, θ, λ
badnets     BadNets data poisoning (the detectable control)       a Dataset    trigger
persistent  §5.3 threshold-gate network fine-tuning cannot move   a Dataset    trigger
=========== ===================================================== ============ =================

Modules are imported lazily (torch is heavy): ``schemes.get("rff")`` imports ``schemes.rff`` only.

Examples
--------
>>> from undetectable import schemes
>>> schemes.names()
('signature', 'checksum', 'rff', 'relu', 'badnets', 'persistent')
>>> schemes.get("checksum").name
'checksum'
"""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..resolve import load_object

if TYPE_CHECKING:
    from .base import Key, Scheme

REGISTRY: dict[str, str] = {
    "signature": "undetectable.schemes.signature:SignatureScheme",
    "checksum": "undetectable.schemes.checksum:ChecksumScheme",
    "rff": "undetectable.schemes.rff:RFFScheme",
    "relu": "undetectable.schemes.relu:ReLUScheme",
    "badnets": "undetectable.schemes.badnets:BadNetsScheme",
    "persistent": "undetectable.schemes.persistent:PersistentScheme",
}
SUBMODULES = ("base", "wrapper", *REGISTRY)


def names() -> tuple[str, ...]:
    """The registered scheme names, in the paper's order."""
    return tuple(REGISTRY)


def get(name: str) -> type[Scheme]:
    """The ``Scheme`` class registered as ``name``; a one-line ``UsageError`` for an unknown name."""
    path = REGISTRY.get(name)
    if path is None:
        raise UsageError(f"unknown scheme {name!r}; choose from {', '.join(REGISTRY)}")
    cls: type[Scheme] = load_object(path)
    return cls


def create(name: str, **params: Any) -> Scheme:
    """``get(name)(**params)``: a scheme with validated parameters."""
    return get(name)(**params)


def load_key(path: str | os.PathLike, passphrase: str | None = None) -> Key:
    """Read any key file: the file records its scheme (a PEM private key is a signature key).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from undetectable.schemes.checksum import ChecksumKey
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = ChecksumKey.generate(__import__("numpy").random.default_rng(0)).save(d / "k")
    >>> type(load_key(d / "k")).__name__
    'ChecksumKey'
    """
    from pathlib import Path

    from ..keys import load_secret

    from ..safety import open_regular

    p = Path(path)
    head = b""
    if os.path.exists(p):  # a regular file within UNDETECTABLE_MAX_KEY_BYTES (never a FIFO or /dev/zero): its first bytes
        with os.fdopen(open_regular(p, "KEY_BYTES", f"key file {p}"), "rb") as fh:
            head = fh.read(32)
    if head.startswith(b"-----BEGIN PUBLIC"):
        raise UsageError(f"{p} is a public key; activation needs the private key (backdoor_key.pem, not backdoor_key.pub.pem)")
    if head.startswith(b"-----BEGIN"):
        return get("signature").KeyType.load(p, passphrase)
    scheme, arrays, meta = load_secret(p)
    if scheme not in REGISTRY:
        raise UsageError(f"key file {p} is a {scheme!r} key, which this undetectable does not know; upgrade it")
    return get(scheme).KeyType.from_arrays(arrays, meta)


def __getattr__(name: str) -> Any:  # ``schemes.rff`` etc. without importing every module up front
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
