"""Stock holds on a real database: 200 concurrent checkouts for 10 units get exactly 10
holds (the legacy read-modify-write sells more, tests/contract/test_stock_race.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from sqlalchemy import Engine, func, insert, select

from legacy_app import db
from migrations import history
from new_services.catalog import jobs
from new_services.catalog.inventory import Inventory, Line, NotEnoughStock
from new_services.catalog.tables import products, stock_reservations
from new_services.outbox_relay.routes import ROUTES
from new_services.platform import outbox
from new_services.platform.outbox import Relay
from tests.integration.migrating import engine_at


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
        yield engine


def a_product(engine: Engine, stock: int) -> int:
    now = datetime(2026, 1, 1)
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(db.products).values(
                    sku=f"SKU-{uuid.uuid4().hex[:8]}",
                    name="Teapot",
                    price_cents=1999,
                    stock=stock,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
        )


def stock_of(engine: Engine, product_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(products.c.stock).where(products.c.id == product_id)).scalar_one()
        )


def holds(engine: Engine, state: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(stock_reservations.c.state == state)
            ).scalar_one()
        )


def test_two_hundred_concurrent_checkouts_for_ten_units_get_exactly_ten(engine: Engine) -> None:
    teapot = a_product(engine, stock=10)
    inventory = Inventory(engine)

    def checkout(_: int) -> bool:
        try:
            inventory.reserve(uuid.uuid4(), [Line(teapot, 1)])
        except NotEnoughStock:
            return False
        return True

    with ThreadPoolExecutor(max_workers=32) as pool:
        won = sum(pool.map(checkout, range(200)))
    assert won == 10
    assert stock_of(engine, teapot) == 0
    assert holds(engine, "held") == 10


def test_a_hold_is_all_lines_or_none_and_released_or_committed(engine: Engine) -> None:
    teapot, cups = a_product(engine, stock=5), a_product(engine, stock=1)
    inventory = Inventory(engine)
    with pytest.raises(NotEnoughStock) as short:
        inventory.reserve(uuid.uuid4(), [Line(teapot, 2), Line(cups, 2)])
    assert short.value.product_id == cups
    assert (stock_of(engine, teapot), stock_of(engine, cups)) == (5, 1)  # nothing kept

    paid, failed = uuid.uuid4(), uuid.uuid4()
    inventory.reserve(paid, [Line(teapot, 2), Line(cups, 1)])
    inventory.reserve(paid, [Line(teapot, 2), Line(cups, 1)])  # a retry holds nothing more
    inventory.reserve(failed, [Line(teapot, 3)])
    assert (stock_of(engine, teapot), stock_of(engine, cups)) == (0, 0)
    assert inventory.release(failed) == 1  # the payment failed: its units go back
    assert inventory.release(failed) == 0  # and only once
    inventory.commit(paid)
    assert inventory.release(paid) == 0  # a placed order's units stay sold
    assert (stock_of(engine, teapot), stock_of(engine, cups)) == (3, 0)


def test_holds_of_checkouts_that_never_finished_are_released(engine: Engine) -> None:
    teapot = a_product(engine, stock=4)
    Inventory(engine, hold_for=timedelta(seconds=-1)).reserve(uuid.uuid4(), [Line(teapot, 3)])
    Inventory(engine).reserve(uuid.uuid4(), [Line(teapot, 1)])
    assert Inventory(engine).release_expired() == 1
    assert stock_of(engine, teapot) == 3 and holds(engine, "held") == 1


def test_a_placed_orders_event_makes_its_hold_final_so_the_sweeper_leaves_it(
    engine: Engine, fresh_database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the outbox relay's real routes and a burst catalog worker: the order's event
    commits its hold, however the orders process fared after answering; a hold whose
    checkout died before placing its order goes back on sale when it expires."""
    teapot = a_product(engine, stock=5)
    expired = Inventory(engine, hold_for=timedelta(seconds=-1))  # both run out at once
    placed, abandoned = uuid.uuid4(), uuid.uuid4()
    expired.reserve(placed, [Line(teapot, 2)])
    expired.reserve(abandoned, [Line(teapot, 1)])
    with engine.begin() as conn:
        payload = {"hold_id": str(placed), "order_uuid": str(uuid.uuid4())}
        outbox.append(conn, outbox.Event("order.placed", payload["order_uuid"], payload))
    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    jobs.engine.cache_clear()  # the worker process's engine: this test's database
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    try:
        with Redis.from_url(redis_url) as redis:
            assert Relay(engine, redis, ROUTES, namespace=namespace).publish_pending() == 1
            queue = Queue(f"{namespace}-catalog", connection=redis)
            (job,) = queue.get_jobs()
            SimpleWorker([queue], connection=redis).work(burst=True)
            assert Job.fetch(job.id, connection=redis).return_value() == "committed"
            # a second delivery changes nothing
            assert jobs.on_order_placed(job.args[0]) == "committed"
            for other in ("notifications", "analytics"):
                Queue(f"{namespace}-{other}", connection=redis).empty()
    finally:
        jobs.engine().dispose()
        jobs.engine.cache_clear()

    assert Inventory(engine).release_expired() == 1  # the abandoned checkout's line only
    assert stock_of(engine, teapot) == 3
    assert (holds(engine, "committed"), holds(engine, "released")) == (1, 1)


def test_a_dry_run_hold_answers_while_a_legacy_writer_holds_the_rows_and_takes_nothing(
    engine: Engine,
) -> None:
    """A mirrored checkout's hold must never make legacy wait (nor deadlock with it): while
    another transaction holds the products' rows (and, on SQLite, the write lock), a dry
    run answers at once, as the real hold would, and changes no stock."""
    low, high = a_product(engine, stock=5), a_product(engine, stock=1)
    inventory = Inventory(engine)
    lines = [Line(high, 1), Line(low, 2)]
    with engine.begin() as legacy:  # a legacy checkout, mid-way through writing stock
        for product_id in (high, low):
            legacy.execute(
                products.update().where(products.c.id == product_id).values(name="Teapot")
            )
        pool = ThreadPoolExecutor(max_workers=1)
        try:  # a dry run that waits would wait for this very transaction: never wait for it
            fits = pool.submit(inventory.reserve, uuid.uuid4(), lines, dry_run=True)
            assert fits.result(timeout=5) is True
            too_many = pool.submit(inventory.reserve, uuid.uuid4(), [Line(high, 2)], dry_run=True)
            with pytest.raises(NotEnoughStock):
                too_many.result(timeout=5)
        finally:
            pool.shutdown(wait=False)
    assert (stock_of(engine, low), stock_of(engine, high)) == (5, 1)
    assert holds(engine, "held") == 0


@pytest.mark.parametrize("write", ["hold", "restock", "release"])
def test_the_catalog_never_deadlocks_a_legacy_checkout_that_locks_in_cart_order(
    engine: Engine, write: str
) -> None:
    """Legacy's checkout writes its cart's products in cart order (here the higher id first),
    the catalog in id order. Were the catalog to wait for the row legacy holds while holding
    the one legacy wants next, PostgreSQL would abort one of them: a legacy checkout that has
    already charged the card. The catalog never waits while it holds a row: legacy's
    transaction commits, and the catalog's write goes through right after it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite locks the whole database: writers queue, they cannot deadlock")
    low, high = a_product(engine, stock=5), a_product(engine, stock=5)
    inventory = Inventory(engine)
    held = uuid.uuid4()
    if write == "release":
        assert inventory.reserve(held, [Line(low, 1), Line(high, 1)])
    calls = {
        "hold": lambda: inventory.reserve(uuid.uuid4(), [Line(low, 1), Line(high, 1)]),
        "restock": lambda: inventory.restock(uuid.uuid4(), [Line(low, 1), Line(high, 1)]),
        "release": lambda: inventory.release(held),
    }
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        with engine.begin() as legacy:  # a legacy checkout writing its cart's stock
            legacy.execute(products.update().where(products.c.id == high).values(stock=4))
            catalog = pool.submit(calls[write])
            time.sleep(0.3)  # the catalog meets the row legacy holds, and must let go of its own
            legacy.execute(products.update().where(products.c.id == low).values(stock=4))
        catalog.result(timeout=10)
    finally:
        pool.shutdown(wait=False)
    change = {"hold": -1, "restock": 1, "release": 1}[write]
    assert (stock_of(engine, low), stock_of(engine, high)) == (4 + change, 4 + change)
