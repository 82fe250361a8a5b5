"""A data fingerprint: what must not change when the schema does.

Per legacy table: the row count and a hash of each business column, ordered by id;
plus the money and stock sums an accountant would check. Columns a migration adds
(uuid, deleted_at, metadata) are left out, so one fingerprint compares a database
before and after any step; `uuid_coverage` reports those separately.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, MetaData, Table, func, inspect, select

LEGACY_TABLES = ("users", "products", "cart_items", "orders", "order_items", "analytics_events")
ADDED_COLUMNS = frozenset({"uuid", "deleted_at", "metadata"})
SUMS = (
    ("orders", "total_cents"),
    ("orders", "tax_cents"),
    ("order_items", "unit_price_cents"),
    ("order_items", "quantity"),
    ("products", "price_cents"),
    ("products", "stock"),
)


def _canonical(value: Any) -> str:
    if isinstance(value, bool):  # SQLite hands back 0/1 where a schema says BOOLEAN loosely
        return str(int(value))
    return str(value)


def fingerprint(conn: Connection, exclude: Collection[str] = ()) -> dict[str, Any]:
    """`exclude`: "table.column" names to leave out (a column a step drops on purpose).
    Each column gets its own hash, so a difference names the column."""
    present = set(inspect(conn).get_table_names())
    metadata = MetaData()
    result: dict[str, Any] = {}
    for name in LEGACY_TABLES:
        if name not in present:
            continue
        table = Table(name, metadata, autoload_with=conn)
        columns = [
            c
            for c in sorted(table.c, key=lambda c: c.name)
            if c.name not in ADDED_COLUMNS and f"{name}.{c.name}" not in exclude
        ]
        digests = [hashlib.sha256() for _ in columns]
        rows = 0
        for row in conn.execute(select(*columns).order_by(table.c.id)):
            for digest, value in zip(digests, row, strict=True):
                digest.update(_canonical(value).encode() + b"\x1e")
            rows += 1
        result[name] = {
            "rows": rows,
            "columns": {c.name: d.hexdigest() for c, d in zip(columns, digests, strict=True)},
        }
    for name, column in SUMS:
        if name in present:
            table = metadata.tables[name]
            total = conn.execute(select(func.coalesce(func.sum(table.c[column]), 0))).scalar_one()
            result[f"sum({name}.{column})"] = int(total)
    return result


def uuid_coverage(conn: Connection) -> dict[str, dict[str, int]]:
    """Per table with a uuid column: rows, rows with a uuid, distinct uuids."""
    metadata = MetaData()
    coverage = {}
    for name in sorted(inspect(conn).get_table_names()):
        columns = {c["name"] for c in inspect(conn).get_columns(name)}
        if not {"id", "uuid"} <= columns:
            continue
        table = Table(name, metadata, autoload_with=conn)
        rows, filled, distinct = conn.execute(
            select(func.count(), func.count(table.c.uuid), func.count(table.c.uuid.distinct()))
        ).one()
        coverage[name] = {"rows": rows, "with_uuid": filled, "distinct": distinct}
    return coverage


def differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints' data, one line per table, column or sum."""
    found = []
    for key in sorted(saved.keys() | now.keys()):
        before, after = saved.get(key), now.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            if before["rows"] != after["rows"]:
                found.append(f"{key}: {before['rows']} rows, now {after['rows']}")
            for column in sorted(before["columns"].keys() | after["columns"].keys()):
                if column not in after["columns"]:
                    found.append(f"{key}.{column}: gone")
                elif column not in before["columns"]:
                    found.append(f"{key}.{column}: new")
                elif before["columns"][column] != after["columns"][column]:
                    found.append(f"{key}.{column}: values changed")
        elif before != after:
            found.append(f"{key}: was {before}, now {after}")
    return found
