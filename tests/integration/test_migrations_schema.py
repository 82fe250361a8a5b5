"""The Alembic history on a real database: baseline equals the app, expand is additive,
every step round-trips without changing a row (SQLite, or PostgreSQL via DATABASE_URL)."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import MetaData, insert, inspect, text
from sqlalchemy.exc import OperationalError

from legacy_app import db
from migrations import database, history, ops
from migrations.fingerprint import uuid_coverage
from migrations.history import HistoryError, schema_differences
from tests.integration.migrating import engine_at, prints, routes_table, run_backfill, seeded

EXPAND = "0005g_product_generation"  # the expand head


def reflected(url: str) -> MetaData:
    with engine_at(url) as engine:
        metadata = MetaData()
        metadata.reflect(engine)
        if "alembic_version" in metadata.tables:
            metadata.remove(metadata.tables["alembic_version"])
        return metadata


def test_the_baseline_creates_exactly_the_schema_the_legacy_app_creates(
    new_database: Callable[[], str],
) -> None:
    by_app, by_baseline = new_database(), new_database()
    with engine_at(by_app) as engine:
        db.create_tables(engine)
    with engine_at(by_baseline) as engine:
        history.upgrade(engine, "0001_baseline")
        with engine.connect() as conn:
            assert history.current(conn) == "0001_baseline"
            assert schema_differences(conn, db.metadata) == []
            assert schema_differences(conn, reflected(by_app)) == []
    with engine_at(by_app) as engine, engine.connect() as conn:
        assert schema_differences(conn, reflected(by_baseline)) == []


def test_a_database_the_app_made_is_adopted_at_the_baseline_and_upgraded_without_a_row_changing(
    fresh_database_url: str,
) -> None:
    seeded(fresh_database_url)
    before = prints(fresh_database_url)
    with engine_at(fresh_database_url) as engine:
        with pytest.raises(HistoryError, match="strangler migrate adopt"):
            history.upgrade(engine)
        history.adopt(engine)
        history.upgrade(engine, "expand")
        with engine.connect() as conn:
            assert history.current(conn) == EXPAND
    assert prints(fresh_database_url) == before


def test_adopting_refuses_a_schema_that_is_not_the_baseline_and_says_what_differs(
    fresh_database_url: str,
) -> None:
    with engine_at(fresh_database_url) as engine:
        db.create_tables(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE orders ADD COLUMN coupon VARCHAR(20)")
        with pytest.raises(HistoryError, match="coupon"):
            history.adopt(engine)
        with engine.connect() as conn:
            assert history.current(conn) is None


def test_expand_only_adds_to_the_legacy_schema(fresh_database_url: str) -> None:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
        with engine.connect() as conn:
            differences = schema_differences(conn, db.metadata)
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in differences}
    # "remove_*": the database has something the legacy schema lacks; nothing else allowed
    assert kinds <= {"remove_table", "remove_column", "remove_index"}, differences
    added_columns = {(d[2], d[3].name) for d in differences if d[0] == "remove_column"}
    assert ("orders", "uuid") in added_columns and ("products", "deleted_at") in added_columns
    added_tables = {d[1].name for d in differences if d[0] == "remove_table"}
    assert {"outbox_events", "idempotency_records", "stock_reservations"} <= added_tables


def test_rows_the_legacy_code_inserts_after_expand_get_a_uuid_from_the_database(
    fresh_database_url: str,
) -> None:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
        with engine.begin() as conn:  # the legacy app's own table objects: no uuid column
            conn.execute(
                insert(db.users).values(
                    email="new@example.com", name="New", created_at=datetime(2026, 3, 1)
                )
            )
    assert a_legacy_order_gets_a_uuid(fresh_database_url)
    with engine_at(fresh_database_url) as engine, engine.connect() as conn:
        coverage = uuid_coverage(conn)
        raw = conn.exec_driver_sql("SELECT uuid FROM orders").scalar_one()
    assert coverage["users"] == {"rows": 1, "with_uuid": 1, "distinct": 1}
    assert coverage["orders"] == {"rows": 1, "with_uuid": 1, "distinct": 1}
    assert uuid.UUID(str(raw)).version == 4


def test_after_expand_an_id_the_legacy_app_deleted_is_never_given_again(
    fresh_database_url: str,
) -> None:
    """Legacy cancels an order by deleting it, and deletes products. On SQLite without
    AUTOINCREMENT the next row took the deleted newest id: two customers' "order #1010".
    That holds for ids deleted before the expand step too, wherever something still names
    them (here: an analytics event of the cancelled order, a line of a deleted product)."""
    url = fresh_database_url
    seeded(url, orders=3)
    with engine_at(url) as engine, engine.begin() as conn:
        newest = conn.execute(text("SELECT max(id) FROM orders")).scalar_one()
        product = conn.execute(text("SELECT max(product_id) FROM order_items")).scalar_one()
        conn.execute(text("DELETE FROM order_items WHERE order_id = :id"), {"id": newest})
        conn.execute(text("DELETE FROM orders WHERE id = :id"), {"id": newest})
        conn.execute(
            insert(db.analytics_events).values(
                name="order_placed", order_id=newest, created_at=datetime(2026, 3, 1)
            )
        )
        conn.execute(text("DELETE FROM products WHERE id >= :id"), {"id": product})
        conn.execute(
            insert(db.order_items).values(
                order_id=1, product_id=product, product_name="Gone", unit_price_cents=1, quantity=1
            )
        )
    with engine_at(url) as engine:
        history.adopt(engine)
        history.upgrade(engine, "expand")
    new_order = insert_order(url)
    assert new_order > newest
    assert insert_order(url) == new_order + 1
    with engine_at(url) as engine, engine.begin() as conn:  # the newest goes, as a cancel does
        conn.execute(text("DELETE FROM orders WHERE id = :id"), {"id": new_order + 1})
    assert insert_order(url) == new_order + 2
    with engine_at(url) as engine, engine.begin() as conn:
        made = conn.execute(
            insert(db.products).values(
                sku="NEW-1",
                name="New",
                price_cents=1,
                stock=1,
                created_at=datetime(2026, 3, 1),
                updated_at=datetime(2026, 3, 1),
            )
        ).inserted_primary_key[0]
    assert made > product


def insert_order(url: str) -> int:
    """An order inserted as the legacy app does; its id."""
    with engine_at(url) as engine, engine.begin() as conn:
        return int(
            conn.execute(
                insert(db.orders).values(
                    user_id=1,
                    status="placed",
                    subtotal_cents=100,
                    discount_cents=0,
                    shipping_cents=0,
                    tax_cents=8,
                    total_cents=108,
                    email_sent=True,
                    created_at=datetime(2026, 3, 1),
                )
            ).inserted_primary_key[0]
        )


def test_every_step_round_trips_and_the_data_fingerprint_stays_equal(
    fresh_database_url: str,
) -> None:
    seeded(fresh_database_url, orders=500)
    before = prints(fresh_database_url)
    before_but_the_dropped_flag = prints(fresh_database_url, exclude={"orders.email_sent"})
    with engine_at(fresh_database_url) as engine:
        history.adopt(engine)
        history.upgrade(engine, "expand")
    at_expand = reflected(fresh_database_url)
    assert len(run_backfill(fresh_database_url)) == 5
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "head", routes=routes_table)
        with engine.connect() as conn:
            assert history.current(conn) == history.head()
            columns = {c["name"]: c for c in inspect(conn).get_columns("orders")}
            assert "email_sent" not in columns
            assert columns["uuid"]["nullable"] is False
            assert uuid_coverage(conn)["orders"] == {"rows": 500, "with_uuid": 500, "distinct": 500}
    assert prints(fresh_database_url, exclude={"orders.email_sent"}) == before_but_the_dropped_flag
    with engine_at(fresh_database_url) as engine:
        history.downgrade(engine, EXPAND)
        with engine.connect() as conn:
            assert schema_differences(conn, at_expand) == []
        history.downgrade(engine, "0001_baseline")
        with engine.connect() as conn:
            assert schema_differences(conn, db.metadata) == []
    assert prints(fresh_database_url) == before  # seeded orders all had email_sent = true


def triggers(url: str) -> set[str]:
    """SQLite's triggers (PostgreSQL mints UUIDs with column defaults, which compare_metadata
    sees through compare_server_default)."""
    if not url.startswith("sqlite"):
        return set()
    with engine_at(url) as engine, engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return {row[0] for row in rows}


def a_legacy_order_gets_a_uuid(url: str) -> bool:
    """Insert an order the way the legacy app does and say whether the database minted
    its UUID (False when the schema has no uuid column yet)."""
    with engine_at(url) as engine:
        with engine.begin() as conn:
            new_id = conn.execute(
                insert(db.orders).values(
                    user_id=1,
                    status="placed",
                    subtotal_cents=100,
                    discount_cents=0,
                    shipping_cents=0,
                    tax_cents=8,
                    total_cents=108,
                    email_sent=True,
                    created_at=datetime(2026, 3, 1),
                )
            ).inserted_primary_key[0]
        with engine.connect() as conn:
            if "uuid" not in {c["name"] for c in inspect(conn).get_columns("orders")}:
                return False
            minted = conn.execute(text("SELECT uuid FROM orders WHERE id = :id"), {"id": new_id})
            return minted.scalar_one() is not None


def test_each_step_down_and_up_again_restores_schema_triggers_and_uuid_minting(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    steps = [s.revision for s in reversed(list(history.scripts().walk_revisions()))]
    seeded(url, orders=40)
    with engine_at(url) as engine:
        history.adopt(engine)
    for below, step in itertools.pairwise(steps[:-1]):  # each step up to the last expand
        with engine_at(url) as engine:
            history.upgrade(engine, step)
        at_step, minting = reflected(url), triggers(url)
        assert a_legacy_order_gets_a_uuid(url)
        with engine_at(url) as engine:
            history.downgrade(engine, below)
            history.upgrade(engine, step)
            with engine.connect() as conn:
                assert schema_differences(conn, at_step) == [], step
        assert triggers(url) == minting, step
        assert a_legacy_order_gets_a_uuid(url), f"no uuid for a new order after redoing {step}"


def test_upgrading_to_expand_after_the_contract_step_is_a_no_op(fresh_database_url: str) -> None:
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "expand")
    run_backfill(fresh_database_url)
    with engine_at(fresh_database_url) as engine:
        history.upgrade(engine, "head", routes=routes_table)
        with engine.connect() as conn:
            assert history.plan(conn, "expand") == []
        history.upgrade(engine, "expand")  # what docker-compose's migrate service runs
        with engine.connect() as conn:
            assert history.current(conn) == history.head()


@pytest.mark.skipif(
    (os.environ.get("DATABASE_URL") or "sqlite").startswith("sqlite"),
    reason="SQLite runs a revision as one transaction; see the test below",
)
def test_an_expand_that_gave_up_on_a_busy_table_finishes_when_run_again(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, new_database: Callable[[], str]
) -> None:
    monkeypatch.setattr(database, "LOCK_TIMEOUT", "100ms")
    monkeypatch.setattr(ops, "LOCK_ATTEMPTS", 2)
    seeded(fresh_database_url, orders=20)
    with engine_at(fresh_database_url) as engine:
        history.adopt(engine)
        with engine.connect() as blocker:  # a long transaction that has read orders
            blocker.exec_driver_sql("SELECT count(*) FROM orders")
            with pytest.raises(RuntimeError, match="lock timeouts"):
                history.upgrade(engine, "expand")
            blocker.rollback()
        with engine.connect() as conn:
            assert history.current(conn) == "0001_baseline"
            half_done = {c["name"] for c in inspect(conn).get_columns("users")}
        assert "uuid" in half_done  # the tables before orders were already expanded
        history.upgrade(engine, "expand")
    clean = new_database()
    with engine_at(clean) as engine:
        history.upgrade(engine, "expand")
    with engine_at(fresh_database_url) as engine, engine.connect() as conn:
        assert history.current(conn) == EXPAND
        assert schema_differences(conn, reflected(clean)) == []


@pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") or "sqlite").startswith("sqlite"),
    reason="PostgreSQL commits expand statement by statement; see the test above",
)
def test_a_revision_that_fails_on_sqlite_leaves_nothing_behind(fresh_database_url: str) -> None:
    seeded(fresh_database_url, orders=20)
    with engine_at(fresh_database_url) as engine:
        history.adopt(engine)
        with engine.begin() as conn:  # takes the name 0002's last index wants
            conn.exec_driver_sql("CREATE VIEW uq_order_items_uuid AS SELECT 1")
        with pytest.raises(OperationalError, match="uq_order_items_uuid"):
            history.upgrade(engine, "expand")
        with engine.connect() as conn:
            assert history.current(conn) == "0001_baseline"
            assert schema_differences(conn, db.metadata) == []  # no column, table or trigger
            assert not inspect(conn).has_table("backfill_progress")
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP VIEW uq_order_items_uuid")
        history.upgrade(engine, "expand")
        with engine.connect() as conn:
            assert history.current(conn) == EXPAND
