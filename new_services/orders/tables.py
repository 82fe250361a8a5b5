"""The orders domain's tables: the legacy `orders`, `order_items` and `cart_items`, with the
columns the expand steps added (uuid, deleted_at, metadata), as far as orders uses them.

Times are naive UTC with seconds precision, the way the legacy app writes them into the
same columns, so orders written by either path sort together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Uuid

from new_services.platform.database import json_document

metadata = MetaData()


def _order_columns() -> list[Column[Any]]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("uuid", Uuid),
        Column("user_id", Integer, nullable=False),
        Column("status", String(20), nullable=False),
        Column("subtotal_cents", Integer, nullable=False),
        Column("discount_code", String(32)),
        Column("discount_cents", Integer, nullable=False),
        Column("shipping_cents", Integer, nullable=False),
        Column("tax_cents", Integer, nullable=False),
        Column("total_cents", Integer, nullable=False),
        Column("charge_id", String(64)),
        Column("created_at", DateTime, nullable=False),
        Column("deleted_at", DateTime(timezone=True)),
        # what orders keeps beside the legacy columns: {"payment_id": ...}
        Column("metadata", json_document()),
    ]


orders = Table("orders", metadata, *_order_columns())

# `orders` before the contract step (0006) drops the legacy NOT NULL `email_sent`: new
# orders must still write it there. The e-mail now leaves through the outbox, so false.
orders_with_email_flag = Table(
    "orders", MetaData(), *_order_columns(), Column("email_sent", Boolean, nullable=False)
)

order_items = Table(
    "order_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("product_name", String(200), nullable=False),
    Column("unit_price_cents", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
)

cart_items = Table(
    "cart_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("product_id", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("added_at", DateTime, nullable=False),
)


# What became of each order a checkout charged for (0005e_order_fates): the order's commit
# writes "placed", the settler of charges with no order "abandoned"; the key lets one in.
order_fates = Table(
    "order_fates",
    metadata,
    Column("order_uuid", Uuid, primary_key=True),
    Column("fate", String(16), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)
