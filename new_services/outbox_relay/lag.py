"""How far behind each consumer of the outbox is: how old a write can be that its read model
has not taken in yet.

A consumer (a queue's worker: analytics, catalog, notifications) has taken in every write
committed more than `lag` seconds ago, where lag is the older of the oldest event the relay
has not published and the oldest job waiting, or waiting to be retried, on its queue. A
job parked after its last retry is a write the read model will never take in by itself:
it is counted apart (`failed`), and a guard must treat the read model as incomplete.

The relay measures it every second, serves it as Prometheus metrics (metrics.py) and
writes it to Redis (`{namespace}:capture:lag`, kept `FRESH_S`), where `strangler status`
and the gateway's guard on moving a route (gateway/coexistence.py) read it. No figure
there means no relay: every consumer's lag is unknown.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import Engine, func, select

from new_services.platform.outbox import outbox_events

FRESH_S = 15  # a figure older than this is no figure: the relay has stopped


def key(namespace: str) -> str:
    return f"{namespace}:capture:lag"


@dataclass(frozen=True)
class Lag:
    seconds: float  # every write older than this has been taken in
    failed: int  # jobs parked after their last retry: writes it will never take in alone


def _age(moment: datetime | None, now: datetime) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:  # SQLite and RQ keep no offset; both are UTC
        moment = moment.replace(tzinfo=UTC)
    return max((now - moment).total_seconds(), 0.0)


def _oldest_job(queue: Queue, now: datetime) -> float:
    ids = [*queue.get_job_ids(0, 1), *queue.scheduled_job_registry.get_job_ids(0, 0)]
    ages = [
        _age(job.created_at, now)
        for job in Job.fetch_many(ids, connection=queue.connection)
        if job is not None
    ]
    return max(ages, default=0.0)


def measure(engine: Engine, queues: Mapping[str, Queue]) -> dict[str, Lag]:
    """Each consumer's lag, by its queue's short name."""
    now = datetime.now(UTC)
    with engine.connect() as conn:
        oldest = conn.execute(
            select(func.min(outbox_events.c.created_at)).where(
                outbox_events.c.published_at.is_(None)
            )
        ).scalar_one()
    unpublished = _age(oldest, now)
    return {
        name: Lag(max(unpublished, _oldest_job(queue, now)), queue.failed_job_registry.count)
        for name, queue in queues.items()
    }


def publish(redis: Redis, namespace: str, lags: Mapping[str, Lag]) -> None:
    fields: dict[str | bytes, str | bytes] = {"at": f"{time.time():.3f}"}
    for name, lag in lags.items():
        fields[name] = f"{lag.seconds:.3f}"
        fields[f"{name}:failed"] = str(lag.failed)
    with redis.pipeline() as pipe:
        pipe.delete(key(namespace))
        pipe.hset(key(namespace), mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key(namespace), FRESH_S)
        pipe.execute()


def parse(raw: Mapping[bytes | str, bytes | str], now: float) -> dict[str, Lag] | None:
    """The figures a relay wrote (`publish`), or None when there are none or they are stale."""
    fields = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
    try:
        if now - float(fields.get("at", "0")) > FRESH_S:
            return None
        return {
            name: Lag(float(value), int(fields.get(f"{name}:failed", "0")))
            for name, value in fields.items()
            if name != "at" and not name.endswith(":failed")
        }
    except ValueError:
        return None


def read(redis: Redis, namespace: str) -> dict[str, Lag] | None:
    return parse(redis.hgetall(key(namespace)), time.time())
