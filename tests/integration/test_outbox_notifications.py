"""The outbox and the notifications worker, on a real database, Redis, RQ and SMTP server:
events leave only with their transaction, once; an e-mail goes once per event; a job that
keeps failing is parked where `strangler jobs` shows it and sends it again."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Retry, SimpleWorker
from rq.registry import FailedJobRegistry
from sqlalchemy import Engine, func, select

from migrations import history
from new_services.platform.outbox import Destination, Event, Relay, append, outbox_events
from strangler.runner import running
from tests.conftest import free_port_base
from tests.integration.migrating import engine_at
from tests.integration.processes import uvicorn_part

HANDLER = "new_services.notifications.jobs.on_order_placed"
ROUTES = {"order.placed": [Destination("notifications", HANDLER)]}
STRANGLER = str(Path(sys.executable).with_name("strangler"))


@dataclass
class World:
    engine: Engine
    redis: Redis
    relay: Relay
    mail_url: str
    namespace: str


@pytest.fixture
def world(
    fresh_database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    base = free_port_base()
    mail = uvicorn_part(
        "mail",
        "stand_ins.mail.app:create_app",
        base + 3,
        {"MAIL_DB_PATH": str(tmp_path / "mail.db"), "MAIL_SMTP_PORT": str(base + 4)},
        more_ports=(base + 4,),
    )
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("REDIS_URL", redis_url)  # what the worker's jobs read
    monkeypatch.setenv("SMTP_PORT", str(base + 4))
    monkeypatch.setenv("STRANGLER_NAMESPACE", namespace)
    with running(mail, tmp_path), engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
        redis = Redis.from_url(redis_url)
        relay = Relay(engine, redis, ROUTES, namespace=namespace, retry=Retry(max=2))
        yield World(engine, redis, relay, mail.url, namespace)
        redis.close()


def placed(order_id: int, email: str = "ada@example.com") -> Event:
    payload = {"order_id": order_id, "email": email, "name": "Ada", "total_cents": 4603}
    return Event("order.placed", str(order_id), payload)


def work(world: World) -> None:
    queue = world.relay.queue("notifications")
    SimpleWorker([queue], connection=world.redis).work(burst=True)


def mails_to(world: World, email: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = httpx.get(
        f"{world.mail_url}/messages", params={"to": email}
    ).json()["messages"]
    return found


def test_only_committed_events_are_published_and_each_only_once(world: World) -> None:
    kept, dropped = placed(1), placed(2)
    with world.engine.begin() as conn:
        append(conn, kept)
    with pytest.raises(RuntimeError), world.engine.begin() as conn:
        append(conn, dropped)
        raise RuntimeError("the order failed: its event goes with it")
    assert world.relay.publish_pending() == 1
    assert world.relay.publish_pending() == 0
    queue = world.relay.queue("notifications")
    assert [job.args[0]["id"] for job in queue.get_jobs()] == [str(kept.id)]
    with world.engine.connect() as conn:
        waiting = conn.execute(
            select(func.count()).where(outbox_events.c.published_at.is_(None))
        ).scalar_one()
    assert waiting == 0


def test_an_event_handled_twice_sends_one_email(world: World) -> None:
    event = placed(41, email="twice@example.com")
    with world.engine.begin() as conn:
        append(conn, event)
    world.relay.publish_pending()
    queue = world.relay.queue("notifications")  # as if a relay had died before marking it
    duplicate = queue.enqueue_call(HANDLER, args=(event.as_message(),), job_id="duplicate")
    work(world)
    messages = mails_to(world, "twice@example.com")
    assert len(messages) == 1
    assert messages[0]["subject"] == "Your order #41"
    assert "Total charged: 46.03 USD." in str(messages[0]["text"])
    first = queue.fetch_job(f"{event.id.hex}-notifications")
    assert first is not None
    assert sorted([first.return_value(), duplicate.return_value()]) == ["already sent", "sent"]


def test_a_job_that_keeps_failing_is_parked_listed_and_sent_again_once_fixed(
    world: World, monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path: Path
) -> None:
    smtp_port = os.environ["SMTP_PORT"]
    monkeypatch.setenv("SMTP_PORT", "9")  # nothing listens there: every try fails
    event = placed(77, email="parked@example.com")
    with world.engine.begin() as conn:
        append(conn, event)
    world.relay.publish_pending()
    work(world)  # the first try and both retries fail
    registry = FailedJobRegistry(queue=world.relay.queue("notifications"))
    job_id = f"{event.id.hex}-notifications"
    assert registry.get_job_ids() == [job_id]
    assert mails_to(world, "parked@example.com") == []

    env = {**os.environ, "STRANGLER_HOME": str(tmp_path / "home"), "REDIS_URL": redis_url}
    listed = subprocess.run(
        [STRANGLER, "jobs", "failed"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert job_id in listed.stdout and "ConnectionRefusedError" in listed.stdout

    monkeypatch.setenv("SMTP_PORT", smtp_port)  # the operator fixed the mail server
    requeued = subprocess.run(
        [STRANGLER, "jobs", "requeue", "--all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert requeued.returncode == 0 and f"requeued {job_id}" in requeued.stdout
    work(world)
    assert len(mails_to(world, "parked@example.com")) == 1
    assert registry.get_job_ids() == []
