"""One checkout is one trace: gateway, orders, catalog, payments, the outbox relay and the
analytics worker, linked parent to child. Everything runs in this process on a real
database and Redis, so one in-memory exporter sees every span."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import insert

from gateway.app import create_gateway
from gateway.settings import GatewaySettings
from gateway.upstream import Headers, UpstreamResponse
from legacy_app import app as legacy
from legacy_app import db
from migrations import history
from new_services.catalog.app import create_app as catalog_app
from new_services.catalog.settings import CatalogSettings
from new_services.orders.app import create_app as orders_app
from new_services.orders.settings import OrdersSettings
from new_services.outbox_relay.routes import ROUTES
from new_services.payments.app import create_app as payments_app
from new_services.payments.settings import PaymentsSettings
from new_services.platform import tracing
from new_services.platform.outbox import Relay
from stand_ins.payments.app import create_app as provider_app
from stand_ins.payments.settings import PaymentsSettings as ProviderSettings
from tests.integration.migrating import engine_at

pytestmark = pytest.mark.anyio
USERS, CATALOG, PAYMENTS, PROVIDER = (
    "http://users.test",
    "http://catalog.test",
    "http://payments.test",
    "http://provider.test",
)


class InProcessUpstream:
    """The gateway's upstream interface, answered by an ASGI app in this process."""

    def __init__(self, app: Any) -> None:
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes | AsyncIterator[bytes],
        timeout_s: float,
        connect_timeout_s: float,
    ) -> UpstreamResponse:
        content = body if isinstance(body, bytes) else b"".join([c async for c in body])
        answer = await self._client.request(method, url, headers=list(headers), content=content)

        async def chunks() -> AsyncIterator[bytes]:
            yield answer.content

        return UpstreamResponse(answer.status_code, list(answer.headers.items()), chunks())

    async def close(self) -> None:
        await self._client.aclose()


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
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
        user, product = a_buyer_and_a_product(engine)
        monkeypatch.setenv("DATABASE_URL", fresh_database_url)  # the legacy app reads it
        legacy_shop = legacy.create_app().test_client()

        def users(request: httpx.Request) -> httpx.Response:  # the legacy app answers
            answer = legacy_shop.get(request.url.path)
            return httpx.Response(answer.status_code, content=answer.data)

        provider = provider_app(ProviderSettings(db_path=tmp_path / "provider.db"))
        apps = {
            CATALOG: catalog_app(CatalogSettings(fresh_database_url, redis_url, namespace)),
            PAYMENTS: payments_app(
                PaymentsSettings(fresh_database_url, PROVIDER),
                provider=httpx.ASGITransport(app=provider),
            ),
        }
        transports: dict[str, httpx.AsyncBaseTransport] = {
            url: httpx.ASGITransport(app=app) for url, app in apps.items()
        }
        transports[USERS] = httpx.MockTransport(users)
        orders = orders_app(
            OrdersSettings(fresh_database_url, USERS, CATALOG, PAYMENTS), transports=transports
        )
        routes = tmp_path / "routes.toml"
        routes.write_text(ROUTES_FILE)
        gateway = create_gateway(
            replace(GatewaySettings(), routes_file=routes, tracing=True),
            upstream=InProcessUpstream(orders),
        )
        async with AsyncExitStack() as stack:
            for app in (provider, *apps.values(), orders):
                await stack.enter_async_context(app.router.lifespan_context(app))
            await gateway.start()
            stack.push_async_callback(gateway.stop)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gateway.public), base_url="http://shop.test"
            ) as shop:
                added = await shop.post(
                    f"/users/{user}/cart/items", json={"product_id": product, "quantity": 1}
                )
                assert added.status_code == 200, added.text
                exporter.clear()
                placed = await shop.post(f"/users/{user}/checkout", json={"card_token": "tok_visa"})
                assert placed.status_code == 201, placed.text

        with Redis.from_url(redis_url) as redis:
            assert Relay(engine, redis, ROUTES, namespace=namespace).publish_pending() == 1
            monkeypatch.setenv("REDIS_URL", redis_url)
            monkeypatch.setenv("STRANGLER_NAMESPACE", namespace)
            queue = Queue(f"{namespace}-analytics", connection=redis)
            SimpleWorker([queue], connection=redis).work(burst=True)
            Queue(f"{namespace}-notifications", connection=redis).empty()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    checkout = spans["POST /users/{user_id:int}/checkout"]
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


def a_buyer_and_a_product(engine: Any) -> tuple[int, int]:
    now = datetime(2026, 11, 28, 12, 0)
    with engine.begin() as conn:
        user = conn.execute(
            insert(db.users).values(
                email=f"{uuid.uuid4().hex}@example.com", name="Ada", created_at=now
            )
        ).inserted_primary_key[0]
        product = conn.execute(
            insert(db.products).values(
                sku=uuid.uuid4().hex[:12],
                name="Teapot",
                price_cents=1999,
                stock=5,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
    return int(user), int(product)


ROUTES_FILE = """
[upstreams]
legacy = "http://legacy.test"
orders = "http://orders.test"

[[routes]]
name = "carts-and-checkout"
match = ["/users/{user_id}/cart/**", "/users/{user_id}/checkout"]
extracted = "orders"
mode = "extracted"
fallback = false
"""
