"""What an operator watches between a commit and its side effects: how far behind the
relay is, and how many jobs wait or are parked on each queue it feeds.

Read when Prometheus scrapes (a custom collector): a few cheap queries per scrape, nothing
polled in between. Served by the relay process on `RELAY_METRICS_PORT` (the runner gives
it one; unset or 0, no listener). The workers themselves serve no HTTP: their queues'
depth, seen from here, is what says they keep up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from new_services.outbox_relay.lag import measure
from new_services.platform.outbox import outbox_events

log = logging.getLogger(__name__)


class Backlog(Collector):
    """Unpublished events and the age of the oldest; waiting, retrying and parked jobs."""

    def __init__(self, engine: Engine, queues: Mapping[str, Queue]) -> None:
        """`queues`: by their short name (`Relay.queue` makes them)."""
        self._engine = engine
        self._queues = queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._outbox()
        yield from self._jobs()
        yield from self._lag()

    def _lag(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "read_model_lag_seconds",
            "How old a write can be that this consumer has not taken in yet (lag.py).",
            labels=["consumer"],
        )
        try:
            for name, lag in measure(self._engine, self._queues).items():
                family.add_metric([name], lag.seconds)
        except (SQLAlchemyError, RedisError):
            log.warning("cannot measure the consumers' lag for metrics", exc_info=True)
            return
        yield family

    def _outbox(self) -> Iterator[GaugeMetricFamily]:
        pending = select(func.count(), func.min(outbox_events.c.created_at)).where(
            outbox_events.c.published_at.is_(None)
        )
        try:
            with self._engine.connect() as conn:
                count, oldest = conn.execute(pending).one()
        except SQLAlchemyError:
            log.warning("cannot read the outbox for metrics", exc_info=True)
            return
        if oldest is not None and oldest.tzinfo is None:  # SQLite keeps no offset
            oldest = oldest.replace(tzinfo=UTC)
        lag = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "outbox_unpublished_events", "Committed events not on their queues yet.", count
        )
        yield GaugeMetricFamily(
            "outbox_lag_seconds",
            "Age of the oldest unpublished event (0 when none): how far behind the relay is.",
            max(lag, 0.0),
        )

    def _jobs(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "rq_jobs_waiting", "Jobs queued for a worker.", labels=["queue"]
        )
        retrying = GaugeMetricFamily(
            "rq_jobs_retrying", "Jobs that failed and wait for their next try.", labels=["queue"]
        )
        parked = GaugeMetricFamily(
            "rq_jobs_failed",
            "Jobs that failed every try, parked for an operator (strangler jobs failed).",
            labels=["queue"],
        )
        try:
            for name, queue in self._queues.items():
                waiting.add_metric([name], queue.count)
                retrying.add_metric([name], queue.scheduled_job_registry.count)
                parked.add_metric([name], queue.failed_job_registry.count)
        except RedisError:
            log.warning("cannot read the queues for metrics", exc_info=True)
            return
        yield from (waiting, retrying, parked)


def registry(backlog: Backlog) -> tuple[CollectorRegistry, Counter]:
    """The relay's registry: the backlog, and a counter of events it published."""
    registry = CollectorRegistry()
    registry.register(backlog)
    published = Counter(
        "outbox_published_events", "Events this relay put on their queues.", registry=registry
    )
    return registry, published
