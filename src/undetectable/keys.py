"""Ed25519 backdoor keys (RFC 8032, via pyca/cryptography) and generic secret key files.

* ``backdoor_key.pem``: the private signing key (PKCS#8 PEM), mode 0600, optionally encrypted
  with a passphrase. It never enters a model bundle.
* ``backdoor_key.pub.pem``: the public verification key (SubjectPublicKeyInfo PEM).
* The key id is the first 16 bytes of SHA-256 over the raw 32-byte public key (hex).

Secret keys of the other schemes (checksum, rff, relu, badnets) are ``.safetensors`` files
with a JSON ``metadata`` header naming the scheme and the bundle they belong to; also 0600.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ParameterError, UsageError
from .fileio import atomic_file, check_writable
from .safety import check_key_permissions, check_safetensors

PRIVATE_NAME = "backdoor_key.pem"
PUBLIC_NAME = "backdoor_key.pub.pem"
SECRET_MODE = 0o600


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_from_pem(text: str | bytes) -> Ed25519PublicKey:
    data = text.encode() if isinstance(text, str) else text
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UsageError(f"not a PEM public key ({exc}); pass the backdoor_key.pub.pem written by 'undetectable keygen'") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"public key is {type(key).__name__}, not Ed25519; generate one with 'undetectable keygen'")
    return key


def generate_keys(out_dir: str | os.PathLike, passphrase: str | None = None, force: bool = False) -> tuple[Path, Path]:
    """Write a fresh Ed25519 key pair into ``out_dir``; the private file is 0600."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory; pass a directory for the key files")
    out.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    check_writable(priv_path, force, "key"), check_writable(pub_path, force, "key")
    sk = Ed25519PrivateKey.generate()
    enc = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    pem = sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    with atomic_file(priv_path, force, mode=SECRET_MODE, kind="key") as tmp:
        tmp.write_bytes(pem)
    with atomic_file(pub_path, force, kind="key") as tmp:
        tmp.write_text(public_pem(sk.public_key()))
    return priv_path, pub_path


def load_public_key(path: str | os.PathLike) -> Ed25519PublicKey:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"public key file {path} does not exist; create one with undetectable.keygen() (or the keygen command)")
    return public_from_pem(path.read_bytes())


def load_private_key(path: str | os.PathLike, passphrase: str | None = None,
                     insecure_permissions: bool | None = None) -> Ed25519PrivateKey:
    """Read the Ed25519 private key; refuse a file group/others can access unless ``insecure_permissions``
    (default: the CLI's ``--insecure-key-permissions``, else False), as ssh does."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"key file {path} does not exist; pass the backdoor_key.pem written by 'undetectable keygen'")
    size = path.stat().st_size
    if size > 1 << 20:
        raise UsageError(f"key file {path} is {size:,} bytes, not a key; pass the backdoor_key.pem from 'undetectable keygen'")
    with open(path, "rb") as fh:
        if fh.read(64).lstrip().startswith(b"-----BEGIN PUBLIC KEY-----"):
            raise UsageError(f"{path} is a public key; activation needs the private key (backdoor_key.pem, "
                             "not backdoor_key.pub.pem, from 'undetectable keygen')")
    check_key_permissions(path, insecure_permissions)
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=passphrase.encode() if passphrase else None)
    except TypeError:
        if passphrase:
            raise ParameterError("passphrase", f"key file {path} is not encrypted; drop the passphrase") from None
        raise ParameterError("passphrase", f"key file {path} is encrypted; pass its passphrase") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if b"ENCRYPTED" in data and passphrase:
            raise UsageError(f"cannot decrypt key file {path}: wrong passphrase") from None
        raise UsageError(f"{path} is not an Ed25519 private key PEM ({msg}); pass the backdoor_key.pem from 'undetectable keygen'") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"key file {path} holds a {type(key).__name__}, not Ed25519; generate one with 'undetectable keygen'")
    return key


def passphrase_from_env(var: str | None) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise UsageError(f"environment variable {var} is unset or empty; export the passphrase in it")
    return value


# --- secret key files of the other schemes -----------------------------------------------------

def save_secret(path: str | os.PathLike, scheme: str, arrays: dict[str, np.ndarray], meta: dict, force: bool = False) -> Path:
    """Write a scheme's secret key as safetensors (mode 0600), atomically."""
    from safetensors.numpy import save_file

    path = Path(path)
    header = {"undetectable_key": scheme, "meta": json.dumps(meta, sort_keys=True)}
    with atomic_file(path, force, mode=SECRET_MODE, kind="key") as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp), metadata=header)
    return path


def load_secret(path: str | os.PathLike, scheme: str | None = None,
                insecure_permissions: bool | None = None) -> tuple[str, dict[str, np.ndarray], dict]:
    """Read a secret key file; returns (scheme, arrays, meta). Refuses a key of another scheme, and a file
    group/others can access unless ``insecure_permissions`` (default: the CLI flag, else False)."""
    from safetensors import safe_open

    from .errors import UndetectableError

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"key file {path} does not exist; pass the key file written when the model was planted")
    with open(path, "rb") as fh:
        pem = fh.read(10).startswith(b"-----BEGIN")
    if pem:
        raise UsageError(f"{path} is a PEM key; this bundle needs the key file written when it was planted")
    check_key_permissions(path, insecure_permissions)
    try:
        check_safetensors(path, f"key file {path}")
    except UndetectableError as exc:
        raise UsageError(str(exc)) from None
    try:
        with safe_open(str(path), framework="numpy") as fh:
            header = fh.metadata() or {}
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types (a PEM key was refused above)
        raise UsageError(f"key file {path} is not a readable key ({type(exc).__name__}); pass the key file written when the model was planted") from None
    found = header.get("undetectable_key")
    if found is None:
        raise UsageError(f"{path} is not an undetectable key file; pass the key file written when the model was planted")
    if scheme is not None and found != scheme:
        raise UsageError(f"key file {path} is a {found} key, this bundle needs a {scheme} key; pass the matching key file")
    return found, arrays, json.loads(header.get("meta", "{}"))
