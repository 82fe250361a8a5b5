"""The notifications worker process: `python -m new_services.notifications`.

A pool of `NOTIFICATIONS_WORKERS` RQ workers (default 4), each with its scheduler for the
delayed retries. A send mostly waits on the mail server, so several run at once; each is a
`ShopWorker` (platform/workers.py: no fork per job, a dead one's job retried within a
minute), and the pool starts a new one if one dies.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue
from rq.worker_pool import WorkerPool

from new_services.notifications.settings import NotificationsSettings
from new_services.platform import logs, tracing
from new_services.platform.workers import ShopWorker


def main() -> None:
    logs.configure()
    tracing.configure("notifications")
    settings = NotificationsSettings.from_env()
    redis = Redis.from_url(settings.redis_url)
    queue = Queue(f"{settings.namespace}-notifications", connection=redis)
    pool = WorkerPool(
        [queue], connection=redis, num_workers=settings.workers, worker_class=ShopWorker
    )
    pool.start()


if __name__ == "__main__":
    main()
