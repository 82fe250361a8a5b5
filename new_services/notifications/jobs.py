"""RQ jobs: one per event topic the notifications domain reacts to.

The outbox relay enqueues them by import path (`new_services.notifications.jobs.on_order_placed`)
with the event's message as the only argument. A job that raises is retried with backoff
(platform/outbox.py RETRY) and, when it keeps failing, parked in RQ's failed registry
(`strangler jobs failed`, `strangler jobs requeue`).
"""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis

from new_services.notifications import mail
from new_services.notifications.once import Once
from new_services.notifications.settings import NotificationsSettings
from new_services.platform.tracing import traced_job

log = logging.getLogger(__name__)


@traced_job("notifications: order confirmation")
def on_order_placed(event: dict[str, Any]) -> str:
    """E-mail the order confirmation, once per event whatever happens."""
    settings = NotificationsSettings.from_env()
    with Redis.from_url(settings.redis_url) as redis:  # closed with the job, not leaked
        once = Once(redis, settings.namespace, settings.lease_s)
        # a send that died mid-way holds the claim until its lease runs out: wait for it
        token = once.claim("order-confirmation", event["id"], wait_s=settings.lease_s)
        if token is None:
            log.info("event %s: confirmation already sent", event["id"])
            return "already sent"
        try:
            mail.send(settings, mail.order_confirmation(settings, event))
        except BaseException:
            once.release("order-confirmation", event["id"], token)
            raise
        once.done("order-confirmation", event["id"], token)
        return "sent"
