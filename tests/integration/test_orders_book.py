"""The orders tables on a real database: what placing, reading and cancelling an order
writes, and that the legacy app, sharing the database, sees the same orders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import Engine, event, func, insert, select

from legacy_app import app as legacy
from legacy_app import db
from migrations import history
from new_services.orders.api_v1 import order_json
from new_services.orders.model import Charge, Customer, Order, OrderLine, OrderPlaced
from new_services.orders.ports import OrderAbandoned, OrderExists
from new_services.orders.pricing import price
from new_services.orders.repository import SqlCarts, SqlOrderBook
from new_services.orders.tables import cart_items, orders
from new_services.outbox_relay.routes import ROUTES
from new_services.platform.outbox import Relay, outbox_events
from tests.integration.migrating import engine_at

pytestmark = pytest.mark.anyio
ADA = Customer(0, "ada@example.com", "Ada")


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
        yield engine


def a_user(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(db.users).values(
                    email=f"{uuid.uuid4().hex}@example.com", name="Ada", created_at=datetime.now()
                )
            ).inserted_primary_key[0]
        )


def an_order(user_id: int, at: datetime, lines: tuple[OrderLine, ...] | None = None) -> Order:
    lines = lines or (OrderLine(5, "Teapot", 1999, 2), OrderLine(6, "Cups", 450, 1))
    return Order(
        uuid=uuid.uuid4(),
        user_id=user_id,
        lines=lines,
        price=price([line.total_cents for line in lines], None),
        charge=Charge(str(uuid.uuid4()), f"ch_{uuid.uuid4().hex[:12]}"),
        created_at=at,
    )


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


async def test_placing_an_order_writes_it_its_event_and_empties_the_cart_in_one_transaction(
    engine: Engine,
) -> None:
    user = a_user(engine)
    carts, book = SqlCarts(engine), SqlOrderBook(engine)
    assert await carts.add(user, 5, 2, cap=100) and await carts.add(user, 6, 1, cap=100)

    placed = await book.place(an_order(user, datetime.now(UTC)), _placed())

    assert placed.id is not None
    assert await carts.lines(user) == []
    with engine.connect() as conn:
        (row,) = conn.execute(select(outbox_events)).mappings().all()
    assert row["topic"] == "order.placed" and row["aggregate_id"] == str(placed.uuid)
    assert row["payload"]["order_id"] == placed.id
    assert [item["name"] for item in row["payload"]["items"]] == ["Teapot", "Cups"]


async def test_an_order_whose_event_cannot_be_written_leaves_nothing_behind(
    engine: Engine,
) -> None:
    user = a_user(engine)
    carts, book = SqlCarts(engine), SqlOrderBook(engine)
    await carts.add(user, 5, 1, cap=100)

    def refuse_outbox(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "INSERT INTO outbox_events" in statement:
            raise RuntimeError("the outbox is full")

    event.listen(engine, "before_cursor_execute", refuse_outbox)
    try:
        with pytest.raises(RuntimeError):
            await book.place(an_order(user, datetime.now(UTC)), _placed())
    finally:
        event.remove(engine, "before_cursor_execute", refuse_outbox)

    assert count(engine, orders, orders.c.user_id == user) == 0
    assert count(engine, cart_items, cart_items.c.user_id == user) == 1


def _placed() -> OrderPlaced:
    return OrderPlaced(an_order(0, datetime.now(UTC)), ADA)


async def test_history_is_newest_first_with_every_line_and_the_legacy_app_agrees(
    engine: Engine, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = a_user(engine)
    book = SqlOrderBook(engine)
    first = await book.place(an_order(user, datetime(2026, 11, 1, 9, 0, tzinfo=UTC)), _placed())
    second = await book.place(an_order(user, datetime(2026, 11, 2, 9, 0, tzinfo=UTC)), _placed())

    history_ = await book.history(user)

    assert [o.id for o in history_] == [second.id, first.id]
    assert [len(o.lines) for o in history_] == [2, 2]
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    shop = legacy.create_app().test_client()
    try:
        seen_by_legacy = shop.get(f"/users/{user}/orders").get_json()
    finally:
        legacy.ENGINE.dispose()  # SMELL(global-state): the app keeps its engine in a global
    assert seen_by_legacy == {"orders": [order_json(o) for o in history_]}


async def test_a_history_read_answers_at_once_while_a_checkout_holds_the_write_lock(
    engine: Engine,
) -> None:
    user = a_user(engine)
    book = SqlOrderBook(engine)
    placed = await book.place(an_order(user, datetime(2026, 11, 1, 9, 0, tzinfo=UTC)), _placed())
    with engine.begin() as writer:  # on SQLite this holds the database's one write lock
        writer.execute(
            insert(cart_items).values(
                user_id=user, product_id=5, quantity=1, added_at=datetime(2026, 11, 2)
            )
        )
        with anyio.fail_after(5):  # SQLite's busy timeout would keep a locked read 30 s
            seen = await book.history(user)
            page = await book.page(user, None, 10)
            cart = await SqlCarts(engine).lines(user)
    assert [o.id for o in seen] == [o.id for o in page] == [placed.id]
    assert cart == []  # the writer's uncommitted line is not seen


async def test_a_cancelled_order_is_soft_deleted_with_its_event_once(engine: Engine) -> None:
    user = a_user(engine)
    book = SqlOrderBook(engine)
    placed = await book.place(an_order(user, datetime.now(UTC)), _placed())

    cancelled = await book.cancel(placed, datetime.now(UTC))
    again = await book.cancel(placed, datetime.now(UTC))

    assert cancelled is not None and again is None
    assert await book.get(placed.id or 0) is None and await book.history(user) == []
    assert count(engine, orders, orders.c.id == placed.id, orders.c.status == "cancelled") == 1
    assert count(engine, outbox_events, outbox_events.c.topic == "order.cancelled") == 1


async def test_an_order_the_service_cancelled_is_gone_for_the_legacy_app_too(
    engine: Engine, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = a_user(engine)
    book = SqlOrderBook(engine)
    at = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    kept = await book.place(an_order(user, at), _placed())
    gone = await book.place(an_order(user, at), _placed())
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    shop = legacy.create_app().test_client()
    try:
        before = shop.get("/reports/sales?from=2026-11-03&to=2026-11-03").get_json()
        await book.cancel(gone, datetime.now(UTC))

        assert shop.get(f"/orders/{gone.id}").status_code == 404
        assert shop.get(f"/orders/{kept.id}").status_code == 200
        history_ = shop.get(f"/users/{user}/orders").get_json()["orders"]
        assert [o["id"] for o in history_] == [kept.id]
        after = shop.get("/reports/sales?from=2026-11-03&to=2026-11-03").get_json()
        assert (before["order_count"], after["order_count"]) == (2, 1)
        assert after["revenue_cents"] == kept.price.total_cents
        assert shop.post(f"/orders/{gone.id}/cancel").status_code == 404  # not refunded twice
    finally:
        legacy.ENGINE.dispose()


async def test_the_relay_sends_a_placed_order_to_catalog_notifications_and_analytics(
    engine: Engine, redis_url: str
) -> None:
    user = a_user(engine)
    hold = uuid.uuid4()
    order = an_order(user, datetime.now(UTC))
    placed = await SqlOrderBook(engine).place(order, OrderPlaced(order, ADA, hold))
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    with Redis.from_url(redis_url) as redis:
        relay = Relay(engine, redis, ROUTES, namespace=namespace)
        assert relay.publish_pending() == 1
        assert relay.publish_pending() == 0
        for name in ("catalog", "notifications", "analytics"):
            (job,) = Queue(f"{namespace}-{name}", connection=redis).get_jobs()
            assert job.func_name == f"new_services.{name}.jobs.on_order_placed"
            payload = job.args[0]["payload"]
            assert (payload["order_uuid"], payload["order_id"]) == (str(placed.uuid), placed.id)
            assert payload["hold_id"] == str(hold)  # the catalog makes it final from here
            job.delete()


async def test_a_cart_line_never_passes_its_cap(engine: Engine) -> None:
    user = a_user(engine)
    carts = SqlCarts(engine)
    assert await carts.add(user, 5, 60, cap=100)
    assert not await carts.add(user, 5, 41, cap=100)
    assert await carts.add(user, 5, 40, cap=100)
    assert [(line.product_id, line.quantity) for line in await carts.lines(user)] == [(5, 100)]
    assert await carts.remove(user, 5) and not await carts.remove(user, 5)


async def test_an_order_is_either_placed_or_abandoned_never_both(engine: Engine) -> None:
    """The settler of charges with no order (orphans.py) and a late retry of the checkout
    race for one order: whichever decides first wins, for good."""
    user, book = a_user(engine), SqlOrderBook(engine)
    given_up = an_order(user, datetime.now(UTC))
    assert await book.abandon(given_up.uuid, datetime.now(UTC))
    assert await book.abandon(given_up.uuid, datetime.now(UTC))  # asked again: still abandoned
    with pytest.raises(OrderAbandoned):
        await book.place(given_up, _placed())
    assert count(engine, orders, orders.c.uuid == given_up.uuid) == 0

    kept = an_order(user, datetime.now(UTC))
    placed = await book.place(kept, _placed())
    assert not await book.abandon(kept.uuid, datetime.now(UTC))
    with pytest.raises(OrderExists) as again:  # a retry of the same checkout
        await book.place(kept, _placed())
    assert again.value.order.id == placed.id
    assert count(engine, orders, orders.c.uuid == kept.uuid) == 1
    assert count(engine, outbox_events) == 1


async def test_an_order_on_the_books_without_a_fate_is_never_abandoned(engine: Engine) -> None:
    """Orders legacy took (or the service placed before fates were written) have none."""
    user, book = a_user(engine), SqlOrderBook(engine)
    with engine.begin() as conn:
        made = conn.execute(
            insert(db.orders).values(
                user_id=user,
                status="placed",
                subtotal_cents=100,
                discount_cents=0,
                shipping_cents=0,
                tax_cents=0,
                total_cents=100,
                email_sent=True,
                created_at=datetime.now(),
            )
        ).inserted_primary_key[0]
        legacy_order = conn.execute(select(orders.c.uuid).where(orders.c.id == made)).scalar_one()
    assert not await book.abandon(legacy_order, datetime.now(UTC))  # minted by the database
