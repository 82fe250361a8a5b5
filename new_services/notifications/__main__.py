"""The notifications worker process: `python -m new_services.notifications` (an RQ worker with
its scheduler, which runs the delayed retries)."""

from __future__ import annotations

import logging

from redis import Redis
from rq import Queue, Worker

from new_services.notifications.settings import NotificationsSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = NotificationsSettings.from_env()
    redis = Redis.from_url(settings.redis_url)
    queue = Queue(f"{settings.namespace}-notifications", connection=redis)
    Worker([queue], connection=redis).work(with_scheduler=True)


if __name__ == "__main__":
    main()
