"""The catalog's tables: the legacy `products` (stock lives there) and `stock_reservations`
(0004_expand_service_tables), as far as inventory needs them."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Uuid

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("stock", Integer, nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)

stock_reservations = Table(
    "stock_reservations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Integer, nullable=False),
    Column("order_uuid", Uuid),
    Column("quantity", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
