"""The relay's metrics on a real database and Redis: how far behind it is, and the jobs
waiting, retrying and parked on each queue it feeds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from redis import Redis
from sqlalchemy import Engine

from migrations import history
from new_services.outbox_relay.lag import measure, publish, read
from new_services.outbox_relay.metrics import Backlog, registry
from new_services.outbox_relay.routes import QUEUES, ROUTES
from new_services.platform import outbox
from new_services.platform.outbox import Relay
from tests.integration.migrating import engine_at


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
        yield engine


def value(metrics: CollectorRegistry, name: str, **labels: str) -> float | None:
    return metrics.get_sample_value(name, labels)


def test_the_metrics_show_the_relay_behind_then_caught_up_and_every_queues_jobs(
    engine: Engine, redis_url: str
) -> None:
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with engine.begin() as conn:
        for n in range(3):
            payload = {"order_uuid": str(uuid.uuid4()), "n": n}
            created = an_hour_ago if n == 0 else datetime.now(UTC)
            event = outbox.Event("order.placed", payload["order_uuid"], payload, created_at=created)
            outbox.append(conn, event)
    with Redis.from_url(redis_url) as redis:
        relay = Relay(engine, redis, ROUTES, namespace=namespace)
        queues = {name: relay.queue(name) for name in QUEUES}
        metrics, _ = registry(Backlog(engine, queues))
        try:
            assert value(metrics, "outbox_unpublished_events") == 3
            lag = value(metrics, "outbox_lag_seconds")
            assert lag is not None and 3590 < lag < 3700  # the oldest waits since an hour ago
            # nothing published: every read model misses that hour
            behind = value(metrics, "read_model_lag_seconds", consumer="analytics")
            assert behind is not None and 3590 < behind < 3700

            assert relay.publish_pending() == 3
            assert value(metrics, "outbox_unpublished_events") == 0
            assert value(metrics, "outbox_lag_seconds") == 0
            for queue in ("catalog", "notifications", "analytics"):
                assert value(metrics, "rq_jobs_waiting", queue=queue) == 3
                assert value(metrics, "rq_jobs_failed", queue=queue) == 0
            notifications = queues["notifications"]
            parked = notifications.get_jobs()[0]  # as RQ parks a job that failed every try
            notifications.remove(parked)
            notifications.failed_job_registry.add(parked, ttl=60)
            assert value(metrics, "rq_jobs_waiting", queue="notifications") == 2
            assert value(metrics, "rq_jobs_failed", queue="notifications") == 1
            # each read model is as far behind as the oldest job waiting on its queue
            for queue in ("catalog", "analytics"):
                behind = value(metrics, "read_model_lag_seconds", consumer=queue)
                assert behind is not None and behind < 60, (queue, behind)
            lags = measure(engine, queues)
            assert lags["notifications"].failed == 1 and lags["analytics"].failed == 0
            publish(redis, namespace, lags)
            shown = read(redis, namespace)  # what status and the gateway's guard read
            assert shown is not None and set(shown) == set(lags)
            for name, lag in lags.items():
                assert shown[name].failed == lag.failed
                assert shown[name].seconds == pytest.approx(lag.seconds, abs=0.001)
        finally:
            for q in queues.values():
                q.empty()
                for job_id in q.failed_job_registry.get_job_ids():
                    q.failed_job_registry.remove(job_id, delete_job=True)
