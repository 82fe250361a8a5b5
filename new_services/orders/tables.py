"""The orders domain's tables: the legacy `orders`, `order_items` and `cart_items`, with the
columns the expand steps added (uuid, deleted_at, metadata), as far as orders uses them.

Times are naive UTC with seconds precision, the way the legacy app writes them into the
same columns, so orders written by either path sort together.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Uuid
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
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
    Column("metadata", JSON().with_variant(JSONB(), "postgresql")),
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
