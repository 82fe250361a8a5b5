"""One checkout is one trace: gateway, orders, catalog, payments, the outbox relay and the
analytics worker, linked parent to child. Everything runs in this process on a real
database and Redis, so one in-memory exporter sees every span."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis import Redis
from rq import Queue, SimpleWorker

from new_services.outbox_relay.routes import ROUTES
from new_services.platform import tracing
from new_services.platform.outbox import Relay
from tests.integration.inprocess import in_process_shop

pytestmark = pytest.mark.anyio


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.record_with(provider):
        yield exporter


async def test_a_checkout_is_one_trace_from_the_gateway_to_the_analytics_worker(
    exporter: InMemorySpanExporter,
    fresh_database_url: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    namespace = f"trace-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)  # the legacy app reads it
    async with in_process_shop(
        fresh_database_url, redis_url, tmp_path, namespace, traced=True
    ) as shop:
        user, product = shop.buyer()
        await shop.fill_cart(user, product)
        exporter.clear()
        placed = await shop.shop.post(f"/users/{user}/checkout", json={"card_token": "tok_visa"})
        assert placed.status_code == 201, placed.text
        engine = shop.engine
        with Redis.from_url(redis_url) as redis:
            assert Relay(engine, redis, ROUTES, namespace=namespace).publish_pending() == 1
            monkeypatch.setenv("REDIS_URL", redis_url)
            monkeypatch.setenv("STRANGLER_NAMESPACE", namespace)
            queue = Queue(f"{namespace}-analytics", connection=redis)
            SimpleWorker([queue], connection=redis).work(burst=True)
            Queue(f"{namespace}-notifications", connection=redis).empty()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    checkout = spans["POST /users/{user_id:id}/checkout"]
    assert parent_of(checkout, spans) == spans["gateway POST"]
    assert parent_of(spans["PUT /v2/holds/{hold_id}"], spans) == checkout
    assert parent_of(spans["POST /v2/payments"], spans) == checkout
    publish = spans["publish order.placed"]
    assert parent_of(publish, spans) == checkout  # stored with the event, read by the relay
    assert parent_of(spans["analytics: order placed"], spans) == publish
    assert len({span.context.trace_id for span in spans.values()}) == 1


def parent_of(span: ReadableSpan, spans: dict[str, ReadableSpan]) -> ReadableSpan | None:
    assert span.parent is not None, f"{span.name} has no parent"
    return next((s for s in spans.values() if s.context.span_id == span.parent.span_id), None)
