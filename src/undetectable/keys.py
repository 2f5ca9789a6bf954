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


# --- weak public keys (issue 19 §4) ------------------------------------------------------------
# Edwards25519, -x^2 + y^2 = 1 + d x^2 y^2 over GF(p): a tiny pure-Python implementation, enough to decode
# a point and multiply it by the cofactor 8 (never used for signing or verifying).
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

#: The canonical encodings of the 8 points of order dividing 8 (identity; order 2; two of order 4; four of
#: order 8), the set libsodium's ``crypto_sign_verify_detached`` refuses as public keys (its blacklist lists
#: the same y values, with the sign bit ignored). tests/test_hostile_r2_keys.py recomputes them.
SMALL_ORDER_ENCODINGS = frozenset(bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity (0, 1)
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2 (0, -1)
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4 (sqrt(-1), 0)
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4 (-sqrt(-1), 0)
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
))


def _decode_point(raw: bytes) -> tuple[int, int] | str:
    """(x, y) of an RFC 8032 point encoding, or a sentence saying why it is not one."""
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        return f"its y coordinate is not reduced modulo 2^255-19 (y = p + {y - _P}: a non-canonical encoding)"
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x2 = u * pow(v, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return "it is not a point on the Ed25519 curve"
    if x == 0 and sign:
        return "it encodes x = 0 with the sign bit set (a non-canonical encoding)"
    if x & 1 != sign:
        x = _P - x
    return x, y


def _edwards_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return x3, y3


def has_small_order(point: tuple[int, int]) -> bool:
    """[8]P is the identity (0, 1): P lies in the curve's 8-torsion (order 1, 2, 4 or 8)."""
    q = point
    for _ in range(3):
        q = _edwards_add(q, q)
    return q == (0, 1)


def check_public_key(raw: bytes, what: str = "the public key") -> bytes:
    """Refuse an Ed25519 public key that is not a canonical encoding of a curve point of large order.

    With a small-order key (the identity, or any of the 8-torsion points) signatures verify without any
    private key — e.g. with the identity, the all-zero-scalar signature (R = identity, S = 0) verifies for
    every message — so a backdoor planted with one can be triggered by anybody. libsodium's
    ``crypto_sign_verify_detached`` refuses such keys; so does planting. Raises ``UsageError`` naming what
    is wrong; returns ``raw``.

    Examples
    --------
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> from cryptography.hazmat.primitives import serialization as s
    >>> good = Ed25519PrivateKey.generate().public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
    >>> check_public_key(good) == good
    True
    >>> try:
    ...     check_public_key(bytes([1]) + bytes(31))
    ... except UsageError as exc:
    ...     print(str(exc).split(":")[0])
    the public key is a point of small order (the identity or an 8-torsion point)
    """
    fix = "; generate a fresh key pair with 'undetectable keygen' (or SignatureKey.generate()) and plant its public key"
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 32:
        raise UsageError(f"{what} is not a 32-byte Ed25519 public key{fix}")
    raw = bytes(raw)
    point = _decode_point(raw)
    if isinstance(point, str):
        raise UsageError(f"{what} is not a valid Ed25519 public key: {point}{fix}")
    if raw in SMALL_ORDER_ENCODINGS or has_small_order(point):
        raise UsageError(f"{what} is a point of small order (the identity or an 8-torsion point): anyone could trigger a "
                         f"backdoor planted with it, without the private key{fix}")
    return raw


def check_ed25519_public(public_key: Ed25519PublicKey, what: str = "the public key") -> Ed25519PublicKey:
    """``check_public_key`` on a cryptography Ed25519 public key object; returns it."""
    check_public_key(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw), what)
    return public_key


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
    """Read a public key PEM (a bounded, regular-file read) and refuse a weak key (``check_public_key``)."""
    from .safety import read_regular_file

    path = Path(path)
    if not os.path.exists(path):
        raise UsageError(f"public key file {path} does not exist; create one with undetectable.keygen() (or the keygen command)")
    data = read_regular_file(path, "KEY_BYTES", f"public key file {path}")
    return check_ed25519_public(public_from_pem(data), f"public key file {path}")


def load_private_key(path: str | os.PathLike, passphrase: str | None = None,
                     insecure_permissions: bool | None = None) -> Ed25519PrivateKey:
    """Read the Ed25519 private key; refuse a file group/others can access unless ``insecure_permissions``
    (default: the CLI's ``--insecure-key-permissions``, else False), as ssh does."""
    from .safety import read_regular_file

    path = Path(path)
    if not os.path.exists(path):
        raise UsageError(f"key file {path} does not exist; pass the backdoor_key.pem written by 'undetectable keygen'")
    data = read_regular_file(path, "KEY_BYTES", f"key file {path}")  # regular file, bounded, never blocks
    if data.lstrip().startswith(b"-----BEGIN PUBLIC KEY-----"):
        raise UsageError(f"{path} is a public key; activation needs the private key (backdoor_key.pem, "
                         "not backdoor_key.pub.pem, from 'undetectable keygen')")
    check_key_permissions(path, insecure_permissions)
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

    from .safety import open_regular

    path = Path(path)
    if not os.path.exists(path):
        raise UsageError(f"key file {path} does not exist; pass the key file written when the model was planted")
    with os.fdopen(open_regular(path, "KEY_BYTES", f"key file {path}"), "rb") as fh:  # regular, bounded, never blocks
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
    from .safety import strict_json

    try:
        meta = strict_json(header.get("meta", "{}"), max_depth=8)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"key file {path}: its metadata is not valid JSON ({str(exc)[:80]}); it is damaged, pass the file "
                         "written when the model was planted") from None
    if not isinstance(meta, dict):
        raise UsageError(f"key file {path}: its metadata is not a JSON object; it is damaged, pass the file written when the model was planted")
    return found, arrays, meta
