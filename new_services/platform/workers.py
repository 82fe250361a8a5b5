"""The RQ worker every job-running process of the shop is (catalog, analytics).

A `SimpleWorker`: each of their jobs is a short transaction or a few Redis commands, so
forking a work horse per job (RQ's default) would cost far more CPU than the job itself.
Its scheduler runs the delayed retries (platform/outbox.py RETRY)."""

from __future__ import annotations

from redis import Redis
from rq import Queue, SimpleWorker

from new_services.platform import logs, tracing


def work(service: str, redis_url: str, queue: str) -> None:
    """Run `queue`'s jobs until stopped (SIGTERM: the job in hand is finished first)."""
    logs.configure()
    tracing.configure(service)
    redis = Redis.from_url(redis_url)
    SimpleWorker([Queue(queue, connection=redis)], connection=redis).work(with_scheduler=True)
