"""The shell every HTTP service shares: health, metrics, OpenAPI, error handlers, counting.

A service brings its routes, its lifespan (where engines and clients are made) and its
OpenAPI document; `service_app` adds `/healthz`, `/metrics` (Prometheus, with an answers
counter per method, route template and status), `/openapi.json`, and the error handlers:
problem+json on `/v2/...`, the legacy `{"error", "message"}` body on v1 paths
(`platform/v1.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from new_services.platform import dry_run, tracing, v1
from new_services.platform.problems import exception_handlers


class CountResponses:
    """Prometheus counter of answers by method, route template and status."""

    def __init__(self, app: ASGIApp, counter: Counter) -> None:
        self._app = app
        self._counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        started = False

        def count(status: int) -> None:
            template = getattr(scope.get("route"), "path", "unmatched")
            self._counter.labels(scope["method"], template, str(status)).inc()

        async def counted(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                count(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, counted)
        except Exception:
            if not started:  # the error middleware outside us will answer 500
                count(500)
            raise


def service_app(
    service: str,
    routes: Sequence[BaseRoute],
    lifespan: Lifespan[Starlette],
    openapi: Mapping[str, Any],
    registry: CollectorRegistry | None = None,
    serves_v1: bool = False,
    dry_run_key: str | None = None,
) -> Starlette:
    """The ASGI app of `service`; `registry` holds the service's own metrics, if any,
    `serves_v1` says it answers legacy paths (whose errors then take the legacy shape), and
    `dry_run_key` proves the gateway's dry runs (none: every dry run is refused)."""
    registry = registry or CollectorRegistry()
    responses = Counter(
        f"{service}_responses_total",
        "Answers given",
        ["method", "route", "status"],
        registry=registry,
    )

    handlers = exception_handlers(service)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi_json(_: Request) -> Response:
        return JSONResponse(dict(openapi))

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/openapi.json", openapi_json),
            *routes,
        ],
        exception_handlers=dict(v1.by_path(handlers) if serves_v1 else handlers),
        middleware=[
            Middleware(tracing.TraceRequests, service=service),
            Middleware(CountResponses, counter=responses),
            Middleware(dry_run.ProveDryRuns, key=dry_run_key),
        ],
        lifespan=lifespan,
    )
    if serves_v1:
        app.router.redirect_slashes = False  # legacy answers 404 to `/path/`, not a redirect
    return app
