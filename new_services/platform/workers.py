"""The RQ worker every job-running process of the shop is (catalog, analytics, notifications).

A `SimpleWorker`: each of their jobs is a short transaction, a few Redis commands or one SMTP
conversation, so forking a work horse per job (RQ's default) would cost far more CPU than the
job itself. Its scheduler runs the delayed retries (platform/outbox.py RETRY).

RQ's defaults are tuned for long jobs, and a dead worker goes unnoticed for minutes with them:
its registration lives 420 + 60 s after its last heartbeat, and a job it had in hand is only
taken for abandoned 60 s after its lease, at the next maintenance pass (every 10 minutes).
`ShopWorker` heartbeats every 5 s (`worker_ttl` 20: RQ waits `worker_ttl - 15` for a job
between two heartbeats), leases a job for `JOB_LEASE_S`, and cleans up every
`MAINTENANCE_S`: a job whose worker died is retried within `JOB_LEASE_S + MAINTENANCE_S`
(45 s), and `strangler status` calls a worker dead once no heartbeat came for `WORKER_TTL_S`.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job

from new_services.platform import logs, tracing

WORKER_TTL_S = 20
MAINTENANCE_S = 15
# Longer than any job of the shop takes (an SMTP send times out after 10 s): a job still
# running when its lease ends would be run a second time.
JOB_LEASE_S = 30


class ShopWorker(SimpleWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("worker_ttl", WORKER_TTL_S)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_S)
        super().__init__(*args, **kwargs)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """How long the started-job registry holds the job for this worker (RQ: the job's
        timeout or 30 s, plus 60)."""
        return JOB_LEASE_S


def work(service: str, redis_url: str, queue: str) -> None:
    """Run `queue`'s jobs until stopped (SIGTERM: the job in hand is finished first)."""
    logs.configure()
    tracing.configure(service)
    redis = Redis.from_url(redis_url)
    ShopWorker([Queue(queue, connection=redis)], connection=redis).work(with_scheduler=True)
