"""RQ jobs: one per order event topic, on the `{namespace}-analytics` queue.

The outbox relay enqueues them by import path (`new_services.analytics.jobs.on_order_placed`,
`...on_order_cancelled`) with the event's message as the only argument. Applying an event
twice changes nothing the second time (`projection.py`), so a retry or a second delivery
is safe. A job that raises (Redis down, a message it cannot read) is retried with backoff
(platform/outbox.py RETRY), then parked in RQ's failed registry (`strangler jobs failed`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redis import Redis

from new_services.analytics.events import OrderCancelled, OrderEvent, OrderPlaced
from new_services.analytics.projection import RedisSalesProjection
from new_services.analytics.service import record
from new_services.analytics.settings import AnalyticsSettings
from new_services.platform.tracing import traced_job

log = logging.getLogger(__name__)


@traced_job("analytics: order placed")
def on_order_placed(message: Mapping[str, Any]) -> str:
    """Add the order to the sales of the day it was placed."""
    return _record(OrderPlaced.from_message(message))


@traced_job("analytics: order cancelled")
def on_order_cancelled(message: Mapping[str, Any]) -> str:
    """Take back what the order's placement added, on the day it was placed."""
    return _record(OrderCancelled.from_message(message))


def _record(event: OrderEvent) -> str:
    settings = AnalyticsSettings.from_env()
    with Redis.from_url(settings.redis_url) as redis:  # closed with the job, not leaked
        applied = record(RedisSalesProjection(redis, settings.namespace), event)
    if not applied:
        # the worker has no /metrics endpoint: the log line is the duplicate's trace
        log.info("%s %s (order %s): already applied", event.topic, event.event_id, event.order_id)
        return "already applied"
    log.info("%s %s (order %s): applied", event.topic, event.event_id, event.order_id)
    return "applied"
