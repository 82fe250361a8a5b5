"""The SQL that mints UUIDs inside SQLite gives real, distinct version-4 UUIDs."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from migrations.uuid_sql import SQLITE_UUID4, uuid4_sql


def test_sqlite_mints_distinct_version_4_uuids_in_sqlalchemys_storage_format() -> None:
    with sqlite3.connect(":memory:") as conn:
        minted = [conn.execute(f"SELECT {SQLITE_UUID4}").fetchone()[0] for _ in range(2000)]
    assert len(set(minted)) == len(minted)
    for raw in minted:
        assert len(raw) == 32 and raw == raw.lower()  # how sqlalchemy.Uuid stores one
        parsed = uuid.UUID(hex=raw)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_dialect_without_an_expression_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="mysql"):
        uuid4_sql("mysql")
