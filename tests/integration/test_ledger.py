"""The payments ledger matches the provider whichever side cancels. In canary,
carts-and-checkout is sticky by user and orders by order id, so legacy may cancel an order
the services charged: it refunds at the provider and deletes the order, and the payments
service hears of it from the captured `legacy.order.cancelled` (migrations 0005f), through
the relay's real routes and its own worker's job. The provider is one real process, called
by legacy and by the payments service alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from new_services.outbox_relay.routes import ROUTES
from new_services.payments import jobs
from new_services.payments.settings import PaymentsSettings
from new_services.payments.tables import payment_refunds
from new_services.platform.outbox import Relay
from tests.integration.inprocess import Shop, in_process_shop

pytestmark = pytest.mark.anyio
Json = dict[str, Any]


@pytest.fixture
async def shop(
    fresh_database_url: str,
    redis_url: str,
    tmp_path: Path,
    provider_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Shop]:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("PAYMENTS_URL", provider_url)  # legacy's provider: the same process
    monkeypatch.setenv("SMTP_PORT", "9")  # nothing listens: legacy forgets the e-mail (a sin)
    namespace = f"ledger-{uuid.uuid4().hex[:8]}"
    async with in_process_shop(
        fresh_database_url, redis_url, tmp_path, namespace, provider_url=provider_url
    ) as made:
        jobs.wire(jobs.Wiring(PaymentsSettings(fresh_database_url, provider_url), made.engine))
        yield made


async def checkout_by_the_services(shop: Shop) -> Json:
    user, product = shop.buyer()
    await shop.fill_cart(user, product)
    placed = await shop.shop.post(f"/users/{user}/checkout", json={"card_token": "tok_visa"})
    assert placed.status_code == 201, placed.text
    order: Json = placed.json()
    return order


def checkout_by_legacy(shop: Shop) -> Json:
    user, product = shop.buyer()
    line = {"product_id": product, "quantity": 2}
    assert shop.legacy.post(f"/users/{user}/cart/items", json=line).status_code == 200
    placed = shop.legacy.post(f"/users/{user}/checkout", json={"card_token": "tok_visa"})
    assert placed.status_code == 201, placed.get_data(as_text=True)
    order: Json = placed.get_json()
    return order


def relay_and_work(shop: Shop, redis_url: str) -> list[str]:
    """Publish what is pending, then run the jobs it left on the payments queue as its
    worker would (in a thread of its own: a job runs its own event loop); what each said."""
    namespace = f"ledger-{uuid.uuid4().hex[:8]}"
    said = []
    with Redis.from_url(redis_url) as redis:
        Relay(shop.engine, redis, ROUTES, namespace).publish_pending()
        for job in Queue(f"{namespace}-payments", connection=redis).get_jobs():
            said.append(job.func(*job.args, **job.kwargs))  # the route's import path
        for name in {d.queue for routes in ROUTES.values() for d in routes}:
            Queue(f"{namespace}-{name}", connection=redis).empty()
    return said


async def ledger_and_provider(shop: Shop, charge_id: str) -> tuple[Json, list[str], Json, Json]:
    """The payment of the charge as the payments service shows it, the provider refund ids
    its refunds record, and the provider's charge and refunds."""
    listed = (await shop.payments.get("/v2/payments", params={"limit": 100})).json()
    [payment] = [p for p in listed["payments"] if p["provider_charge_id"] == charge_id]
    with shop.engine.connect() as conn:
        recorded = conn.execute(
            select(payment_refunds.c.provider_refund_id).where(
                payment_refunds.c.payment_id == uuid.UUID(payment["id"])
            )
        ).scalars()
        refund_ids = sorted(str(r) for r in recorded)
    charge = (await shop.provider.get(f"/v1/charges/{charge_id}")).json()
    refunds = (await shop.provider.get("/v1/refunds", params={"charge_id": charge_id})).json()
    return payment, refund_ids, charge, refunds


async def test_every_refund_at_the_provider_is_one_at_payments_whichever_side_cancelled(
    shop: Shop, redis_url: str
) -> None:
    theirs = await checkout_by_the_services(shop)
    ours = checkout_by_legacy(shop)

    # legacy cancels the order the services placed (its route sent the order id there)
    assert shop.legacy.post(f"/orders/{theirs['id']}/cancel").status_code == 200
    # the services cancel the order legacy placed (they adopt legacy's charge first)
    cancelled = await shop.orders.post(f"/orders/{ours['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    said = await anyio.to_thread.run_sync(relay_and_work, shop, redis_url)
    assert said == ["1 recorded"]  # legacy's one cancel; the services told payments themselves
    assert await anyio.to_thread.run_sync(relay_and_work, shop, redis_url) == []

    for order in (theirs, ours):
        payment, recorded, charge, refunds = await ledger_and_provider(shop, order["charge_id"])
        [refund] = refunds["refunds"]
        assert charge["refunded_cents"] == order["total_cents"]
        assert (payment["status"], payment["refunded_cents"]) == ("refunded", order["total_cents"])
        assert recorded == [refund["id"]]  # recorded once, as the refund the provider made
        # and legacy's view: the order is gone for it too, whichever side cancelled
        assert shop.legacy.get(f"/orders/{order['id']}").status_code == 404


async def test_a_cancel_event_delivered_twice_records_the_refund_once(
    shop: Shop, redis_url: str
) -> None:
    order = await checkout_by_the_services(shop)
    assert shop.legacy.post(f"/orders/{order['id']}/cancel").status_code == 200
    message = {"id": "e1", "payload": {"order_id": order["id"], "charge_id": order["charge_id"]}}

    said = [await anyio.to_thread.run_sync(jobs.on_legacy_order_cancelled, message)]
    said.append(await anyio.to_thread.run_sync(jobs.on_legacy_order_cancelled, message))

    assert said == ["1 recorded", "0 recorded"]
    payment, recorded, charge, _ = await ledger_and_provider(shop, order["charge_id"])
    assert payment["refunded_cents"] == charge["refunded_cents"] == order["total_cents"]
    assert len(recorded) == 1
