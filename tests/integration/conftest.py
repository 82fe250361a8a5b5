"""Integration fixtures: gateway processes and their upstreams (databases: tests/conftest.py)."""

from __future__ import annotations

from tests.integration.gateways import gateway, upstreams  # noqa: F401 (fixtures)
