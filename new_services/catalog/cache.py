"""A read-through Redis cache of products, by legacy id (legacy: `SMELL(global-cache)`).

Staleness bound:
- A write through the catalog (a product write, a hold, a release, a restock) is visible
  at once, on every instance: after its transaction commits, the write bumps the
  product's version counter and deletes its entry, before it answers. An entry is only
  served while it carries the current version, so a read that raced the write (it read
  the old row, then stored it after the delete) stores an entry that is never served.
- A write that bypasses the catalog and changes a product's sku, name or price, or
  deletes it (the legacy app, while products are in canary), is visible at once too:
  each entry is also stamped with the database's count of such writes
  (`generation.py`, migrations 0005g), read beside Redis on every read, and is served
  only while that count has not moved.
- A stock move that bypasses the catalog (a legacy checkout or cancel) is visible after
  at most the TTL (`CATALOG_CACHE_TTL_S`, 30 s by default).
- A read sent with `Cache-Control: no-cache` (RFC 9111) reads the database and stores
  what it read (the gateway's shadow comparison asks so, to tell a stale cache from a
  wrong answer).
- While Redis is down reads go to the database (a log line when it goes, a count of each
  failure in `catalog_cache_errors_total`), never a 500. A write whose invalidation
  failed may leave an entry that is served for up to the TTL once Redis is back.

Keys live under `<STRANGLER_NAMESPACE>:catalog:` so stacks sharing one Redis never mix:
`product:<id>` (the entry), `version:<id>` (the counter, kept ten TTLs after its last
bump, so it outlives every entry stamped with it) and `uuid:<uuid>` (the legacy id a
v2 UUID names; it never changes, and readers check the product they get carries it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from new_services.catalog.generation import FixedGeneration, ProductGeneration
from new_services.catalog.model import Product

log = logging.getLogger(__name__)

Load = Callable[[list[int]], Awaitable[dict[int, Product]]]


class KeyValueStore(Protocol):
    """The few Redis commands the cache needs, each one round trip."""

    async def read(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def write(self, values: Mapping[str, bytes], ttl_s: float) -> None: ...

    async def bump(self, counters: Sequence[str], drop: Sequence[str], keep_s: float) -> None:
        """INCR each counter (and keep it `keep_s`), DEL each key of `drop`."""
        ...


class RedisStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def read(self, keys: Sequence[str]) -> list[bytes | None]:
        found = await self._redis.mget(list(keys))
        return [value.encode() if isinstance(value, str) else value for value in found]

    async def write(self, values: Mapping[str, bytes], ttl_s: float) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, value in values.items():
                pipe.set(key, value, px=int(ttl_s * 1000))
            await pipe.execute()

    async def bump(self, counters: Sequence[str], drop: Sequence[str], keep_s: float) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in counters:
                pipe.incr(key)
                pipe.expire(key, max(1, int(keep_s)))
            if drop:
                pipe.delete(*drop)
            await pipe.execute()


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.hits = Counter(
            "catalog_cache_hits", "Product reads served by Redis", registry=registry
        )
        self.misses = Counter(
            "catalog_cache_misses", "Product reads that went to the database", registry=registry
        )
        self.errors = Counter(
            "catalog_cache_errors",
            "Redis calls that failed (the database answered)",
            registry=registry,
        )


class ProductCache:
    """Products by legacy id, read through Redis; `store` None (or a TTL of 0): no cache."""

    def __init__(
        self,
        store: KeyValueStore | None,
        namespace: str,
        ttl_s: float,
        metrics: CacheMetrics,
        generation: ProductGeneration | None = None,
    ) -> None:
        self._store = store if ttl_s > 0 else None
        self._generation = generation or FixedGeneration()
        self._prefix = f"{namespace}:catalog:"
        self._ttl_s = ttl_s
        self._metrics = metrics
        self._failing = False

    async def products(
        self, ids: Sequence[int], load: Load, fresh: bool = False
    ) -> dict[int, Product]:
        """The live products among `ids`: from Redis where it has them, else from `load`.
        `fresh` (a request's `Cache-Control: no-cache`): all from `load`, and the entries
        written anew."""
        wanted = sorted(set(ids))
        if self._store is None or not wanted:
            return await load(wanted)
        keys = [key for i in wanted for key in (self._entry(i), self._version(i))]
        # read before any load below, so an entry is never stamped newer than its row
        raw, generation = await asyncio.gather(
            self._call(self._store.read(keys)), self._generation.read()
        )
        if raw is None:
            self._metrics.misses.inc(len(wanted))
            return await load(wanted)
        found: dict[int, Product] = {}
        versions: dict[int, int] = {}
        for index, product_id in enumerate(wanted):
            entry, version = raw[2 * index], int(raw[2 * index + 1] or 0)
            product = None if fresh else _served(entry, version, generation)
            if product is None:
                versions[product_id] = version
            else:
                found[product_id] = product
        self._metrics.hits.inc(len(found))
        self._metrics.misses.inc(len(versions))
        if versions:
            loaded = await load(sorted(versions))
            found.update(loaded)
            entries = {
                self._entry(i): json.dumps(
                    {"v": versions[i], "g": generation, "p": p.to_cache()}
                ).encode()
                for i, p in loaded.items()
            }
            if entries:
                await self._call(self._store.write(entries, self._ttl_s))
        return found

    async def product_id(
        self, product_uuid: uuid.UUID, load: Callable[[], Awaitable[int | None]]
    ) -> int | None:
        """The legacy id of the product `product_uuid` names (None: no such product)."""
        if self._store is None:
            return await load()
        key = f"{self._prefix}uuid:{product_uuid}"
        raw = await self._call(self._store.read([key]))
        if raw and raw[0] is not None:
            self._metrics.hits.inc()
            return int(raw[0])
        self._metrics.misses.inc()
        found = await load()
        if found is not None and raw is not None:
            await self._call(self._store.write({key: str(found).encode()}, self._ttl_s))
        return found

    async def forget(self, ids: Iterable[int]) -> None:
        """After a write has committed: no reader anywhere gets the old products again."""
        wanted = sorted(set(ids))
        if self._store is None or not wanted:
            return
        await self._call(
            self._store.bump(
                [self._version(i) for i in wanted],
                [self._entry(i) for i in wanted],
                keep_s=max(60.0, 10 * self._ttl_s),
            )
        )

    def _entry(self, product_id: int) -> str:
        return f"{self._prefix}product:{product_id}"

    def _version(self, product_id: int) -> str:
        return f"{self._prefix}version:{product_id}"

    async def _call(self, call: Awaitable[Any]) -> Any:
        """The call's answer, or None when Redis failed (logged once per outage, counted)."""
        try:
            answer = await call
        except (RedisError, OSError) as exc:
            self._metrics.errors.inc()
            if not self._failing:
                log.warning("product cache unavailable, reading the database: %s", exc)
            self._failing = True
            return None
        if self._failing:
            log.info("product cache available again")
            self._failing = False
        return answer


def _served(entry: bytes | None, version: int, generation: int | None) -> Product | None:
    """The entry's product, if it carries the current version and generation (else it is
    stale)."""
    if entry is None:
        return None
    try:
        stamped = json.loads(entry)
        if stamped["v"] != version or stamped.get("g") != generation:
            return None
        return Product.from_cache(stamped["p"])
    except (ValueError, KeyError, TypeError):  # written by another version of the service
        return None
