"""Legacy's writes reach the read models: the orders legacy places and cancels, through its own
unchanged code, become outbox events in the same transaction (migrations 0005f), which the
relay publishes and the analytics worker folds in, so the sales report the service gives
equals legacy's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from sqlalchemy import Engine, insert, select, text

from legacy_app import app as legacy
from migrations import history
from new_services.analytics.events import OrderCancelled, OrderPlaced
from new_services.analytics.model import Period
from new_services.analytics.projection import RedisSalesProjection
from new_services.analytics.service import record, sales_report
from new_services.orders.tables import orders_with_email_flag as service_orders
from new_services.outbox_relay.routes import ROUTES
from new_services.platform.outbox import Relay, outbox_events
from tests.integration.migrating import engine_at

Json = dict[str, Any]
TODAY = datetime.now(UTC).strftime("%Y-%m-%d")


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    with engine_at(fresh_database_url) as made:
        history.upgrade(made, "expand")
        yield made


@pytest.fixture
def shop(
    engine: Engine, fresh_database_url: str, provider_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FlaskClient]:
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("PAYMENTS_URL", provider_url)
    monkeypatch.setenv("SMTP_PORT", "9")  # nothing listens: legacy forgets the e-mail (a sin)
    app = legacy.create_app()
    try:
        yield app.test_client()
    finally:
        legacy.ENGINE.dispose()  # SMELL(global-state)


def checkout(shop: FlaskClient, lines: list[tuple[int, int]]) -> Json:
    """A new buyer's checkout through legacy's own API; the order it answers."""
    user = shop.post("/users", json={"email": f"{uuid.uuid4().hex}@x.test", "name": "B"})
    user_id = user.get_json()["id"]
    for product_id, quantity in lines:
        line = {"product_id": product_id, "quantity": quantity}
        assert shop.post(f"/users/{user_id}/cart/items", json=line).status_code == 200
    placed = shop.post(f"/users/{user_id}/checkout", json={"card_token": "tok_visa"})
    assert placed.status_code == 201, placed.get_data(as_text=True)
    order: Json = placed.get_json()
    return order


def product(shop: FlaskClient, price_cents: int) -> int:
    body = {"sku": uuid.uuid4().hex[:12], "name": "Kettle", "price_cents": price_cents, "stock": 50}
    made = shop.post("/products", json=body)
    assert made.status_code == 201
    return int(made.get_json()["id"])


def captured(engine: Engine) -> list[Json]:
    with engine.connect() as conn:
        rows = conn.execute(select(outbox_events).order_by(outbox_events.c.created_at)).all()
    return [{"topic": r.topic, "aggregate_id": r.aggregate_id, **dict(r.payload)} for r in rows]


def relayed(engine: Engine, redis_url: str, projection: RedisSalesProjection) -> int:
    """Publish what is pending, then run the analytics jobs it enqueued, as the worker would."""
    namespace = f"capture-{uuid.uuid4().hex[:8]}"
    with Redis.from_url(redis_url) as redis:
        relay = Relay(engine, redis, ROUTES, namespace)
        published = relay.publish_pending()
        jobs = Queue(f"{namespace}-analytics", connection=redis)
        for job in jobs.get_jobs():
            [message] = job.args
            parse = OrderPlaced if message["topic"].endswith("order.placed") else OrderCancelled
            record(projection, parse.from_message(message))
            job.delete()
    return published


def the_report(projection: RedisSalesProjection) -> Json:
    """What the analytics service's v1 edge answers (api_v1.py), as legacy's JSON reads."""
    report = sales_report(projection, Period.legacy(TODAY, TODAY))
    return {"from": TODAY, "to": TODAY, **report.figures()}


def test_orders_legacy_places_and_cancels_reach_the_sales_report_as_legacy_counts_them(
    shop: FlaskClient, engine: Engine, redis_url: str
) -> None:
    teapot, cup = product(shop, 1_999), product(shop, 450)
    first = checkout(shop, [(teapot, 1), (cup, 3)])
    second = checkout(shop, [(cup, 2)])

    events = captured(engine)
    assert [(e["topic"], e["order_id"]) for e in events] == [
        ("legacy.order.placed", first["id"]),
        ("legacy.order.placed", second["id"]),
    ]
    assert events[0]["total_cents"] == first["total_cents"]
    assert events[0]["created_at"].endswith("Z")
    assert [(i["product_id"], i["quantity"]) for i in events[0]["items"]] == [(teapot, 1), (cup, 3)]

    with Redis.from_url(redis_url) as redis:
        projection = RedisSalesProjection(redis, f"capture-{uuid.uuid4().hex[:8]}")
        assert relayed(engine, redis_url, projection) == 2
        legacy_report = shop.get(f"/reports/sales?from={TODAY}&to={TODAY}").get_json()
        assert the_report(projection) == legacy_report

        assert shop.post(f"/orders/{first['id']}/cancel").status_code == 200
        [cancelled] = [e for e in captured(engine) if e["topic"] == "legacy.order.cancelled"]
        assert (cancelled["order_id"], cancelled["total_cents"], cancelled["charge_id"]) == (
            first["id"],
            first["total_cents"],
            first["charge_id"],  # the payment's one link once the order row is gone
        )
        assert sorted(i["product_id"] for i in cancelled["items"]) == sorted([teapot, cup])
        assert relayed(engine, redis_url, projection) == 1
        legacy_report = shop.get(f"/reports/sales?from={TODAY}&to={TODAY}").get_json()
        assert legacy_report["order_count"] == 1
        assert the_report(projection) == legacy_report
        assert relayed(engine, redis_url, projection) == 0  # nothing twice


def test_an_order_the_services_write_is_not_captured_as_legacy_s(engine: Engine) -> None:
    """The orders service always sets `metadata`, and publishes its own event."""
    with engine.begin() as conn:
        conn.execute(
            insert(service_orders).values(
                uuid=uuid.uuid4(),
                user_id=1,
                status="placed",
                subtotal_cents=100,
                discount_cents=0,
                shipping_cents=0,
                tax_cents=0,
                total_cents=100,
                created_at=datetime.now(UTC).replace(tzinfo=None),
                metadata={},
                email_sent=False,
            )
        )
    assert captured(engine) == []


def test_a_legacy_write_that_rolls_back_leaves_no_event(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO orders (user_id, status, subtotal_cents, discount_cents, "
                "shipping_cents, tax_cents, total_cents, email_sent, created_at) "
                "VALUES (1, 'placed', 100, 0, 0, 0, 100, false, CURRENT_TIMESTAMP)"
            )
        )
        assert len(captured_in(conn)) == 1
        raise RuntimeError("the checkout failed after its insert")
    assert captured(engine) == []


def captured_in(conn: Any) -> list[Any]:
    return list(conn.execute(select(outbox_events.c.id)).all())
