"""Idempotency keys as Stripe and the IETF draft define them: replay, refuse reuse, guard."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from stand_ins.payments.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidRequest,
    PaymentsError,
)

MAX_KEY_CHARS = 255
# A crashed process never releases its lock; after latency plus this grace the key is free again.
LOCK_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key, scoped to one method and path: the same key may serve two endpoints."""

    scope: str
    value: str

    @classmethod
    def from_header(cls, scope: str, header: str | None) -> IdempotencyKey | None:
        if header is None:
            return None
        if not 1 <= len(header) <= MAX_KEY_CHARS:
            raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters")
        return cls(scope, header)


@dataclass(frozen=True)
class Reply:
    """An answer as the client sees it: what a key stores and replays."""

    status: int
    body: dict[str, object]

    @classmethod
    def of_error(cls, error: PaymentsError) -> Reply:
        return cls(error.status, error.as_body())

    @property
    def replayable(self) -> bool:
        """Server errors are not kept: the client is meant to retry them."""
        return self.status < 500


@dataclass(frozen=True)
class KeyRecord:
    fingerprint: str
    reply: Reply | None
    locked_until: float | None


def fingerprint(raw_body: bytes) -> str:
    """Hash of the body's canonical JSON, so key order and spacing do not count as a change."""
    try:
        canonical = json.dumps(
            json.loads(raw_body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, RecursionError):
        canonical = raw_body
    return hashlib.sha256(canonical).hexdigest()


def stored_reply(record: KeyRecord | None, body_fingerprint: str, now: float) -> Reply | None:
    """The reply to replay, or ``None`` when the caller may go ahead and claim the key."""
    if record is None:
        return None
    if record.fingerprint != body_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request body"
        )
    if record.locked_until is not None and record.locked_until > now:
        raise IdempotencyKeyInFlight(
            "a request with this Idempotency-Key is still being processed; retry later"
        )
    return record.reply
