"""The users service's table: the legacy `users`, with the `uuid` the expand step 0002 added."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Uuid

metadata = MetaData()

users = Table(
    "users",
    metadata,
    # INTEGER in the database; bound as BIGINT so that an id past 2**31 - 1 (v1 accepts up
    # to 2**63 - 1, as legacy does) finds nothing on PostgreSQL instead of failing the cast
    Column("id", BigInteger, primary_key=True),
    # minted by the database for new rows (0002); older rows get theirs from the backfill
    Column("uuid", Uuid),
    Column("email", String(255), nullable=False, unique=True),  # stored lower-cased
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),  # naive UTC, as the legacy app writes
)


def legacy_now() -> datetime:
    """A time for `created_at`: naive UTC to the second, as legacy writes it (the column has
    no zone, so an aware value would be shifted by the session's)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
