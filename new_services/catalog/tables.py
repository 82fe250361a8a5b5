"""The catalog's tables: the legacy `products` (stock lives there) with the columns the
expand steps added, `stock_reservations` (0004_expand_service_tables) and
`product_generation` (0005g_product_generation, bumped by triggers, only read here)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Uuid

metadata = MetaData()

products = Table(
    "products",
    metadata,
    # INTEGER in the database; bound as BIGINT so that an id past 2**31 - 1 (v1 accepts up
    # to 2**63 - 1, as legacy does) finds nothing on PostgreSQL instead of failing the cast
    Column("id", BigInteger, primary_key=True),
    # minted by the database for new rows (0002); older rows get theirs from the backfill
    Column("uuid", Uuid),
    Column("sku", String(64), nullable=False, unique=True),  # also across soft-deleted rows
    Column("name", String(200), nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("stock", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),  # naive UTC, as the legacy app writes
    Column("updated_at", DateTime, nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)

stock_reservations = Table(
    "stock_reservations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", BigInteger, nullable=False),
    Column("order_uuid", Uuid),
    Column("quantity", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


product_generation = Table(
    "product_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # one row: 1
    Column("generation", BigInteger, nullable=False),
)


def legacy_now() -> datetime:
    """A time for `created_at` / `updated_at`: naive UTC to the second, as legacy writes
    them (the columns have no zone, so an aware value would be shifted by the session's)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
