"""Fill the legacy shop's database deterministically, from a handful of rows to 100,000 orders."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, MetaData, func, insert, select, text

from legacy_app import db

# Seeded orders fall in the year before this instant, whatever day the seed runs.
ANCHOR = datetime(2026, 1, 1)
CHUNK = 5_000


@dataclass(frozen=True)
class SeedSizes:
    users: int = 20
    products: int = 30
    orders: int = 50


@dataclass(frozen=True)
class SeedReport:
    users: int
    products: int
    orders: int
    order_items: int
    revenue_cents: int


class ShopNotEmptyError(RuntimeError):
    """Seeding refuses to mix with existing rows; reset first."""


def _price(subtotal: int) -> tuple[int, int, int]:
    """Shipping, tax and total for an order without a discount code (legacy_app/API.md)."""
    shipping = 499 if subtotal < 5000 else 0
    tax = (subtotal * 8 + 50) // 100
    return shipping, tax, subtotal + shipping + tax


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def seed(
    engine: Engine,
    sizes: SeedSizes,
    seed_value: int = 42,
    reset: bool = False,
    progress: Callable[[str, int], None] = lambda _stage, _n: None,
) -> SeedReport:
    """Create the schema if needed and insert users, products, orders and their lines."""
    if reset:
        drop_everything(engine)
    db.create_tables(engine)  # a no-op on a migrated database
    rng = random.Random(seed_value)
    with engine.begin() as conn:
        for table in (db.users, db.products, db.orders):
            if conn.execute(select(func.count()).select_from(table)).scalar_one():
                raise ShopNotEmptyError(
                    f"table {table.name} already has rows; seed an empty shop (use --reset)"
                )

        users = [
            {
                "email": f"user{n}@example.com",
                "name": f"User {n}",
                "created_at": ANCHOR - timedelta(days=400, minutes=n),
            }
            for n in range(1, sizes.users + 1)
        ]
        user_ids = _insert_returning_ids(conn, db.users, users)
        progress("users", len(user_ids))

        products: list[dict[str, Any]] = []
        for n in range(1, sizes.products + 1):
            products.append(
                {
                    "sku": f"SKU-{n:05d}",
                    "name": f"Product {n}",
                    "price_cents": rng.randrange(199, 20_000),
                    "stock": rng.randrange(50, 5_000),
                    "created_at": ANCHOR - timedelta(days=400),
                    "updated_at": ANCHOR - timedelta(days=400),
                }
            )
        product_ids = _insert_returning_ids(conn, db.products, products)
        progress("products", len(product_ids))

        order_rows: list[dict[str, Any]] = []
        lines_per_order: list[list[dict[str, Any]]] = []
        for n in range(sizes.orders):
            picks = rng.sample(range(len(product_ids)), k=min(len(product_ids), rng.randint(1, 3)))
            lines: list[dict[str, Any]] = []
            for index in picks:
                product = products[index]
                lines.append(
                    {
                        "product_id": product_ids[index],
                        "product_name": product["name"],
                        "unit_price_cents": product["price_cents"],
                        "quantity": rng.randint(1, 3),
                    }
                )
            subtotal = sum(line["unit_price_cents"] * line["quantity"] for line in lines)
            shipping, tax, total = _price(subtotal)
            order_rows.append(
                {
                    "user_id": user_ids[rng.randrange(len(user_ids))],
                    "status": "placed",
                    "subtotal_cents": subtotal,
                    "discount_code": None,
                    "discount_cents": 0,
                    "shipping_cents": shipping,
                    "tax_cents": tax,
                    "total_cents": total,
                    "charge_id": f"ch_seed_{n:08d}",
                    "email_sent": True,
                    "created_at": ANCHOR - timedelta(seconds=rng.randrange(365 * 24 * 3600)),
                }
            )
            lines_per_order.append(lines)

        item_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        for chunk_start in range(0, len(order_rows), CHUNK):
            chunk = order_rows[chunk_start : chunk_start + CHUNK]
            ids = _insert_returning_ids(conn, db.orders, chunk)
            for offset, order_id in enumerate(ids):
                order = chunk[offset]
                for line in lines_per_order[chunk_start + offset]:
                    item_rows.append({"order_id": order_id, **line})
                event_rows.append(
                    {
                        "name": "order_placed",
                        "user_id": order["user_id"],
                        "order_id": order_id,
                        "amount_cents": order["total_cents"],
                        "payload": json.dumps(
                            {
                                "items": len(lines_per_order[chunk_start + offset]),
                                "discount_code": None,
                            }
                        ),
                        "created_at": order["created_at"],
                    }
                )
            progress("orders", len(chunk))
        for rows in _chunks(item_rows):
            conn.execute(insert(db.order_items), list(rows))
        for rows in _chunks(event_rows):
            conn.execute(insert(db.analytics_events), list(rows))
        progress("order_items", len(item_rows))
    with engine.begin() as conn:
        # Fresh statistics, as a live database has them (autovacuum would take its time):
        # without them the planner guesses, and every figure measured on the seed lies.
        conn.execute(text("ANALYZE"))

    return SeedReport(
        users=len(user_ids),
        products=len(product_ids),
        orders=len(order_rows),
        order_items=len(item_rows),
        revenue_cents=sum(order["total_cents"] for order in order_rows),
    )


def drop_everything(engine: Engine) -> None:
    """Every table, not only the legacy ones: a migrated database also holds the services'
    tables and alembic_version, and a half-reset one would lie about both."""
    everything = MetaData()
    everything.reflect(engine)
    everything.drop_all(engine)


def _insert_returning_ids(conn: Any, table: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    ids: list[int] = []
    for chunk in _chunks(rows):
        result = conn.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), list(chunk)
        )
        ids.extend(row[0] for row in result)
    return ids
