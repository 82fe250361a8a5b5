"""Helpers for the migration tests: engines, a seeded shop, route tables for the contract."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from gateway.routes import RouteTable
from migrations import backfill
from migrations.database import make_engine
from migrations.fingerprint import fingerprint
from strangler.seed import SeedSizes, seed

ORDERS_PATHS = ["/users/{user_id}/checkout", "/users/{user_id}/orders", "/orders/**", "/reports/**"]


@contextmanager
def engine_at(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def seeded(url: str, orders: int = 300) -> None:
    """The legacy app's own tables, filled the way `strangler seed` fills them."""
    with engine_at(url) as engine:
        seed(engine, SeedSizes(users=12, products=15, orders=orders), seed_value=4)


def prints(url: str, **options: Any) -> dict[str, Any]:
    with engine_at(url) as engine, engine.connect() as conn:
        return fingerprint(conn, **options)


def run_backfill(url: str, batch_size: int = 100) -> list[backfill.StepReport]:
    with engine_at(url) as engine:
        return [backfill.run_step(engine, p, batch_size=batch_size) for p in backfill.plan(engine)]


def routes_table(mode: str = "extracted", fallback: bool = False) -> RouteTable:
    """A table whose "orders" route covers every legacy endpoint that touches orders."""
    return RouteTable.from_dict(
        {
            "upstreams": {"legacy": "http://127.0.0.1:9", "orders": "http://127.0.0.1:10"},
            "routes": [
                {
                    "name": "orders",
                    "match": ORDERS_PATHS,
                    "extracted": "orders",
                    "mode": mode,
                    "fallback": fallback,
                }
            ],
        }
    )


def store_routes(redis_url: str, namespace: str, table: RouteTable) -> None:
    """Put `table` where the gateways of `namespace` keep theirs, as a gateway would seed it."""
    import asyncio

    from redis.asyncio import Redis

    from gateway.changes import seed as seed_routes
    from gateway.store import RedisRouteStore

    async def write() -> None:
        redis = Redis.from_url(redis_url)
        try:
            await seed_routes(RedisRouteStore(redis, namespace), table)
        finally:
            await redis.aclose()

    asyncio.run(write())
