"""Composition root of the payments service (`uvicorn --factory ...payments.app:create_app`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from new_services.payments.api_v2 import PaymentsApi, Wiring
from new_services.payments.metrics import UnsettledMetrics
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

log = logging.getLogger(__name__)


def create_app(
    settings: PaymentsSettings | None = None, provider: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """`provider` (tests): the transport to reach the provider by, instead of the network."""
    settings = settings or PaymentsSettings.from_env()
    tracing.configure("payments")
    wiring = Wiring()
    registry = CollectorRegistry()
    unsettled = UnsettledMetrics(registry)

    async def settle() -> int:
        settled = await wiring.service.settle(timedelta(seconds=settings.settle_after_s))
        if settings.recheck_voided_for_s:
            settled += await wiring.service.recheck_voided(
                timedelta(seconds=settings.recheck_voided_every_s),
                timedelta(seconds=settings.recheck_voided_for_s),
            )
        unsettled.count_settled(settled)
        unchanged = ("left", "resumed", "rechecked")
        return sum(n for outcome, n in settled.items() if outcome not in unchanged)

    async def check_unsettled() -> int:
        found = await wiring.service.unsettled(timedelta(seconds=settings.unsettled_after_s))
        unsettled.show(found, datetime.now(UTC))
        waiting = {kind: u.count for kind, u in found.items() if u.count}
        if waiting:
            log.warning(
                "pending for over %g s, the provider may have moved money for them: %s",
                settings.unsettled_after_s,
                ", ".join(f"{n} {kind}(s)" for kind, n in waiting.items()),
            )
        return 0  # said above, as a warning

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
            async with (
                periodically("expired idempotency keys dropped", every, wiring.keys.purged),
                # two jobs: a round of settling that fails must not silence the alarm
                periodically(
                    "pending payments settled",
                    settings.check_unsettled_every_s if settings.settle_after_s else 0,
                    settle,
                ),
                periodically(
                    "unsettled payments", settings.check_unsettled_every_s, check_unsettled
                ),
            ):
                yield
        finally:
            await client.aclose()
            engine.dispose()

    return service_app(
        "payments",
        PaymentsApi(wiring).routes(),
        lifespan,
        OPENAPI,
        registry=registry,
        dry_run_key=settings.dry_run_key,
    )
