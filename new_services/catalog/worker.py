"""The catalog worker process: `python -m new_services.catalog.worker` (an RQ worker with
its scheduler, which runs the delayed retries), making placed orders' holds final.

A `SimpleWorker`: each job is one short transaction, so forking a work horse per job
(RQ's default) would cost far more CPU than the job itself."""

from __future__ import annotations

from redis import Redis
from rq import Queue, SimpleWorker

from new_services.catalog.settings import CatalogSettings
from new_services.platform import logs, tracing


def main() -> None:
    logs.configure()
    tracing.configure("catalog-worker")
    settings = CatalogSettings.from_env()
    redis = Redis.from_url(settings.redis_url)
    queue = Queue(f"{settings.namespace}-catalog", connection=redis)
    SimpleWorker([queue], connection=redis).work(with_scheduler=True)


if __name__ == "__main__":
    main()
