"""Composition root of the payments service (`uvicorn --factory ...payments.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from new_services.payments.api_v2 import PaymentsApi, Wiring
from new_services.payments.openapi import OPENAPI
from new_services.payments.provider import HttpProvider
from new_services.payments.repository import SqlPaymentRepository
from new_services.payments.service import PaymentService
from new_services.payments.settings import PaymentsSettings
from new_services.platform import tracing
from new_services.platform.clients import service_client
from new_services.platform.database import make_engine
from new_services.platform.idempotency import IdempotencyStore
from new_services.platform.periodic import periodically
from new_services.platform.service_app import service_app


def create_app(
    settings: PaymentsSettings | None = None, provider: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """`provider` (tests): the transport to reach the provider by, instead of the network."""
    settings = settings or PaymentsSettings.from_env()
    tracing.configure("payments")
    wiring = Wiring()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Everything that holds a connection is made here, once per process, never at import.
        engine = make_engine(settings.database_url)
        timeout = httpx.Timeout(settings.provider_timeout_s, connect=2.0)
        client = service_client(settings.provider_url, timeout, provider)
        wiring.service = PaymentService(SqlPaymentRepository(engine), HttpProvider(client))
        wiring.keys = IdempotencyStore(engine, lease_s=settings.idempotency_lease_s)
        every = settings.idempotency_purge_every_s
        try:
            async with periodically("expired idempotency keys dropped", every, wiring.keys.purged):
                yield
        finally:
            await client.aclose()
            engine.dispose()

    return service_app("payments", PaymentsApi(wiring).routes(), lifespan, OPENAPI)
