"""Sticky canary assignment: a key hashes, with a per-route salt, into one of 10,000 buckets."""

from __future__ import annotations

import hashlib

BUCKETS = 10_000


def bucket(salt: str, key: str) -> int:
    """The key's bucket for this salt: stable across processes, restarts and machines."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def threshold(weight: float) -> int:
    """Buckets below this go to the extracted upstream; weight is a percentage 0..100."""
    if not 0.0 <= weight <= 100.0:
        raise ValueError(f"weight must be between 0 and 100, got {weight}")
    return round(weight * BUCKETS / 100)


def to_extracted(salt: str, key: str, weight: float) -> bool:
    """Whether this key goes to the extracted upstream.

    A key's bucket never changes, and the threshold only grows with the weight, so raising
    the weight never moves a key back to legacy, and lowering it only moves keys back.
    """
    return bucket(salt, key) < threshold(weight)
