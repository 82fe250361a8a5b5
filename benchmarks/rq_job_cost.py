"""What one RQ job costs the worker that runs it: CPU and wall time per job, with the Redis
reply parser redis-py picked (hiredis when installed, else its pure-Python one).

Each checkout through the services runs three such jobs (the catalog's hold, the e-mail, the
sales aggregates), so this is a floor under their CPU in `services_compare.py`. The job
itself does nothing (`os.getpid`); what is measured is RQ's own bookkeeping around it:
about 65 Redis commands in some 20 round trips.

    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python benchmarks/rq_job_cost.py [--jobs N]

Without REDIS_URL it needs a Redis on 127.0.0.1:6379. It uses a queue of its own and empties it.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import time
import uuid

from redis import Redis
from redis.utils import HIREDIS_AVAILABLE
from rq import Queue, SimpleWorker

from new_services.platform.outbox import RETRY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the worker logs three lines a job otherwise
    redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    run = uuid.uuid4().hex[:8]
    queue = Queue(f"rq-job-cost-{run}", connection=redis)
    try:
        for n in range(args.jobs):  # as the outbox relay enqueues them (platform/outbox.py)
            job_id = f"rq-job-cost-{run}-{n}"
            queue.enqueue_call("os.getpid", job_id=job_id, retry=RETRY, failure_ttl=3600)
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        SimpleWorker([queue], connection=redis).work(burst=True, logging_level="WARNING")
        wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    finally:
        queue.empty()
        queue.delete()
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    parser_name = "hiredis" if HIREDIS_AVAILABLE else "redis-py's pure-Python parser"
    print(
        f"{args.jobs} jobs, replies parsed by {parser_name}: "
        f"{cpu / args.jobs * 1e3:.2f} ms CPU and {wall / args.jobs * 1e3:.2f} ms wall per job"
    )


if __name__ == "__main__":
    main()
