"""The HTTP client one service calls another with (orders: users, catalog, payments;
payments: the provider).

httpx's API, so adapters read alike and tests can hand in `httpx.ASGITransport` or
`httpx.MockTransport`; on the network, aiohttp's connection pool underneath
(`httpx_aiohttp.AiohttpTransport`). httpcore's own pool checks every idle connection's
socket on each request and re-imports a missing `sniffio` for every lock it makes: under
32 clients that was most of the orders service's CPU. Measured with
`benchmarks/services_compare.py` (CPU per checkout, by part): orders 18.4 ms with httpx's
transport, 14.6 with `sniffio` installed, 8.0 on aiohttp's pool.

Every call carries the current trace (`tracing.inject_into_request`).
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport

from new_services.platform import tracing


def service_client(
    base_url: str, timeout: httpx.Timeout, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A client for one service's base URL; close it with the process (`aclose`)."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        transport=transport or AiohttpTransport(),
        event_hooks={"request": [tracing.inject_into_request]},
    )


def answer_object(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a service's answer carries, `{}` when it carries none (an empty or
    non-JSON body): what a client reads a problem's `type` from."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
