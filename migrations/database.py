"""How migration tools connect: the shop's engine (new_services/platform/database.py) with a
`lock_timeout` on PostgreSQL (STRANGLER_MIGRATE_LOCK_TIMEOUT, default 2s).

A DDL statement stuck behind a long transaction then gives up quickly, and is retried
(migrations/ops.py), instead of queueing every request behind it: the classic way an
"online" migration takes a site down. On SQLite every revision and every backfill batch
is one real transaction.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine

from new_services.platform.database import make_engine as shop_engine

LOCK_TIMEOUT = os.environ.get("STRANGLER_MIGRATE_LOCK_TIMEOUT", "2s")


def connect_url() -> str:
    """DATABASE_URL, else the laptop stack's SQLite file."""
    from strangler.settings import Settings

    return Settings.from_env().shop_database_url


def make_engine(url: str) -> Engine:
    return shop_engine(url, lock_timeout=LOCK_TIMEOUT)
