"""`strangler seed` fills an empty shop deterministically, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import create_engine, func, select

from legacy_app import db
from strangler.seed import SeedSizes, ShopNotEmptyError, seed

SIZES = SeedSizes(users=7, products=11, orders=60)


def fingerprint(url: str) -> dict[str, object]:
    """Row counts, money sums and a hash of the business columns of every table."""
    engine = create_engine(url)
    result: dict[str, object] = {}
    try:
        with engine.connect() as conn:
            for table in (db.users, db.products, db.orders, db.order_items, db.analytics_events):
                columns = [c for c in table.c if c.name not in ("id",)]
                rows = conn.execute(select(*columns).order_by(table.c.id)).all()
                digest = hashlib.sha256(
                    repr([tuple(map(str, row)) for row in rows]).encode()
                ).hexdigest()
                result[table.name] = (len(rows), digest)
            result["revenue"] = conn.execute(select(func.sum(db.orders.c.total_cents))).scalar_one()
    finally:
        engine.dispose()
    return result


def test_the_same_seed_gives_the_same_shop(
    fresh_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = f"sqlite:///{tmp_path_factory.mktemp('other') / 'other.db'}"
    reports = []
    for url in (fresh_database_url, other):
        engine = create_engine(url)
        try:
            reports.append(seed(engine, SIZES, seed_value=7))
        finally:
            engine.dispose()
    assert reports[0] == reports[1]
    assert reports[0].orders == 60 and reports[0].users == 7 and reports[0].products == 11
    assert fingerprint(fresh_database_url) == fingerprint(other)


def test_a_different_seed_gives_a_different_shop(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url)
    try:
        first = seed(engine, SIZES, seed_value=1)
        second = seed(engine, SIZES, seed_value=2, reset=True)
    finally:
        engine.dispose()
    assert first.revenue_cents != second.revenue_cents


def test_seeding_refuses_a_shop_that_already_has_rows_unless_reset(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url)
    try:
        seed(engine, SIZES)
        with pytest.raises(ShopNotEmptyError, match="use --reset"):
            seed(engine, SIZES)
        again = seed(engine, SIZES, reset=True)
    finally:
        engine.dispose()
    assert again.orders == SIZES.orders
    counts = fingerprint(fresh_database_url)
    assert counts["orders"][0] == SIZES.orders  # type: ignore[index]
