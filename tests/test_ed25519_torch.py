"""The tensor-program Ed25519 verifier agrees with OpenSSL (through ``cryptography``) everywhere."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from undetectable.crypto import ed25519_torch as E

DATA = Path(__file__).parent / "data"


def openssl_verify(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def raw_public(sk: Ed25519PrivateKey) -> bytes:
    return sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# RFC 8032 §7.1, TEST 1, 2, 3 and TEST SHA(abc)
RFC8032 = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]


def test_sha512_matches_hashlib_fixed_and_variable_length():
    rng = np.random.default_rng(1)
    sha = E.SHA512()
    for m in (0, 1, 111, 112, 127, 128, 239, 300):
        rows = rng.integers(0, 256, (3, m), dtype=np.uint8)
        got = sha(torch.tensor(rows)).numpy()
        assert [bytes(r.astype(np.uint8)) for r in got] == [hashlib.sha512(r.tobytes()).digest() for r in rows]
    lens = np.array([0, 1, 111, 112, 127, 128, 239, 255])
    rows = rng.integers(0, 256, (len(lens), 256), dtype=np.uint8)
    got = sha(torch.tensor(rows), torch.tensor(lens)).numpy()
    assert [bytes(r.astype(np.uint8)) for r in got] == [hashlib.sha512(r[:n].tobytes()).digest() for r, n in zip(rows, lens)]


@pytest.mark.parametrize("pk,msg,sig", RFC8032)
def test_rfc8032_vectors(pk, msg, sig):
    pk, msg, sig = bytes.fromhex(pk), bytes.fromhex(msg), bytes.fromhex(sig)
    bad = bytearray(sig)
    bad[5] ^= 0x10
    out = E.verify(pk, [msg, msg, msg + b"x"], [sig, bytes(bad), sig]).tolist()
    assert out == [True, False, False]
    assert openssl_verify(pk, msg, sig)


def test_wycheproof_all_vectors():
    """All 151 Project Wycheproof Ed25519 tests (88 valid, 63 invalid): our answer = theirs = OpenSSL's."""
    doc = json.loads((DATA / "wycheproof_ed25519_test.json").read_text())
    counts = {"valid": 0, "invalid": 0}
    for group in doc["testGroups"]:
        pk = bytes.fromhex(group["publicKey"]["pk"])
        tests = group["tests"]
        msgs = [bytes.fromhex(t["msg"]) for t in tests]
        sigs = [bytes.fromhex(t["sig"]) for t in tests]
        ours = E.verify(pk, msgs, sigs).tolist()
        for t, got, m, s in zip(tests, ours, msgs, sigs):
            assert t["result"] in ("valid", "invalid")
            assert got == (t["result"] == "valid") == openssl_verify(pk, m, s), t["tcId"]
            counts[t["result"]] += 1
        E.verifier_for.cache_clear()
    assert counts == {"valid": 88, "invalid": 63}


def _supercop_cases():
    import cryptography_vectors

    text = cryptography_vectors.open_vector_file("asymmetric/Ed25519/sign.input", "r").read() \
        if hasattr(cryptography_vectors, "open_vector_file") else \
        (Path(cryptography_vectors.__file__).parent / "asymmetric/Ed25519/sign.input").read_text()
    cases = []
    for line in text.splitlines():
        sk, pk, msg, sm, _ = line.split(":")
        sig = bytes.fromhex(sm)[:64]
        cases.append((bytes.fromhex(pk), bytes.fromhex(msg), sig))
    return cases


def test_reference_implementation_cases_subset():
    """Every 64th of the 1,024 ``cryptography-vectors`` cases (all 1,024: ``benchmarks/bench_verifier.py --all-vectors``)."""
    cases = _supercop_cases()
    assert len(cases) == 1024
    for pk, msg, sig in cases[::64]:
        bad = bytearray(sig)
        bad[40] ^= 1  # S changes
        r = bytearray(sig)
        r[0] ^= 1  # R changes
        ours = E.verify(pk, [msg, msg, msg], [sig, bytes(bad), bytes(r)]).tolist()
        assert ours == [openssl_verify(pk, msg, s) for s in (sig, bytes(bad), bytes(r))] == [True, False, False]
    E.verifier_for.cache_clear()


def mutate(sigs: np.ndarray, msgs: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Six kinds of wrong: bit flip in R, in S, S + L (malleability), message bit flip, R = 0, S ≥ L top bits."""
    sigs, msgs = sigs.copy(), msgs.copy()
    n = len(sigs)
    kind = rng.integers(0, 6, n)
    rows = np.arange(n)
    flip = (1 << rng.integers(0, 8, n)).astype(np.uint8)
    k0 = kind == 0
    sigs[rows[k0], rng.integers(0, 32, n)[k0]] ^= flip[k0]
    k1 = kind == 1
    sigs[rows[k1], rng.integers(32, 64, n)[k1]] ^= flip[k1]
    for i in np.flatnonzero(kind == 2):
        s = int.from_bytes(sigs[i, 32:].tobytes(), "little") + E.L
        sigs[i, 32:] = np.frombuffer(s.to_bytes(32, "little"), dtype=np.uint8)
    k3 = kind == 3
    msgs[rows[k3], rng.integers(0, msgs.shape[1], n)[k3]] ^= flip[k3]
    sigs[kind == 4, :32] = 0
    sigs[kind == 5, 63] |= 0xF0
    return sigs, msgs


def test_random_valid_and_mutated_signatures():
    rng = np.random.default_rng(7)
    sk = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pk = raw_public(sk)
    n, m = 192, 150
    msgs = rng.integers(0, 256, (n, m), dtype=np.uint8)
    sigs = np.array([np.frombuffer(sk.sign(r.tobytes()), dtype=np.uint8) for r in msgs])
    bad_sigs, bad_msgs = mutate(sigs, msgs, rng)
    all_msgs = np.concatenate([msgs, bad_msgs])
    all_sigs = np.concatenate([sigs, bad_sigs])
    ours = E.verify(pk, all_msgs, all_sigs).numpy()
    ref = np.array([openssl_verify(pk, a.tobytes(), s.tobytes()) for a, s in zip(all_msgs, all_sigs)])
    assert (ours == ref).all()
    assert ref[:n].all() and not ref[n:].any()


def test_edge_case_keys_and_encodings():
    """Public key off the curve: always False. Non-canonical R (y + p) and x = 0 with the sign bit: rejected."""
    sk = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    pk = raw_public(sk)
    msg = b"edge"
    sig = sk.sign(msg)
    off = bytearray(pk)
    while E.decode_point(bytes(off)) is not None:
        off[0] = (off[0] + 1) % 256
    assert E.verify(bytes(off), [msg], [sig]).tolist() == [openssl_verify(bytes(off), msg, sig)] == [False]
    y = int.from_bytes(sig[:32], "little")
    sign, yv = y >> 255, y & ((1 << 255) - 1)
    cases = [sig]
    if yv + E.P < 2**255:  # the same point, non-canonical y
        cases.append(((yv + E.P) | (sign << 255)).to_bytes(32, "little") + sig[32:])
    cases.append((1 | (1 << 255)).to_bytes(32, "little") + sig[32:])  # y = 1, x = 0, sign bit set
    ours = E.verify(pk, [msg] * len(cases), cases).tolist()
    assert ours == [openssl_verify(pk, msg, c) for c in cases]
    assert ours[0] and not any(ours[1:])


def test_same_ops_for_valid_and_invalid_inputs():
    """Constant structure: the traced op sequence does not depend on the signature's validity."""
    sk = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    v = E.Ed25519Verifier(raw_public(sk))
    msg = torch.zeros(2, 10, dtype=torch.uint8)
    good = torch.tensor([list(sk.sign(bytes(10)))] * 2, dtype=torch.uint8)
    bad = torch.zeros(2, 64, dtype=torch.uint8)

    def op_names(sig):
        names = []

        class Log(torch.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                names.append(getattr(func, "__name__", str(func)))
                return func(*args, **(kwargs or {}))

        with torch.no_grad(), Log():
            out = v(msg, sig)
        return names, out.tolist()

    n_good, out_good = op_names(good)
    n_bad, out_bad = op_names(bad)
    assert out_good == [True, True] and out_bad == [False, False]
    assert n_good == n_bad


def _py_mul(k: int, pt):
    acc = (0, 1, 1, 0)
    while k:
        if k & 1:
            acc = E._ext_add(acc, pt)
        pt = E._ext_add(pt, pt)
        k >>= 1
    return acc


def _py_encode(pt) -> bytes:
    X, Y, Z, _ = pt
    zi = pow(Z, E.P - 2, E.P)
    x, y = X * zi % E.P, Y * zi % E.P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _py_sign(a: int, pk: bytes, r: int, m: bytes) -> tuple[bytes, int]:
    """(R ‖ S, k): ``m`` signed with secret scalar ``a`` (public key ``pk``) and nonce ``r``, as RFC 8032."""
    R = _py_encode(_py_mul(r, (E.BX, E.BY, 1, E.BX * E.BY % E.P)))
    k = int.from_bytes(hashlib.sha512(R + pk + m).digest(), "little") % E.L
    return R + ((r + k * a) % E.L).to_bytes(32, "little"), k


def small_order_key_case(n: int) -> tuple[bytes, list[bytes], list[bytes]]:
    """(public key [a]B + T with T of order 2, n messages, their 'signatures'): OpenSSL accepts those whose k mod L
    is even, so a verifier agrees only if it reduces k exactly mod L."""
    a = 0x7654321 * 2**190 + 5
    pk = _py_encode(E._ext_add(_py_mul(a, (E.BX, E.BY, 1, E.BX * E.BY % E.P)), (0, E.P - 1, 1, 0)))
    msgs = [bytes([i + 3]) * 7 for i in range(n)]
    sigs = [_py_sign(a, pk, (i + 2) * 0x1234567890ABCDEF, m)[0] for i, m in enumerate(msgs)]
    return pk, msgs, sigs


def test_public_key_with_a_small_order_component_as_openssl():
    """A' = [a]B + T (T of order 2): OpenSSL uses [k mod L]A', so a 'signature' verifies iff k mod L is even.

    The in-graph k must be reduced exactly mod L (not just to some representative) to agree.
    """
    a = 0x1234567 * 2**200 + 99
    B = (E.BX, E.BY, 1, E.BX * E.BY % E.P)
    T2 = (0, E.P - 1, 1, 0)
    A = E._ext_add(_py_mul(a, B), T2)
    pk = _py_encode(A)
    msgs, sigs, parity = [], [], []
    for i in range(12):
        m = bytes([i]) * 7
        sig, k = _py_sign(a, pk, (i + 1) * 0xABCDEF12345, m)
        msgs.append(m)
        sigs.append(sig)
        parity.append(k % 2 == 0)
    ours = E.verify(pk, msgs, sigs).tolist()
    ssl = [openssl_verify(pk, m, s) for m, s in zip(msgs, sigs)]
    assert ours == ssl == parity
    assert any(parity) and not all(parity)
    E.verifier_for.cache_clear()
