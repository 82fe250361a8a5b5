"""A small upstream for gateway tests: says who it is, counts writes, honours the dry-run header."""

from __future__ import annotations

import asyncio
import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def create_app() -> Starlette:
    name = os.environ.get("ECHO_NAME", "echo")
    writes: list[dict[str, object]] = []

    async def echo(request: Request) -> Response:
        body = await request.body()
        if request.query_params.get("fail") == name:  # ?fail=<name>: only that upstream fails
            return JSONResponse({"served_by": name, "error": "asked to fail"}, status_code=503)
        if request.query_params.get("sleep_ms"):
            await asyncio.sleep(int(request.query_params["sleep_ms"]) / 1000)
        dry_run = request.headers.get("x-strangler-shadow") == "dry-run"
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and not dry_run:
            writes.append({"path": request.url.path, "body": body.decode(errors="replace")})
        return JSONResponse(
            {
                "served_by": name,
                "method": request.method,
                "path": request.url.path,
                "raw_path": request.scope.get("raw_path", b"").decode("latin-1"),
                "query": request.scope["query_string"].decode("latin-1"),
                "headers": {k: v for k, v in request.headers.items()},
                "body": body.decode(errors="replace"),
                "dry_run": dry_run,
                "writes": len(writes),
            }
        )

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "served_by": name})

    async def written(_request: Request) -> Response:
        return Response(json.dumps(writes), media_type="application/json")

    return Starlette(
        routes=[
            Route("/_echo/health", health),
            Route("/_echo/writes", written),
            Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )
