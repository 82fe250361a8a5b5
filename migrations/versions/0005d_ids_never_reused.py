"""Expand: on SQLite, an order or product id is never given out again.

The legacy app makes its tables without AUTOINCREMENT, so SQLite gives a new row the
highest id in the table plus one: when legacy hard-deletes the newest order (a cancel),
the next order gets the same id, and two customers get "Your order #1010" (an analytics
event, an e-mail and `GET /orders/1010` then mix them up). The tables are rebuilt with
AUTOINCREMENT, whose counter only goes up, and the counter is set past every id that
something still mentions (order lines, analytics events, cart lines, stock holds), so an
id deleted before this step is not reused either. PostgreSQL's sequences never go back:
nothing to do there.

It goes before the contract step (`0006_contract_orders`), as every expand does while
that step is still pending everywhere (migrations/README.md).

Revision ID: 0005d_ids_never_reused
Revises: 0005c_payments_settling_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import dialect, rebuilt

revision = "0005d_ids_never_reused"
down_revision = "0005c_payments_settling_indexes"
branch_labels = None
depends_on = None
PHASE = "expand"  # additive: the legacy app keeps working

LOSES_ON_DOWNGRADE = None  # the tables keep every row; only the counter goes

# each table, and the columns elsewhere that name its ids (table names are constants)
MENTIONED_IN = {
    "orders": (("order_items", "order_id"), ("analytics_events", "order_id")),
    "products": (
        ("order_items", "product_id"),
        ("cart_items", "product_id"),
        ("stock_reservations", "product_id"),
    ),
}


def upgrade() -> None:
    if dialect() != "sqlite":
        return
    bind = op.get_bind()
    for table, mentions in MENTIONED_IN.items():
        if not _autoincrement(table):
            with rebuilt(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
                pass
        highest = max(
            bind.execute(sa.text(f"SELECT coalesce(max({column}), 0) FROM {name}")).scalar_one()  # noqa: S608
            for name, column in ((table, "id"), *mentions)
        )
        bind.execute(
            sa.text("DELETE FROM sqlite_sequence WHERE name = :t"),
            {"t": table},
        )
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :seq)"),
            {"t": table, "seq": highest},
        )


def downgrade() -> None:
    if dialect() != "sqlite":
        return
    for table in reversed(MENTIONED_IN):
        if _autoincrement(table):
            with rebuilt(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
                pass


def _autoincrement(table: str) -> bool:
    sql = op.get_bind().execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
    )
    return "AUTOINCREMENT" in str(sql.scalar_one()).upper()
