"""Composition root of the users service (`uvicorn --factory ...users.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from new_services.platform import tracing
from new_services.platform.database import make_engine
from new_services.platform.idempotency import IdempotencyStore
from new_services.platform.periodic import periodically
from new_services.platform.service_app import service_app
from new_services.users.api_v1 import UsersV1
from new_services.users.api_v2 import UsersV2, Wiring
from new_services.users.openapi import OPENAPI
from new_services.users.repository import SqlUserRepository
from new_services.users.service import UsersService
from new_services.users.settings import UsersSettings


def create_app(settings: UsersSettings | None = None) -> Starlette:
    settings = settings or UsersSettings.from_env()
    tracing.configure("users")
    wiring = Wiring()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Everything that holds a connection is made here, once per process, never at import.
        engine = make_engine(settings.database_url)
        wiring.service = UsersService(SqlUserRepository(engine))
        wiring.keys = IdempotencyStore(engine, lease_s=settings.idempotency_lease_s)
        try:
            async with periodically(
                "expired idempotency keys dropped",
                settings.idempotency_purge_every_s,
                wiring.keys.purged,
            ):
                yield
        finally:
            engine.dispose()

    routes = [*UsersV1(wiring).routes(), *UsersV2(wiring).routes()]
    return service_app(
        "users",
        routes,
        lifespan,
        OPENAPI,
        serves_v1=True,
        dry_run_key=settings.dry_run_key,
    )
