"""`python -m new_services.outbox_relay`: publish committed outbox events until stopped.

Several relays may run at once on PostgreSQL (they skip each other's locked rows). A
relay that dies between enqueuing and stamping an event enqueues it again when it comes
back; the job id derived from the event makes that a no-op (platform/outbox.py).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from types import FrameType

from prometheus_client import start_http_server
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from new_services.outbox_relay import lag
from new_services.outbox_relay.metrics import Backlog, registry
from new_services.outbox_relay.routes import QUEUES, ROUTES
from new_services.outbox_relay.settings import RelaySettings
from new_services.platform import logs, tracing
from new_services.platform.database import make_engine
from new_services.platform.outbox import Relay

log = logging.getLogger("new_services.outbox_relay")


def run(settings: RelaySettings, stop: threading.Event) -> None:
    # Nothing it waits on may hold it for ever: a row lock gives up after 2 s, a Redis call
    # after 5 s; the round fails, is logged, and runs again a second later. A relay that hung
    # silently in one CI run stopped every event from reaching the workers.
    engine = make_engine(settings.database_url, lock_timeout="2s")
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    relay = Relay(engine, redis, ROUTES, namespace=settings.namespace)
    queues = {name: relay.queue(name) for name in QUEUES}
    metrics, published_total = registry(Backlog(engine, queues))
    server = None
    if settings.metrics_port:
        server, _ = start_http_server(
            settings.metrics_port, settings.metrics_host, registry=metrics
        )
    measured_at = 0.0
    try:
        while not stop.is_set():
            try:
                published = relay.publish_pending(settings.batch)
                redis.set(settings.heartbeat_key, "1", ex=5)
                if time.monotonic() - measured_at >= 1.0:  # the guard and status read it
                    lag.publish(redis, settings.namespace, lag.measure(engine, queues))
                    measured_at = time.monotonic()
            except (SQLAlchemyError, RedisError):
                # nothing is lost: the events stay unpublished until the next round
                log.exception("publishing failed; retrying in a second")
                stop.wait(1.0)
                continue
            if published:
                published_total.inc(published)
                log.info("published %d event(s)", published)
            else:
                stop.wait(settings.idle_s)
    finally:
        if server is not None:
            server.shutdown()
        with contextlib.suppress(RedisError):
            redis.delete(settings.heartbeat_key)
        redis.close()
        engine.dispose()


def main() -> None:
    logs.configure()
    tracing.configure("outbox-relay")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run(RelaySettings.from_env(), stop)


if __name__ == "__main__":
    main()
