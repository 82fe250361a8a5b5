"""Composition root: ``uvicorn --factory stand_ins.payments.app:create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from stand_ins.payments.api import EXCEPTION_HANDLERS, PaymentsApi
from stand_ins.payments.faults import FaultInjector
from stand_ins.payments.service import PaymentService
from stand_ins.payments.settings import PaymentsSettings
from stand_ins.payments.store import Store


def create_app(settings: PaymentsSettings | None = None) -> Starlette:
    """Build the app; settings come from the environment unless given."""
    settings = PaymentsSettings.from_env() if settings is None else settings
    store = Store(settings.db_path)
    api = PaymentsApi(PaymentService(store), FaultInjector(settings.faults(), settings.seed))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(store.initialise)
        yield

    return Starlette(
        routes=api.routes(),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
