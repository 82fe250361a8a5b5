"""Fixtures of the security tests: the services on one database and Redis of their own, and
the integration suite's gateway processes and echo upstreams."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import stack_database_url
from tests.integration.gateways import gateway, upstreams  # noqa: F401 (fixtures)
from tests.security.services import Where, expanded_database


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Where]:
    """A database at the expanded schema (a new PostgreSQL database on DATABASE_URL's
    server, dropped with the run's, or a SQLite file), and a Redis namespace of its own."""
    home = tmp_path_factory.mktemp("services")
    url = stack_database_url() or f"sqlite:///{home / 'shop.db'}"
    with expanded_database(url):
        yield Where(url, redis_url, f"sec-{uuid.uuid4().hex[:8]}", home)
