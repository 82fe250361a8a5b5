"""The benchmark's stand-in upstream: GET /bench answers a fixed ~300-byte JSON document."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Built once: the benchmark measures the proxy in front, not JSON encoding behind it.
BODY = json.dumps(
    {
        "id": 4711,
        "sku": "BENCH-0001",
        "name": "A product the benchmark asks for again and again",
        "price_cents": 1999,
        "currency": "EUR",
        "stock": 42,
        "tags": ["bench", "gateway", "proxy", "strangler"],
        "description": "About three hundred bytes of JSON, the size of a typical small API answer.",
        "updated_at": "2024-01-01T00:00:00Z",
    },
    separators=(",", ":"),
).encode()


async def bench(_request: Request) -> Response:
    return Response(BODY, media_type="application/json")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/bench", bench, methods=["GET"])])
