"""Composition root of the payments service (`uvicorn --factory ...payments.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from new_services.payments.api_v2 import PaymentsApi, Wiring
from new_services.payments.openapi import OPENAPI
from new_services.payments.provider import HttpProvider
from new_services.payments.repository import SqlPaymentRepository
from new_services.payments.service import PaymentService
from new_services.payments.settings import PaymentsSettings
from new_services.platform.database import make_engine
from new_services.platform.idempotency import IdempotencyStore
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


def create_app(settings: PaymentsSettings | None = None) -> Starlette:
    settings = settings or PaymentsSettings.from_env()
    registry = CollectorRegistry()
    responses = Counter(
        "payments_responses_total",
        "Answers given",
        ["method", "route", "status"],
        registry=registry,
    )
    wiring = Wiring()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Everything that holds a connection is made here, once per process, never at import.
        engine = make_engine(settings.database_url)
        client = httpx.AsyncClient(
            base_url=settings.provider_url,
            timeout=httpx.Timeout(settings.provider_timeout_s, connect=2.0),
        )
        wiring.service = PaymentService(SqlPaymentRepository(engine), HttpProvider(client))
        wiring.keys = IdempotencyStore(engine, lease_s=settings.idempotency_lease_s)
        try:
            yield
        finally:
            await client.aclose()
            engine.dispose()

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(_: Request) -> Response:
        return JSONResponse(OPENAPI)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/openapi.json", openapi),
            *PaymentsApi(wiring).routes(),
        ],
        exception_handlers=dict(exception_handlers("payments")),
        middleware=[Middleware(CountResponses, counter=responses)],
        lifespan=lifespan,
    )
