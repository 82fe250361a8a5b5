"""A small upstream for gateway tests: says who it is, counts writes, honours dry runs the
gateway proves (with the services' own check, new_services/platform/dry_run.py)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from new_services.platform.dry_run import ProveDryRuns
from new_services.platform.http import dry_run_headers, is_dry_run


def create_app() -> ASGIApp:
    name = os.environ.get("ECHO_NAME", "echo")
    shared = Path(os.environ["ECHO_SHARED"]) if os.environ.get("ECHO_SHARED") else None
    writes: list[dict[str, object]] = []
    seen = {"requests": 0, "last_at": 0.0}

    async def echo(request: Request) -> Response:
        seen["requests"] += 1
        seen["last_at"] = time.time()  # when the newest request arrived
        body = await request.body()
        slow_side, _, slow_ms = request.query_params.get("slow", "").partition(":")
        if slow_side == name:  # ?slow=<name>:<ms>: only that upstream is slow
            await asyncio.sleep(int(slow_ms) / 1000)
        if request.query_params.get("fail") == name:  # ?fail=<name>: only that upstream fails
            return JSONResponse({"served_by": name, "error": "asked to fail"}, status_code=503)
        if request.query_params.get("sleep_ms"):
            await asyncio.sleep(int(request.query_params["sleep_ms"]) / 1000)
        dry_run = is_dry_run(request)
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and not dry_run:
            writes.append({"path": request.url.path, "body": body.decode(errors="replace")})
            if request.url.path == "/bump" and shared is not None:  # a write both sides see
                shared.write_text(str(_read(shared) + 1))
        return JSONResponse(
            {
                "served_by": name,
                "nonce": uuid.uuid4().hex,  # non-determinism, for noise calibration
                "method": request.method,
                "path": request.url.path,
                "raw_path": request.scope.get("raw_path", b"").decode("latin-1"),
                "query": request.scope["query_string"].decode("latin-1"),
                "headers": {k: v for k, v in request.headers.items()},
                "body": body.decode(errors="replace"),
                "dry_run": dry_run,
                "writes": len(writes),
                "shared": _read(shared),  # state both upstreams read, like one database
            },
            headers=dry_run_headers() if dry_run else None,
        )

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "served_by": name})

    async def written(_request: Request) -> Response:
        return Response(json.dumps(writes), media_type="application/json")

    async def stats(_request: Request) -> Response:
        return JSONResponse({**seen, "writes": len(writes)})

    app = Starlette(
        routes=[
            Route("/_echo/health", health),
            Route("/_echo/writes", written),
            Route("/_echo/stats", stats),
            Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )
    return ProveDryRuns(app, key=os.environ.get("STRANGLER_DRY_RUN_KEY"))


def _read(shared: Path | None) -> int:
    try:
        return int(shared.read_text()) if shared is not None else 0
    except (FileNotFoundError, ValueError):
        return 0
