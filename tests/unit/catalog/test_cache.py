"""The product cache with a fake Redis: read-through, dropped by writes, never stale after
a write that raced a read, and a database read (not an error) when Redis is down."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry

from new_services.catalog.cache import CacheMetrics, ProductCache
from new_services.catalog.generation import FixedGeneration
from new_services.catalog.model import Product
from tests.unit.catalog.fakes import FakeStore

pytestmark = pytest.mark.anyio
MOMENT = datetime(2026, 1, 1)


def product(product_id: int, price_cents: int = 100) -> Product:
    return Product(
        product_id, uuid.uuid4(), f"S-{product_id}", "Teapot", price_cents, 5, MOMENT, MOMENT
    )


class Database:
    """What the cache loads from: products by id, counting the loads."""

    def __init__(self, *products: Product) -> None:
        self.rows = {p.id: p for p in products}
        self.loads: list[list[int]] = []

    async def load(self, ids: list[int]) -> dict[int, Product]:
        self.loads.append(ids)
        return {i: self.rows[i] for i in ids if i in self.rows}


def counted(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(f"catalog_cache_{name}_total") or 0.0


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def cache_on(
    store: FakeStore | None, registry: CollectorRegistry, ttl_s: float = 30
) -> ProductCache:
    return ProductCache(store, "stack-a", ttl_s, CacheMetrics(registry))


async def test_a_second_read_is_served_by_the_cache_and_counted(
    registry: CollectorRegistry,
) -> None:
    database, store = Database(product(1), product(2)), FakeStore()
    cache = cache_on(store, registry)
    first = await cache.products([1, 2, 3], database.load)
    again = await cache.products([2, 1], database.load)
    assert first == again == {1: database.rows[1], 2: database.rows[2]}
    assert database.loads == [[1, 2, 3]]  # 3 does not exist: asked again next time, never cached
    assert (counted(registry, "hits"), counted(registry, "misses")) == (2, 3)


async def test_a_product_forgotten_after_a_write_is_loaded_again(
    registry: CollectorRegistry,
) -> None:
    database, store = Database(product(1)), FakeStore()
    cache = cache_on(store, registry)
    await cache.products([1], database.load)
    database.rows[1] = product(1, price_cents=5)
    await cache.forget([1])
    assert (await cache.products([1], database.load))[1].price_cents == 5


async def test_a_read_that_raced_a_write_never_serves_what_it_read_before_the_write(
    registry: CollectorRegistry,
) -> None:
    database, store = Database(product(1)), FakeStore()
    cache = cache_on(store, registry)
    stale = database.rows[1]

    async def load_then_the_write_lands(ids: list[int]) -> dict[int, Product]:
        database.rows[1] = product(1, price_cents=5)  # committed after our read...
        await cache.forget([1])  # ...and forgotten before we store what we read
        return {1: stale}

    assert (await cache.products([1], load_then_the_write_lands))[1] == stale
    assert (await cache.products([1], database.load))[1].price_cents == 5


async def test_with_redis_down_reads_come_from_the_database_and_failures_are_counted(
    registry: CollectorRegistry,
) -> None:
    database, store = Database(product(1)), FakeStore(down=True)
    cache = cache_on(store, registry)
    assert (await cache.products([1], database.load))[1] == database.rows[1]
    await cache.forget([1])  # never raises
    assert await cache.product_id(database.rows[1].uuid, lambda: _answer(1)) == 1
    assert counted(registry, "errors") == 3
    store.down = False
    await cache.products([1], database.load)
    assert (await cache.products([1], database.load))[1] == database.rows[1]
    assert counted(registry, "hits") == 1


async def _answer(value: int) -> int:
    return value


async def test_a_ttl_of_zero_turns_the_cache_off(registry: CollectorRegistry) -> None:
    database, store = Database(product(1)), FakeStore()
    cache = cache_on(store, registry, ttl_s=0)
    await cache.products([1], database.load)
    await cache.products([1], database.load)
    await cache.forget([1])
    assert store.calls == 0 and len(database.loads) == 2


async def test_keys_live_under_the_namespace_and_entries_of_another_shape_are_misses(
    registry: CollectorRegistry,
) -> None:
    database, store = Database(product(1)), FakeStore()
    cache = cache_on(store, registry)
    await cache.products([1], database.load)
    assert set(store.data) == {"stack-a:catalog:product:1"}
    store.data["stack-a:catalog:product:1"] = b'{"old": "shape"}'
    await cache.products([1], database.load)
    assert len(database.loads) == 2


async def test_the_uuid_of_a_product_is_looked_up_once(registry: CollectorRegistry) -> None:
    store, asked = FakeStore(), []
    cache = cache_on(store, registry)
    product_uuid = uuid.uuid4()

    async def lookup() -> int | None:
        asked.append(product_uuid)
        return 7

    assert await cache.product_id(product_uuid, lookup) == 7
    assert await cache.product_id(product_uuid, lookup) == 7
    assert asked == [product_uuid]


async def test_a_product_changed_behind_the_catalog_s_back_is_read_anew_once_the_count_moves(
    registry: CollectorRegistry,
) -> None:
    """Legacy changes a price without telling the catalog; the triggers' count moves."""
    database, store, count = Database(product(1, price_cents=100)), FakeStore(), FixedGeneration(7)
    cache = ProductCache(store, "stack-a", 30, CacheMetrics(registry), count)
    assert (await cache.products([1], database.load))[1].price_cents == 100
    database.rows[1] = product(1, price_cents=250)  # legacy's PATCH: no forget() here
    assert (await cache.products([1], database.load))[1].price_cents == 100  # nothing moved

    count.generation = 8

    assert (await cache.products([1], database.load))[1].price_cents == 250
    assert (await cache.products([1], database.load))[1].price_cents == 250
    assert len(database.loads) == 2  # read anew once, then served again
