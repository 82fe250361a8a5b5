"""The analytics worker process: `python -m new_services.analytics` (an RQ worker with its
scheduler, which runs the delayed retries), folding order events into the projection.

A `SimpleWorker`: each job is a few Redis commands, so forking a work horse per job (RQ's
default) would cost far more CPU than the job itself."""

from __future__ import annotations

from redis import Redis
from rq import Queue, SimpleWorker

from new_services.analytics.settings import AnalyticsSettings
from new_services.platform import logs, tracing


def main() -> None:
    logs.configure()
    tracing.configure("analytics-worker")
    settings = AnalyticsSettings.from_env()
    redis = Redis.from_url(settings.redis_url)
    queue = Queue(settings.queue, connection=redis)
    SimpleWorker([queue], connection=redis).work(with_scheduler=True)


if __name__ == "__main__":
    main()
