"""Client-verifiable random coins: the documented, versioned derivation of every random feature.

Procedure (version 1). For a user seed S (a non-negative integer) and a purpose string P
(e.g. ``"rff/weights"``, ``"rff/offsets"``, ``"relu/weights"``):

    digest = SHA-256( b"undetectable/coins/v1\\x00" ‖ P (utf-8) ‖ b"\\x00" ‖ S as 16-byte little-endian )
    generator = numpy.random.Generator(numpy.random.PCG64(numpy.random.SeedSequence(int(digest))))

Honest training draws its random features from these generators only, in a fixed order, so anyone
holding S can recompute them (``verify-coins``). A planted model replaces some coins by secretly
sampled ones (Gaussian pancakes, a spiked covariance) and therefore fails that check.
"""
from __future__ import annotations

import hashlib

import numpy as np

COINS_VERSION = 1
_DOMAIN = b"undetectable/coins/v1\x00"


def coin_rng(seed: int, purpose: str) -> np.random.Generator:
    """The generator for ``purpose`` derived from ``seed`` (procedure version 1, above)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0 or seed >= 2**128:
        raise ValueError(f"seed must be an integer in [0, 2^128); got {seed!r}")
    digest = hashlib.sha256(_DOMAIN + purpose.encode() + b"\x00" + int(seed).to_bytes(16, "little")).digest()
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int.from_bytes(digest, "little"))))


def seed_of(random_state) -> int:
    """A learner's ``random_state`` as a coins seed: a non-negative int as is; None draws a fresh one."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy) % (2**63)  # type: ignore[arg-type]
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and random_state >= 0:
        return int(random_state)
    raise ValueError(f"random_state must be a non-negative int (the coins seed) or None; got {random_state!r}")
