"""Composition root of the reports API (`uvicorn --factory ...analytics.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis import Redis
from starlette.applications import Starlette

from new_services.analytics.api_v1 import SalesReportV1
from new_services.analytics.api_v2 import SalesReportV2
from new_services.analytics.openapi import OPENAPI
from new_services.analytics.projection import RedisSalesProjection
from new_services.analytics.service import Reports
from new_services.analytics.settings import AnalyticsSettings
from new_services.platform import tracing
from new_services.platform.service_app import service_app


def create_app(settings: AnalyticsSettings | None = None) -> Starlette:
    settings = settings or AnalyticsSettings.from_env()
    tracing.configure("analytics")
    reports = Reports()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Made here, once per process, never at import. Events are counted by the worker
        # that applies them (its log): this process only reads.
        redis = Redis.from_url(settings.redis_url)
        reports.projection = RedisSalesProjection(redis, settings.namespace)
        try:
            yield
        finally:
            redis.close()

    routes = [*SalesReportV1(reports).routes(), *SalesReportV2(reports).routes()]
    return service_app("analytics", routes, lifespan, OPENAPI, serves_v1=True)
