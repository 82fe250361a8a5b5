"""Idempotency-Key on POST, as the IETF draft (draft-ietf-httpapi-idempotency-key-header) has it.

- The first request with a key claims it and runs; its answer is stored with the key.
- A retry with the same key and the same body gets the stored answer, not a second run.
- The same key with another body: 422. A retry while the first is still running: 409.
- An answer that did nothing is not stored: 5xx, 400 and 413 release the key, so the
  client's retry (or corrected request) runs again.
- A claim whose process died is taken over once its lease has run out. Each claim has a
  token, and only its holder can answer for the key; a handler that runs longer than the
  lease is cut off (503) before anyone else may take the key over.

Records live in `idempotency_records` (migrations/versions/0004), so every instance of a
service sees the same keys.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from new_services.platform.database import json_document
from new_services.platform.http import canonical_hash, read_body
from new_services.platform.problems import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidRequest,
    Problem,
    problem_response,
)

log = logging.getLogger(__name__)

MAX_KEY_CHARS = 255
REPLAYED_HEADER = "Idempotent-Replayed"

records = Table(  # as 0004_expand_service_tables created it
    "idempotency_records",
    MetaData(),
    Column("scope", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("claim_token", String(36)),
    Column("response_status", Integer),
    Column("response_headers", json_document()),
    Column("response_body", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def to_response(self, replayed: bool = False) -> Response:
        headers = {**self.headers, **({REPLAYED_HEADER: "true"} if replayed else {})}
        return Response(self.body, status_code=self.status, headers=headers)


def _now() -> datetime:
    return datetime.now(UTC)


Claim = str  # the token of one claim on a key


class IdempotencyStore:
    """Claims, answers and releases keys in the database (blocking: call from a thread)."""

    def __init__(self, engine: Engine, lease_s: float = 60.0, keep_s: float = 24 * 3600):
        self._engine = engine
        self.lease_s = lease_s
        self._lease = timedelta(seconds=lease_s)
        self._keep = timedelta(seconds=keep_s)

    def claim(self, scope: str, key: str, request_hash: str) -> Claim | StoredResponse:
        """A Claim: the caller now owns the key and must `complete` or `release` it.
        A StoredResponse: replay it. Raises IdempotencyKeyReused / IdempotencyKeyInUse."""
        now, token = _now(), str(uuid.uuid4())
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(records).values(
                        scope=scope,
                        key=key,
                        request_hash=request_hash,
                        state="in_flight",
                        claim_token=token,
                        created_at=now,
                        expires_at=now + self._lease,
                    )
                )
            return token
        except IntegrityError:
            pass  # the key is known: decide from its record
        where = and_(records.c.scope == scope, records.c.key == key)
        with self._engine.begin() as conn:
            row = conn.execute(select(records).where(where)).first()
            if row is None:  # released between our insert and this read: try again
                return self.claim(scope, key, request_hash)
            if row.request_hash != request_hash:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was already used with a different request body"
                )
            if row.state == "completed":
                return StoredResponse(
                    row.response_status, dict(row.response_headers or {}), row.response_body
                )
            taken = conn.execute(  # an abandoned claim: take it over once its lease ran out
                update(records)
                .where(where, records.c.state == "in_flight", records.c.expires_at < now)
                .values(claim_token=token, expires_at=now + self._lease)
            ).rowcount
        if taken:
            return token
        raise IdempotencyKeyInUse(
            "a request with this Idempotency-Key is still being processed; retry later"
        )

    def complete(self, scope: str, key: str, claim: Claim, response: StoredResponse) -> bool:
        """Store the answer, if `claim` still holds the key (False: someone took it over)."""
        with self._engine.begin() as conn:
            return bool(
                conn.execute(
                    update(records)
                    .where(*self._held(scope, key, claim))
                    .values(
                        state="completed",
                        response_status=response.status,
                        response_headers=response.headers,
                        response_body=response.body,
                        expires_at=_now() + self._keep,
                    )
                ).rowcount
            )

    def purge_expired(self, batch: int = 1000) -> int:
        """Drop the records whose time is up: answers kept past `keep_s`, and claims whose
        lease ran out (their key is then free, as after a takeover: a late answer from the
        old holder is dropped). In batches, so no statement holds many locks; several
        instances may run it at once. Returns how many went."""
        gone = 0
        while True:
            with self._engine.begin() as conn:
                expired = conn.execute(
                    select(records.c.scope, records.c.key)
                    .where(records.c.expires_at < _now())
                    .limit(batch)
                ).all()
                if expired:
                    names = tuple_(records.c.scope, records.c.key)
                    conn.execute(delete(records).where(names.in_([tuple(r) for r in expired])))
            gone += len(expired)
            if len(expired) < batch:
                return gone

    async def purged(self) -> int:
        """`purge_expired` off the event loop (for `platform.periodic`)."""
        return await anyio.to_thread.run_sync(self.purge_expired)

    def release(self, scope: str, key: str, claim: Claim) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(records).where(*self._held(scope, key, claim)))

    @staticmethod
    def _held(scope: str, key: str, claim: Claim) -> tuple[Any, ...]:
        return (
            records.c.scope == scope,
            records.c.key == key,
            records.c.state == "in_flight",
            records.c.claim_token == claim,
        )


Handler = Callable[[bytes], Awaitable[Response]]
KEPT_HEADERS = ("content-type", "location", "etag")
# 400, 413: nothing happened, so a corrected retry must be able to run; 202: under way, not
# done, so a retry must run to learn how it ended (and to finish it)
NOT_KEPT = frozenset({202, 400, 413})


async def idempotent(
    request: Request,
    store: IdempotencyStore,
    handler: Handler,
    *,
    scope: str,
    dry_run: bool = False,
) -> Response:
    """Run `handler(body)` at most once per Idempotency-Key (required) and `scope` (the
    route with its parameters normalised, e.g. "POST /v2/payments/<uuid>/refunds")."""
    key = request.headers.get("idempotency-key")
    if key is None:
        raise InvalidRequest("this endpoint needs an Idempotency-Key header")
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters")
    body = await read_body(request)
    if dry_run:  # a dry run claims nothing: it must leave no trace, not even a key
        return await handler(body)
    claim = await run_in_threadpool(store.claim, scope, key, canonical_hash(body))
    if isinstance(claim, StoredResponse):
        return claim.to_response(replayed=True)
    try:
        try:
            with anyio.fail_after(store.lease_s * 0.8):  # answer before the lease runs out
                response = await handler(body)
        except TimeoutError:
            response = problem_response(
                RequestTimedOut("this took too long; retry with the same Idempotency-Key")
            )
        except Problem as problem:
            response = problem_response(problem)
            if not problem.lasting:
                await run_in_threadpool(store.release, scope, key, claim)
                return response
    except BaseException:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(store.release, scope, key, claim)
        raise
    if response.status_code >= 500 or response.status_code in NOT_KEPT:
        await run_in_threadpool(store.release, scope, key, claim)
        return response
    kept = {k: v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS}
    stored = StoredResponse(response.status_code, kept, bytes(response.body))
    if not await run_in_threadpool(store.complete, scope, key, claim, stored):
        log.warning("answer to %s %s not stored: another request took the key over", scope, key)
    return response


class RequestTimedOut(Problem):
    status, slug, title = 503, "request-timed-out", "The request took too long"
