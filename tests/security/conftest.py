"""Security fixtures: the integration suite's gateway processes and echo upstreams."""

from __future__ import annotations

from tests.integration.gateways import gateway, upstreams  # noqa: F401 (fixtures)
