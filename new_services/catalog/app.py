"""Composition root of the catalog service (`uvicorn --factory ...catalog.app:create_app`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.applications import Starlette

from new_services.catalog.api_holds import HoldsApi
from new_services.catalog.api_v1 import ProductsV1
from new_services.catalog.api_v2 import ProductsV2, Wiring
from new_services.catalog.cache import CacheMetrics, ProductCache, RedisStore
from new_services.catalog.generation import SqlProductGeneration
from new_services.catalog.inventory import Inventory
from new_services.catalog.openapi import OPENAPI
from new_services.catalog.repository import SqlProductRepository
from new_services.catalog.service import CatalogService
from new_services.catalog.settings import CatalogSettings
from new_services.platform import tracing
from new_services.platform.database import make_engine
from new_services.platform.idempotency import IdempotencyStore
from new_services.platform.periodic import periodically
from new_services.platform.service_app import service_app

log = logging.getLogger(__name__)


def create_app(settings: CatalogSettings | None = None) -> Starlette:
    settings = settings or CatalogSettings.from_env()
    tracing.configure("catalog")
    registry = CollectorRegistry()
    metrics = CacheMetrics(registry)
    wiring = Wiring()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Everything that holds a connection is made here, once per process, never at import.
        engine = make_engine(settings.database_url)
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.cache_timeout_s,
            socket_connect_timeout=settings.cache_timeout_s,
            retry=Retry(NoBackoff(), 0),  # a cache that is down is skipped, not waited for
        )
        cache = ProductCache(
            RedisStore(redis),
            settings.namespace,
            settings.cache_ttl_s,
            metrics,
            SqlProductGeneration(engine),
        )
        inventory = Inventory(engine, hold_for=timedelta(seconds=settings.hold_for_s))
        wiring.service = CatalogService(SqlProductRepository(engine), inventory, cache)
        wiring.keys = IdempotencyStore(engine, lease_s=settings.idempotency_lease_s)
        sweep = wiring.service.expire_holds
        try:
            async with (
                periodically("released lines of expired holds", settings.sweep_every_s, sweep),
                periodically(
                    "expired idempotency keys dropped",
                    settings.idempotency_purge_every_s,
                    wiring.keys.purged,
                ),
            ):
                yield
        finally:
            await redis.aclose()
            engine.dispose()

    routes = [
        *ProductsV1(wiring).routes(),
        *ProductsV2(wiring).routes(),
        *HoldsApi(wiring).routes(),
    ]
    return service_app(
        "catalog",
        routes,
        lifespan,
        OPENAPI,
        registry=registry,
        serves_v1=True,
        dry_run_key=settings.dry_run_key,
    )
