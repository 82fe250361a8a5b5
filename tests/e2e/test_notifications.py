"""The stack's notifications worker, as `strangler up` runs it: an event committed to the
outbox and relayed becomes one e-mail in the mail sink."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from redis import Redis

from migrations.database import make_engine
from new_services.platform.outbox import Destination, Event, Relay, append
from strangler.runner import Stack
from tests.conftest import stack_settings

pytestmark = pytest.mark.e2e

ROUTES = {
    "order.placed": [
        Destination("notifications", "new_services.notifications.jobs.on_order_placed")
    ]
}


def test_an_outbox_event_becomes_one_email_through_the_running_worker(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path)
    stack = Stack(settings)
    stack.up()
    engine = make_engine(settings.shop_database_url)
    redis = Redis.from_url(settings.shop_redis_url)
    try:
        event = Event(
            "order.placed",
            "901",
            {"order_id": 901, "email": "e2e@example.com", "name": "Eve", "total_cents": 1234},
        )
        with engine.begin() as conn:
            append(conn, event)
        # the stack's own relay may have published it first: either way it is published once
        assert Relay(engine, redis, ROUTES, namespace=settings.namespace).publish_pending() <= 1
        deadline = time.monotonic() + 20
        messages: list[dict[str, object]] = []
        while time.monotonic() < deadline and not messages:
            messages = httpx.get(
                settings.url("mail") + "/messages", params={"to": "e2e@example.com"}, timeout=5
            ).json()["messages"]
            time.sleep(0.2)
        time.sleep(1)  # time for a second e-mail, were the event handled twice
        messages = httpx.get(
            settings.url("mail") + "/messages", params={"to": "e2e@example.com"}, timeout=5
        ).json()["messages"]
        assert [m["subject"] for m in messages] == ["Your order #901"]
    finally:
        redis.close()
        engine.dispose()
        stack.down()
