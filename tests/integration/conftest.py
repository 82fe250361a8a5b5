"""Integration fixtures: fresh, empty databases on whichever server DATABASE_URL names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.integration.gateways import gateway, upstreams  # noqa: F401 (fixtures)


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Make empty databases on demand: SQLite files, or PostgreSQL databases created for
    the test and dropped after it."""
    server_url = os.environ.get("DATABASE_URL")
    if not server_url or server_url.startswith("sqlite"):
        counter = iter(range(1_000))
        yield lambda: f"sqlite:///{tmp_path / f'fresh-{next(counter)}.db'}"
        return
    url = make_url(server_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> str:
        name = f"strangler_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return url.set(database=name).render_as_string(hide_password=False)

    try:
        yield make
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def fresh_database_url(new_database: Callable[[], str]) -> str:
    """A new empty SQLite file, or a PostgreSQL database created and dropped around the test."""
    return new_database()
