"""The transactional outbox: events committed with the change that caused them, then relayed.

A service appends an event in the same database transaction as its change, so there is
never a change without its event nor an event without its change (the legacy shop sends
its e-mail by hand and forgets it when SMTP fails). The relay then moves committed,
unpublished events onto RQ queues and stamps them published. If it dies between the two,
it enqueues the same events again; each job's id is derived from the event, and the
handlers are idempotent, so nothing happens twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    insert,
    select,
    update,
)

from new_services.platform import tracing
from new_services.platform.database import json_document

log = logging.getLogger(__name__)

outbox_events = Table(  # as 0004_expand_service_tables created it
    "outbox_events",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("topic", String(100), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("payload", json_document(), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
)


@dataclass(frozen=True)
class Event:
    """Something that happened, named in the past tense: `order.placed`."""

    topic: str
    aggregate_id: str
    payload: Mapping[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_message(self) -> dict[str, Any]:
        """What a handler receives: plain JSON-able data, no class of ours."""
        return {
            "id": str(self.id),
            "topic": self.topic,
            "aggregate_id": self.aggregate_id,
            "payload": dict(self.payload),
            "created_at": self.created_at.isoformat(),
        }


# The trace context rides in the stored payload under this key (the table has no headers
# column yet); the relay takes it out and hands it on as the message's `trace`.
TRACE_KEY = "_trace"


def append(conn: Connection, event: Event) -> None:
    """Record `event` inside the caller's transaction: it commits or rolls back with it."""
    context = tracing.carrier()
    conn.execute(
        insert(outbox_events).values(
            id=event.id,
            topic=event.topic,
            aggregate_id=event.aggregate_id,
            payload={**event.payload, **({TRACE_KEY: context} if context else {})},
            created_at=event.created_at,
            attempts=0,
        )
    )


@dataclass(frozen=True)
class Destination:
    """A queue, and the handler (an import path, so the producer imports nothing of the
    consumer's) that RQ calls there with the event's message."""

    queue: str
    handler: str


RETRY = Retry(max=3, interval=[1, 5, 30])  # then the job is parked in RQ's failed registry


class Relay:
    def __init__(
        self,
        engine: Engine,
        redis: Redis,
        routes: Mapping[str, Sequence[Destination]],
        namespace: str = "strangler",
        retry: Retry = RETRY,
    ) -> None:
        self._engine = engine
        self._redis = redis
        self._routes = routes
        self._namespace = namespace
        self._retry = retry

    def queue(self, name: str) -> Queue:
        return Queue(f"{self._namespace}-{name}", connection=self._redis)

    def publish_pending(self, batch: int = 100) -> int:
        """Enqueue up to `batch` committed events, oldest first; how many were published."""
        pending = select(outbox_events).where(outbox_events.c.published_at.is_(None))
        pending = pending.order_by(outbox_events.c.created_at).limit(batch)
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # several relays share the work
                pending = pending.with_for_update(skip_locked=True)
            rows = conn.execute(pending).all()
            for row in rows:
                payload = dict(row.payload)
                context = payload.pop(TRACE_KEY, None)
                event = Event(row.topic, row.aggregate_id, payload, row.id, row.created_at)
                with tracing.continued(f"publish {row.topic}", context, SpanKind.PRODUCER):
                    message = {**event.as_message(), "trace": tracing.carrier()}
                    for destination in self._routes.get(row.topic, ()):
                        self._enqueue(destination, message)
            if rows:
                conn.execute(
                    update(outbox_events)
                    .where(outbox_events.c.id.in_([row.id for row in rows]))
                    .values(published_at=datetime.now(UTC), attempts=outbox_events.c.attempts + 1)
                )
        return len(rows)

    def _enqueue(self, destination: Destination, message: dict[str, Any]) -> None:
        job_id = f"{uuid.UUID(message['id']).hex}-{destination.queue}"
        try:
            self.queue(destination.queue).enqueue_call(
                destination.handler,
                args=(message,),
                job_id=job_id,
                unique=True,
                retry=self._retry,
                failure_ttl=30 * 24 * 3600,  # parked jobs stay for an operator to see
            )
        except DuplicateJobError:
            log.info("event %s already on %s", message["id"], destination.queue)
