"""Contract (orders): the orders domain's tables become the extracted service's alone.

- `orders.uuid` and `order_items.uuid` become NOT NULL (the backfill filled every row;
  new rows get one from the column default);
- `order_items.order_id` gets its foreign key to `orders` (no orphans allowed);
- `orders.email_sent` is dropped: only the legacy checkout's synchronous e-mail wrote
  it; the orders service hands e-mail to the outbox and notifications instead.

Preconditions, checked first, each failure named: the backfill of both tables finished;
no orphaned order lines; and every route that reaches these tables goes to the extracted
service only (extracted mode, no fallback), read from the gateway's live route table,
because after this step the legacy code that reads and writes `email_sent` would fail.
Other domains (users, catalog, cart) get their own contract step once their routes are
cut over; until then their UUIDs stay nullable with a default.

Revision ID: 0006_contract_orders
Revises: 0005g_product_generation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from migrations import preconditions
from migrations.ops import (
    add_foreign_key_online,
    dialect,
    mint_uuids_for_new_rows,
    rebuilt,
    set_not_null_online,
    short_transactions,
    stop_minting_uuids,
    with_lock_retries,
)
from migrations.uuid_sql import SQLITE_UUID4

revision = "0006_contract_orders"
down_revision = "0005g_product_generation"
branch_labels = None
depends_on = None
PHASE = "contract"  # destructive: checks its preconditions first

LOSES_ON_UPGRADE = "orders.email_sent (whether the legacy checkout sent each order's e-mail)"
LOSES_ON_DOWNGRADE = "nothing, but orders.email_sent comes back as true for every order"

TABLES = ("orders", "order_items")
LEGACY_REQUESTS = (  # every legacy endpoint that touches orders or order_items
    ("POST", "/users/1/checkout"),
    ("GET", "/users/1/orders"),
    ("GET", "/orders/1"),
    ("POST", "/orders/1/cancel"),
    ("GET", "/reports/sales"),
    # Flask answers HEAD with the GET view: a route that lists only GET leaves HEAD to legacy
    ("HEAD", "/users/1/orders"),
    ("HEAD", "/orders/1"),
    ("HEAD", "/reports/sales"),
)


def check(conn: sa.Connection, routes: preconditions.RouteSource) -> list[str]:
    """Every failed precondition, in words (empty when the step may run)."""
    return [
        *preconditions.backfill_finished(conn, TABLES),
        *preconditions.no_orphans(conn, "order_items", "order_id", "orders"),
        *preconditions.retired_from_legacy(
            routes, LEGACY_REQUESTS, "the legacy code reads and writes orders.email_sent"
        ),
    ]


def upgrade() -> None:
    routes = context.config.attributes.get("route_table", preconditions.stack_route_table)
    preconditions.require(revision, check(op.get_bind(), routes))
    if dialect() == "postgresql":
        with short_transactions():
            for table in TABLES:
                set_not_null_online(table, "uuid")
            add_foreign_key_online("order_items", "order_id", "orders")
            with_lock_retries(lambda: op.drop_column("orders", "email_sent"))
        return
    # SQLite rebuilds a table to change a column; the rebuilt table carries the UUID
    # default in its definition (which ALTER TABLE could not add), so the trigger goes.
    for table in TABLES:
        stop_minting_uuids(table)
        with rebuilt(table, recreate="always") as batch:
            batch.alter_column(
                "uuid",
                existing_type=sa.Uuid(),
                nullable=False,
                server_default=sa.text(f"({SQLITE_UUID4})"),
            )
            if table == "orders":
                batch.drop_column("email_sent")
            else:
                batch.create_foreign_key(
                    "fk_order_items_order_id_orders", "orders", ["order_id"], ["id"]
                )


def downgrade() -> None:
    if dialect() == "postgresql":
        op.add_column(
            "orders",
            sa.Column("email_sent", sa.Boolean, nullable=False, server_default=sa.true()),
        )
        op.alter_column("orders", "email_sent", server_default=None)
        op.drop_constraint("fk_order_items_order_id_orders", "order_items", type_="foreignkey")
        for table in TABLES:
            op.alter_column(table, "uuid", nullable=True)
        return
    for table in TABLES:
        with rebuilt(table, recreate="always") as batch:
            batch.alter_column("uuid", existing_type=sa.Uuid(), nullable=True, server_default=None)
            if table == "orders":
                batch.add_column(
                    sa.Column("email_sent", sa.Boolean, nullable=False, server_default=sa.true())
                )
            else:
                batch.drop_constraint("fk_order_items_order_id_orders", type_="foreignkey")
        if table == "orders":
            with rebuilt(table, recreate="always") as batch:
                batch.alter_column("email_sent", existing_type=sa.Boolean, server_default=None)
        mint_uuids_for_new_rows(table)
