"""SQL that mints a random (version 4) UUID inside the database, per dialect.

PostgreSQL has `gen_random_uuid()` (13+). SQLite has no UUID function, so we build one
from `randomblob`: 32 lower-case hex digits with the version and variant nibbles set,
which is how SQLAlchemy's `Uuid` type stores a UUID on a database without a native one.
"""

from __future__ import annotations

SQLITE_UUID4 = (
    "lower(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 2)"
    " || substr('89ab', 1 + (abs(random()) % 4), 1)"
    " || substr(hex(randomblob(2)), 2) || hex(randomblob(6)))"
)
POSTGRESQL_UUID4 = "gen_random_uuid()"


def uuid4_sql(dialect: str) -> str:
    """The expression for `dialect` ("sqlite" or "postgresql")."""
    if dialect == "sqlite":
        return SQLITE_UUID4
    if dialect == "postgresql":
        return POSTGRESQL_UUID4
    raise ValueError(f"no UUID expression for the {dialect} dialect")
